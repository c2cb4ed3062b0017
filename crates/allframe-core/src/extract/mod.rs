//! Extractors: typed values a handler takes as arguments.
//!
//! A handler's arguments are extracted in order. All but the last implement
//! [`FromRequestParts`] (they see the method, URI, headers and state); the last may
//! implement [`FromRequest`] and consume the body ([`Json`], [`Bytes`], `String`,
//! [`Request`]). When an extractor fails, its `Rejection` is the response and the handler
//! does not run.

pub mod fields;
mod json;
#[cfg(feature = "multipart")]
mod multipart;
mod page;
mod path;
mod query;
mod state;

use std::convert::Infallible;
use std::future::Future;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, Method, Uri};

use crate::Request;
use crate::rejection::{BodyRejection, StringRejection};
use crate::response::IntoResponse;

#[cfg(feature = "multipart")]
pub use self::multipart::{Field, Multipart};
pub use self::page::{Page, Pagination};
pub use self::path::{Path, RawPathParams};
pub use self::query::Query;
pub use self::state::{FromRef, State};
pub use crate::response::Json;

/// Extracts a value from the request head and the application state.
pub trait FromRequestParts<S>: Sized {
    /// The response when extraction fails.
    type Rejection: IntoResponse;

    /// Performs the extraction.
    fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send;
}

/// Extracts a value from the whole request, body included. Only a handler's last argument
/// may consume the body.
pub trait FromRequest<S, M = private::ViaRequest>: Sized {
    /// The response when extraction fails.
    type Rejection: IntoResponse;

    /// Performs the extraction.
    fn from_request(
        req: Request,
        state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send;
}

/// Markers that let every [`FromRequestParts`] extractor also be a [`FromRequest`] one.
pub mod private {
    /// The extractor reads the request head only.
    #[derive(Debug)]
    pub enum ViaParts {}
    /// The extractor reads the whole request.
    #[derive(Debug)]
    pub enum ViaRequest {}
}

impl<S, T> FromRequest<S, private::ViaParts> for T
where
    S: Send + Sync,
    T: FromRequestParts<S>,
{
    type Rejection = T::Rejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, _) = req.into_parts();
        T::from_request_parts(&mut parts, state).await
    }
}

impl<S: Send + Sync> FromRequest<S> for Request {
    type Rejection = Infallible;

    async fn from_request(req: Request, _: &S) -> Result<Self, Infallible> {
        Ok(req)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Method {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(parts.method.clone())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Uri {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(parts.uri.clone())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for HeaderMap {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(parts.headers.clone())
    }
}

/// Refuses a request whose `Content-Length` already exceeds its body limit, before a byte
/// of it is read.
pub(crate) fn refuse_declared_oversize(req: &Request) -> Result<(), BodyRejection> {
    let Some(limit) = req.body().limit() else {
        return Ok(());
    };
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(BodyRejection::TooLarge { limit });
    }
    Ok(())
}

/// Reads the body, refusing early when `Content-Length` already exceeds the body limit.
pub(crate) async fn read_body(req: Request) -> Result<Bytes, BodyRejection> {
    refuse_declared_oversize(&req)?;
    req.into_body()
        .to_bytes()
        .await
        .map_err(BodyRejection::from_error)
}

impl<S: Send + Sync> FromRequest<S> for Bytes {
    type Rejection = BodyRejection;

    async fn from_request(req: Request, _: &S) -> Result<Self, BodyRejection> {
        read_body(req).await
    }
}

impl<S: Send + Sync> FromRequest<S> for String {
    type Rejection = StringRejection;

    async fn from_request(req: Request, _: &S) -> Result<Self, StringRejection> {
        let bytes = read_body(req).await?;
        String::from_utf8(bytes.into())
            .map_err(|err| StringRejection::InvalidUtf8(err.utf8_error()))
    }
}
