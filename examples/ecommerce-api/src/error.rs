//! Why an aggregate of the shop refused a command, and the problem+json answer each reason
//! gets (the store's and the bus's own errors map themselves: `allframe::cqrs` converts them).

use std::fmt;

use allframe::Problem;
use allframe::http::StatusCode;

/// Why an aggregate refused a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShopError {
    /// 404.
    NotFound(String),
    /// 409: the command contradicts the current state (stock, a cart already checked out).
    Conflict(String),
}

impl fmt::Display for ShopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound(why) | Self::Conflict(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for ShopError {}

impl From<ShopError> for Problem {
    fn from(err: ShopError) -> Self {
        let status = match err {
            ShopError::NotFound(_) => StatusCode::NOT_FOUND,
            ShopError::Conflict(_) => StatusCode::CONFLICT,
        };
        Problem::new(status).with_detail(err.to_string())
    }
}
