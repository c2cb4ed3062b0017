//! `multipart/form-data` request bodies (HTML forms with files), parsed by multer as they
//! stream in: a handler reads each field in turn and never holds more than it asks for.

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http_body_util::BodyExt;

use super::{FromRequest, refuse_declared_oversize};
use crate::Request;
use crate::rejection::{BodyRejection, MultipartRejection};

/// A `multipart/form-data` body, read field by field with [`Multipart::next_field`].
///
/// The body counts against the server's limit, or the route's
/// [`body_limit`](crate::routing::MethodRouter::body_limit): a larger one is refused with
/// 413 while it is read. A request of another type is refused with 415, a form without a
/// boundary or not well-formed with 400.
///
/// ```
/// use allframe_core::extract::Multipart;
/// use allframe_core::rejection::MultipartRejection;
///
/// async fn upload(mut form: Multipart) -> Result<String, MultipartRejection> {
///     let mut sizes = Vec::new();
///     while let Some(field) = form.next_field().await? {
///         let name = field.name().unwrap_or("unnamed").to_owned();
///         sizes.push(format!("{name}: {} bytes", field.bytes().await?.len()));
///     }
///     Ok(sizes.join("\n"))
/// }
/// # let _ = allframe_core::Router::<()>::new().route("/upload", allframe_core::routing::post(upload));
/// ```
pub struct Multipart {
    inner: multer::Multipart<'static>,
}

impl std::fmt::Debug for Multipart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Multipart").finish_non_exhaustive()
    }
}

impl<S: Send + Sync> FromRequest<S> for Multipart {
    type Rejection = MultipartRejection;

    async fn from_request(req: Request, _: &S) -> Result<Self, MultipartRejection> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let boundary = match content_type.map(multer::parse_boundary) {
            Some(Ok(boundary)) => boundary,
            // The right type, without the boundary that says where its parts end.
            Some(Err(multer::Error::NoBoundary)) => {
                return Err(MultipartRejection::Malformed(
                    "no `boundary` in its `Content-Type`".into(),
                ));
            }
            _ => return Err(MultipartRejection::NotMultipart),
        };
        refuse_declared_oversize(&req)?;
        let stream = req.into_body().into_data_stream();
        Ok(Self {
            inner: multer::Multipart::new(stream, boundary),
        })
    }
}

impl Multipart {
    /// The next field, or `None` after the last one.
    pub async fn next_field(&mut self) -> Result<Option<Field>, MultipartRejection> {
        let field = self.inner.next_field().await.map_err(rejection)?;
        Ok(field.map(|inner| Field { inner }))
    }
}

/// One field of a [`Multipart`] body.
#[derive(Debug)]
pub struct Field {
    inner: multer::Field<'static>,
}

impl Field {
    /// The field's `name` in its `Content-Disposition`.
    pub fn name(&self) -> Option<&str> {
        self.inner.name()
    }

    /// The `filename` the client gave, if it is a file. Only a name to show: never a path
    /// to write to.
    pub fn file_name(&self) -> Option<&str> {
        self.inner.file_name()
    }

    /// The `Content-Type` the client claims, if any: a claim, not a fact.
    pub fn content_type(&self) -> Option<&str> {
        self.inner.content_type().map(|m| m.essence_str())
    }

    /// The whole field.
    pub async fn bytes(self) -> Result<Bytes, MultipartRejection> {
        self.inner.bytes().await.map_err(rejection)
    }

    /// The field's next chunk, or `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, MultipartRejection> {
        self.inner.chunk().await.map_err(rejection)
    }
}

/// 413 for a body past its limit, 400 for one that is not well-formed multipart.
fn rejection(err: multer::Error) -> MultipartRejection {
    match err {
        multer::Error::StreamReadFailed(read) => BodyRejection::from_error(read).into(),
        other => MultipartRejection::Malformed(other.to_string()),
    }
}
