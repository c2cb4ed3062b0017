//! Why an aggregate of the CMS refused a command. Every answer names a field under
//! `errors`, the shape RealWorld's clients read (`{"errors": {"email": ["has already been
//! taken"]}}`), inside the problem+json every AllFrame error has.

use std::fmt;

use allframe::Problem;
use allframe::http::StatusCode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmsError {
    /// 404: no such thing (`user`, `article`, `comment`, `profile`).
    NotFound(&'static str),
    /// 403: the resource (`article`, `comment`, `role`, `media`: the key under `errors`, as
    /// RealWorld says) is not the caller's to change, and why.
    Forbidden(&'static str, &'static str),
    /// 409: the username, email or slug belongs to someone else.
    Taken(String),
    /// 409: the article is not where its workflow allows this (submitting what is in review).
    Stage(&'static str),
}

impl fmt::Display for CmsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound(what) => write!(f, "no such {what}"),
            Self::Forbidden(_, why) | Self::Stage(why) => f.write_str(why),
            Self::Taken(field) => write!(f, "the {field} has already been taken"),
        }
    }
}

impl std::error::Error for CmsError {}

impl From<CmsError> for Problem {
    fn from(err: CmsError) -> Self {
        let (status, field, message) = match &err {
            CmsError::NotFound(what) => (StatusCode::NOT_FOUND, what.to_string(), "not found"),
            CmsError::Forbidden(resource, _) => {
                (StatusCode::FORBIDDEN, resource.to_string(), "forbidden")
            }
            CmsError::Stage(_) => (StatusCode::CONFLICT, "status".into(), "does not allow it"),
            CmsError::Taken(field) => (
                StatusCode::CONFLICT,
                field.clone(),
                "has already been taken",
            ),
        };
        Problem::new(status)
            .with_detail(err.to_string())
            .with_field_error(field, message)
    }
}
