//! `Valid<E>`: an extracted value checked by [garde] before the handler sees it. One
//! attribute states a rule for both sides: garde enforces `#[garde(length(max = 64))]`, and
//! schemars writes the same bound into the OpenAPI schema, so the document says what the
//! server refuses.
//!
//! ```
//! use allframe_core::validate::Valid;
//! use allframe_core::{Json, Router, routing::post};
//!
//! #[derive(serde::Deserialize, garde::Validate)]
//! struct NewUser {
//!     #[garde(length(chars, min = 1, max = 40))]
//!     name: String,
//!     #[garde(range(min = 13))]
//!     age: u8,
//! }
//!
//! async fn create(Valid(Json(user)): Valid<Json<NewUser>>) -> String {
//!     format!("welcome, {}", user.name)
//! }
//!
//! let app = Router::new().route("/users", post(create)).into_service();
//! # drop(app);
//! ```

use http::request::Parts;

use crate::Request;
use crate::extract::{FromRequest, FromRequestParts, Json, Path, Query};
use crate::response::{IntoResponse, Problem, Response};

/// An extracted value that passed its garde rules; a value that does not is answered `422`
/// with each failing field in `errors`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Valid<E>(pub E);

/// The extractors whose value can be checked: [`Json`], [`Query`] and [`Path`].
pub trait Checked {
    /// Checks the extracted value against its garde rules.
    fn check(&self) -> Result<(), garde::Report>;
}

macro_rules! checked {
    ($($extractor:ident),*) => {$(
        impl<T> Checked for $extractor<T>
        where
            T: garde::Validate,
            T::Context: Default,
        {
            fn check(&self) -> Result<(), garde::Report> {
                self.0.validate()
            }
        }
    )*};
}

checked!(Json, Query, Path);

/// A garde rule for text a client must fill in: `""` is refused with "can't be blank", the
/// wording Rails-style clients (RealWorld's among them) expect. Pair it with
/// `length(min = 1)`, which writes the same bound into the schema; a custom rule runs first,
/// so its message is the field's first.
///
/// ```
/// #[derive(garde::Validate)]
/// struct Comment {
///     #[garde(custom(allframe_core::validate::filled), length(chars, min = 1, max = 500))]
///     body: String,
/// }
/// let report = garde::Validate::validate(&Comment { body: String::new() }).unwrap_err();
/// assert_eq!(report.iter().next().unwrap().1.message(), "can't be blank");
/// ```
pub fn filled<C>(value: &str, _: &C) -> garde::Result {
    if value.is_empty() {
        return Err(garde::Error::new("can't be blank"));
    }
    Ok(())
}

/// Why a [`Valid`] extractor refused the request.
#[derive(Debug)]
pub enum ValidRejection<R> {
    /// The inner extractor refused it (not JSON, a query that does not parse, ...).
    Extract(R),
    /// The value broke its rules: `422`.
    Invalid(garde::Report),
}

impl<R: IntoResponse> IntoResponse for ValidRejection<R> {
    fn into_response(self) -> Response {
        match self {
            Self::Extract(rejection) => rejection.into_response(),
            Self::Invalid(report) => invalid(&report).into_response(),
        }
    }
}

/// The problem naming every field that broke a rule (`body` for the value as a whole).
fn invalid(report: &garde::Report) -> Problem {
    let problem = Problem::new(http::StatusCode::UNPROCESSABLE_ENTITY)
        .with_detail("the request has invalid fields");
    report.iter().fold(problem, |problem, (path, error)| {
        let field = path.to_string();
        let field = if field.is_empty() {
            "body".to_owned()
        } else {
            field
        };
        problem.with_field_error(field, error.message().to_owned())
    })
}

impl<S, E> FromRequestParts<S> for Valid<E>
where
    S: Send + Sync,
    E: FromRequestParts<S> + Checked + Send,
{
    type Rejection = ValidRejection<E::Rejection>;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let value = E::from_request_parts(parts, state)
            .await
            .map_err(ValidRejection::Extract)?;
        value.check().map_err(ValidRejection::Invalid)?;
        Ok(Self(value))
    }
}

impl<S, T> FromRequest<S> for Valid<Json<T>>
where
    S: Send + Sync,
    Json<T>: FromRequest<S> + Checked + Send,
{
    type Rejection = ValidRejection<<Json<T> as FromRequest<S>>::Rejection>;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let value = Json::<T>::from_request(req, state)
            .await
            .map_err(ValidRejection::Extract)?;
        value.check().map_err(ValidRejection::Invalid)?;
        Ok(Self(value))
    }
}
