//! Who calls: a credential read from an HTTP request's `Authorization` header, a WebSocket
//! handshake's, or the `authorization` field of its `connection_init` payload (browsers
//! cannot set headers on a WebSocket), turned into what resolvers read as `ctx.data::<C>()`.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use async_graphql::Data;

use crate::GraphQLRequest;

/// Where a credential arrived: resolvers of an HTTP request, or of every operation on one
/// WebSocket (a presence guard in `C` lives exactly as long as the socket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// An HTTP `GET` or `POST`.
    Http,
    /// A WebSocket, from its handshake or its `connection_init`.
    WebSocket,
}

/// What `GraphQL::authenticate` was given, with its caller type erased.
trait Authenticate: Send + Sync {
    fn request(&self, credential: &str, request: GraphQLRequest) -> Result<GraphQLRequest, String>;
    fn connection(&self, credential: &str, data: &mut Data) -> Result<(), String>;
}

struct Caller<F, C>(F, PhantomData<fn() -> C>);

impl<F, C> Authenticate for Caller<F, C>
where
    F: Fn(&str, Transport) -> Result<C, String> + Send + Sync,
    C: Clone + Send + Sync + 'static,
{
    fn request(&self, credential: &str, request: GraphQLRequest) -> Result<GraphQLRequest, String> {
        Ok(request.data((self.0)(credential, Transport::Http)?))
    }

    fn connection(&self, credential: &str, data: &mut Data) -> Result<(), String> {
        data.insert((self.0)(credential, Transport::WebSocket)?);
        Ok(())
    }
}

/// A cheap handle on the application's authentication.
#[derive(Clone)]
pub(crate) struct Authenticator(Arc<dyn Authenticate>);

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Authenticator")
    }
}

impl Authenticator {
    pub(crate) fn new<C, F>(authenticate: F) -> Self
    where
        F: Fn(&str, Transport) -> Result<C, String> + Send + Sync + 'static,
        C: Clone + Send + Sync + 'static,
    {
        Self(Arc::new(Caller(authenticate, PhantomData)))
    }

    /// `request` with its caller in the data.
    pub(crate) fn request(
        &self,
        credential: &str,
        request: GraphQLRequest,
    ) -> Result<GraphQLRequest, String> {
        self.0.request(credential, request)
    }

    /// The caller put in a connection's `data`.
    pub(crate) fn connection(&self, credential: &str, data: &mut Data) -> Result<(), String> {
        self.0.connection(credential, data)
    }
}

/// The credential of a `connection_init` payload: `authorization` (Apollo's and
/// graphql-ws's clients send `connectionParams` as given), or `Authorization`.
pub(crate) fn from_payload(payload: &serde_json::Value) -> Option<&str> {
    ["authorization", "Authorization"]
        .iter()
        .find_map(|name| payload.get(name)?.as_str())
}
