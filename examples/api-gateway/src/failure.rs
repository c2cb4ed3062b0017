//! One error model for the three protocols: each failure the inventory can report means the
//! same thing as a gRPC status code, an HTTP status (with problem+json) and a GraphQL
//! `extensions.code`.

use allframe::Problem;
use allframe::http::StatusCode;
use async_graphql::ErrorExtensions;
use tonic::{Code, Status};

/// Why a call through the gateway failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No such item.
    NotFound(String),
    /// The request is malformed (a SKU, a quantity).
    InvalidArgument(String),
    /// The request is well-formed but the state refuses it (not enough in stock).
    Conflict(String),
    /// The backend cannot be reached, or the circuit breaker keeps calls from it.
    Unavailable(String),
    /// The backend did not answer within the call's deadline.
    Timeout(String),
    /// Anything else the backend reported; its message is logged, not shown.
    Internal(String),
}

impl Failure {
    /// `(gRPC code, HTTP status, GraphQL code)`: the table the README shows, in code.
    pub fn codes(&self) -> (Code, StatusCode, &'static str) {
        match self {
            Self::NotFound(_) => (Code::NotFound, StatusCode::NOT_FOUND, "NOT_FOUND"),
            Self::InvalidArgument(_) => (
                Code::InvalidArgument,
                StatusCode::UNPROCESSABLE_ENTITY,
                "BAD_USER_INPUT",
            ),
            Self::Conflict(_) => (Code::FailedPrecondition, StatusCode::CONFLICT, "CONFLICT"),
            Self::Unavailable(_) => (
                Code::Unavailable,
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
            ),
            Self::Timeout(_) => (
                Code::DeadlineExceeded,
                StatusCode::GATEWAY_TIMEOUT,
                "TIMEOUT",
            ),
            Self::Internal(_) => (Code::Internal, StatusCode::BAD_GATEWAY, "INTERNAL"),
        }
    }

    fn message(&self) -> &str {
        match self {
            Self::NotFound(m)
            | Self::InvalidArgument(m)
            | Self::Conflict(m)
            | Self::Unavailable(m)
            | Self::Timeout(m) => m,
            Self::Internal(_) => "the inventory service failed; the gateway logged why",
        }
    }
}

impl From<Status> for Failure {
    fn from(status: Status) -> Self {
        let message = status.message().to_owned();
        match status.code() {
            Code::NotFound => Self::NotFound(message),
            Code::InvalidArgument | Code::OutOfRange => Self::InvalidArgument(message),
            Code::FailedPrecondition | Code::AlreadyExists | Code::Aborted => {
                Self::Conflict(message)
            }
            Code::Unavailable => {
                Self::Unavailable(format!("the inventory service is unavailable: {message}"))
            }
            // tonic's client reports its own deadline as CANCELLED ("Timeout expired").
            Code::DeadlineExceeded | Code::Cancelled => Self::Timeout(format!(
                "the inventory service did not answer in time: {message}"
            )),
            _ => {
                tracing::error!(code = ?status.code(), message, "the inventory service failed");
                Self::Internal(message)
            }
        }
    }
}

impl From<Failure> for Status {
    fn from(failure: Failure) -> Self {
        Status::new(failure.codes().0, failure.message())
    }
}

impl From<Failure> for Problem {
    fn from(failure: Failure) -> Self {
        Problem::new(failure.codes().1).with_detail(failure.message().to_owned())
    }
}

impl From<Failure> for async_graphql::Error {
    fn from(failure: Failure) -> Self {
        let code = failure.codes().2;
        async_graphql::Error::new(failure.message())
            .extend_with(|_, extensions| extensions.set("code", code))
    }
}
