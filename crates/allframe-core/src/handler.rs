//! Handlers: plain async functions whose arguments are extractors and whose output is a
//! responder.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use crate::Request;
use crate::extract::{FromRequest, FromRequestParts};
use crate::response::{IntoResponse, Response};

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// An async function usable as a route handler for application state `S`.
///
/// Implemented for `async fn`s (and closures returning futures) of up to 12 arguments where
/// every argument but the last implements [`FromRequestParts<S>`], the last implements
/// [`FromRequest<S>`], and the output implements [`IntoResponse`]. The type parameter `T`
/// only tells the implementations apart.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an AllFrame handler for state `{S}`",
    label = "not a handler for this router's state",
    note = "a handler is an `async fn` whose arguments are extractors and whose output implements `IntoResponse`",
    note = "every argument but the last must implement `FromRequestParts<{S}>`; only the last may read the body (`Json`, `Bytes`, `String`)",
    note = "`State<T>` needs `T: FromRef<{S}>`; `Inject<T>` needs `{S}: Provide<T>`: a missing provider is listed in `allframe::provide!`"
)]
pub trait Handler<T, S>: Clone + Send + Sync + Sized + 'static {
    /// Runs the handler on a request.
    fn call(self, req: Request, state: S) -> BoxFuture<Response>;
}

impl<F, Fut, Res, S> Handler<((),), S> for F
where
    F: FnOnce() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Res> + Send,
    Res: IntoResponse,
{
    fn call(self, _: Request, _: S) -> BoxFuture<Response> {
        Box::pin(async move { self().await.into_response() })
    }
}

macro_rules! impl_handler {
    ([$($ty:ident),*], $last:ident) => {
        #[allow(non_snake_case, unused_mut)]
        impl<F, Fut, Res, S, M, $($ty,)* $last> Handler<(M, $($ty,)* $last,), S> for F
        where
            F: FnOnce($($ty,)* $last,) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future<Output = Res> + Send,
            Res: IntoResponse,
            S: Send + Sync + 'static,
            $( $ty: FromRequestParts<S> + Send, )*
            $last: FromRequest<S, M> + Send,
        {
            fn call(self, req: Request, state: S) -> BoxFuture<Response> {
                Box::pin(async move {
                    let (mut parts, body) = req.into_parts();
                    $(
                        let $ty = match $ty::from_request_parts(&mut parts, &state).await {
                            Ok(value) => value,
                            Err(rejection) => return rejection.into_response(),
                        };
                    )*
                    let req = Request::from_parts(parts, body);
                    let $last = match $last::from_request(req, &state).await {
                        Ok(value) => value,
                        Err(rejection) => return rejection.into_response(),
                    };
                    self($($ty,)* $last,).await.into_response()
                })
            }

        }
    };
}

impl_handler!([], T1);
impl_handler!([T1], T2);
impl_handler!([T1, T2], T3);
impl_handler!([T1, T2, T3], T4);
impl_handler!([T1, T2, T3, T4], T5);
impl_handler!([T1, T2, T3, T4, T5], T6);
impl_handler!([T1, T2, T3, T4, T5, T6], T7);
impl_handler!([T1, T2, T3, T4, T5, T6, T7], T8);
impl_handler!([T1, T2, T3, T4, T5, T6, T7, T8], T9);
impl_handler!([T1, T2, T3, T4, T5, T6, T7, T8, T9], T10);
impl_handler!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10], T11);
impl_handler!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11], T12);

/// A handler with its extractor types erased, as the router stores it.
pub(crate) trait ErasedHandler<S>: Send + Sync {
    fn call(&self, req: Request, state: S) -> BoxFuture<Response>;
}

struct Erased<H, T> {
    handler: H,
    _extractors: PhantomData<fn() -> T>,
}

impl<H, T, S> ErasedHandler<S> for Erased<H, T>
where
    H: Handler<T, S>,
{
    fn call(&self, req: Request, state: S) -> BoxFuture<Response> {
        self.handler.clone().call(req, state)
    }
}

pub(crate) type BoxedHandler<S> = Arc<dyn ErasedHandler<S>>;

pub(crate) fn boxed<H, T, S>(handler: H) -> BoxedHandler<S>
where
    H: Handler<T, S>,
    T: 'static,
    S: 'static,
{
    Arc::new(Erased {
        handler,
        _extractors: PhantomData,
    })
}
