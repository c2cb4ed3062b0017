//! The chat's failures, each a GraphQL error with an `extensions.code` clients act on.

use std::fmt;

use allframe::cqrs::ExecuteError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatError {
    /// Not signed in, or a wrong password.
    Unauthenticated(String),
    Forbidden(String),
    NotFound(String),
    Conflict(String),
    /// A value outside what the schema's description allows.
    BadInput(String),
    /// Over a per-user or per-socket limit.
    Limited(String),
    Internal(String),
}

impl ChatError {
    fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::Conflict(_) => "CONFLICT",
            Self::BadInput(_) => "BAD_USER_INPUT",
            Self::Limited(_) => "RATE_LIMITED",
            Self::Internal(_) => "INTERNAL",
        }
    }
}

impl fmt::Display for ChatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (Self::Unauthenticated(m)
        | Self::Forbidden(m)
        | Self::NotFound(m)
        | Self::Conflict(m)
        | Self::BadInput(m)
        | Self::Limited(m)
        | Self::Internal(m)) = self;
        f.write_str(m)
    }
}

impl std::error::Error for ChatError {}

impl From<ExecuteError<ChatError>> for ChatError {
    fn from(err: ExecuteError<ChatError>) -> Self {
        match err {
            ExecuteError::Rejected(refusal) => refusal,
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<allframe::Problem> for ChatError {
    fn from(problem: allframe::Problem) -> Self {
        Self::Internal(problem.to_string())
    }
}

impl From<allframe::cqrs::StoreError> for ChatError {
    fn from(err: allframe::cqrs::StoreError) -> Self {
        Self::Internal(err.to_string())
    }
}

/// A [`ChatError`] as resolvers return it: a GraphQL error with `extensions.code`. It is not
/// `Display`, so async-graphql's blanket conversion (which drops the code) does not apply.
#[derive(Debug, Clone)]
pub struct Failure(pub ChatError);

impl<E: Into<ChatError>> From<E> for Failure {
    fn from(err: E) -> Self {
        Self(err.into())
    }
}

impl From<Failure> for async_graphql::Error {
    fn from(Failure(err): Failure) -> Self {
        use async_graphql::ErrorExtensions;
        let code = err.code();
        async_graphql::Error::new(err.to_string()).extend_with(|_, e| e.set("code", code))
    }
}
