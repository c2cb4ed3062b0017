//! Why the shop refused something, and the problem+json answer each reason gets.

use std::fmt;

use allframe::cqrs::{ExecuteError, SagaError, StoreError, ValidationError};
use allframe::http::StatusCode;
use allframe::Problem;

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShopError {
    /// 404.
    NotFound(String),
    /// 409: the request contradicts the current state (stock, a cart already checked out).
    Conflict(String),
    /// 422: a field is wrong.
    Invalid { field: &'static str, message: String },
    /// 402: the payment was refused; the order is cancelled and its stock released.
    PaymentFailed { order_id: String, reason: String },
    /// 500: the event store failed.
    Store(String),
}

impl fmt::Display for ShopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound(why) | Self::Conflict(why) | Self::Store(why) => f.write_str(why),
            Self::Invalid { field, message } => write!(f, "`{field}` {message}"),
            Self::PaymentFailed { order_id, reason } => write!(
                f,
                "payment for order `{order_id}` failed ({reason}); the order is cancelled and its stock released"
            ),
        }
    }
}

impl std::error::Error for ShopError {}

impl From<ValidationError> for ShopError {
    fn from(err: ValidationError) -> Self {
        Self::Invalid { field: err.field.unwrap_or("body"), message: err.message }
    }
}

impl From<StoreError> for ShopError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict { .. } => Self::Conflict(format!("{err}; try again")),
            other => Self::Store(other.to_string()),
        }
    }
}

impl From<ExecuteError<ShopError>> for ShopError {
    fn from(err: ExecuteError<ShopError>) -> Self {
        match err {
            ExecuteError::Rejected(refusal) => refusal,
            ExecuteError::Store(err) => err.into(),
            ExecuteError::Snapshot(why) => Self::Store(why),
        }
    }
}

impl From<SagaError> for ShopError {
    fn from(err: SagaError) -> Self {
        Self::Store(err.to_string())
    }
}

impl From<ShopError> for Problem {
    fn from(err: ShopError) -> Self {
        let status = match &err {
            ShopError::NotFound(_) => StatusCode::NOT_FOUND,
            ShopError::Conflict(_) => StatusCode::CONFLICT,
            ShopError::Invalid { field, message } => {
                return Problem::invalid_field(*field, message.clone());
            }
            ShopError::PaymentFailed { .. } => StatusCode::PAYMENT_REQUIRED,
            ShopError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Problem::new(status).with_detail(err.to_string())
    }
}
