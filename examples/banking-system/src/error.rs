//! Why an account refused a command, and the problem+json answer each reason gets (the
//! store's and the bus's own errors map themselves: `allframe::cqrs` converts them).

use std::fmt;

use allframe::Problem;
use allframe::http::StatusCode;

/// Why an account refused a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BankError {
    /// 404.
    NotFound(String),
    /// 409: the command contradicts the account's state.
    Conflict(String),
    /// 409: a withdrawal or debit larger than the balance.
    InsufficientFunds {
        balance_cents: u64,
        wanted_cents: u64,
    },
}

impl fmt::Display for BankError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound(why) | Self::Conflict(why) => f.write_str(why),
            Self::InsufficientFunds {
                balance_cents,
                wanted_cents,
            } => write!(
                f,
                "insufficient funds: the balance is {balance_cents} cents, {wanted_cents} wanted"
            ),
        }
    }
}

impl std::error::Error for BankError {}

impl From<BankError> for Problem {
    fn from(err: BankError) -> Self {
        let status = match &err {
            BankError::NotFound(_) => StatusCode::NOT_FOUND,
            BankError::Conflict(_) | BankError::InsufficientFunds { .. } => StatusCode::CONFLICT,
        };
        Problem::new(status).with_detail(err.to_string())
    }
}
