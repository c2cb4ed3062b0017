//! Accounts: the bank's one aggregate. A balance never goes below zero, and every movement
//! made for a transfer carries a reference, so a step retried after a crash moves the money
//! once.

use std::collections::BTreeSet;

use allframe::cqrs::{Aggregate, Event};
use allframe::openapi::{JsonSchema, schemars};
use serde::{Deserialize, Serialize};

use crate::error::BankError;

/// Everything that happens to accounts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub enum BankEvent {
    AccountOpened {
        account_id: String,
        owner: String,
    },
    /// `reference` names the transfer step that moved the money (`debit:<transfer>`).
    Deposited {
        account_id: String,
        amount_cents: u64,
        reference: Option<String>,
    },
    Withdrawn {
        account_id: String,
        amount_cents: u64,
        reference: Option<String>,
    },
    AccountClosed {
        account_id: String,
    },
}

impl Event for BankEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::AccountOpened { .. } => "AccountOpened",
            Self::Deposited { .. } => "Deposited",
            Self::Withdrawn { .. } => "Withdrawn",
            Self::AccountClosed { .. } => "AccountClosed",
        }
    }
}

impl BankEvent {
    /// The account the event is about.
    pub fn account_id(&self) -> &str {
        match self {
            Self::AccountOpened { account_id, .. }
            | Self::Deposited { account_id, .. }
            | Self::Withdrawn { account_id, .. }
            | Self::AccountClosed { account_id } => account_id,
        }
    }
}

/// An account's state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Account {
    pub opened: bool,
    pub closed: bool,
    pub balance_cents: u64,
    /// The references of the movements made, so a repeated one is recognised.
    pub references: BTreeSet<String>,
}

#[derive(Debug, Clone)]
pub enum AccountCommand {
    Open {
        account_id: String,
        owner: String,
    },
    Deposit {
        account_id: String,
        amount_cents: u64,
        reference: Option<String>,
    },
    Withdraw {
        account_id: String,
        amount_cents: u64,
        reference: Option<String>,
    },
    Close {
        account_id: String,
    },
    /// Takes back the movement `of` (a credit that may have happened) as `reference`,
    /// once, and only if it happened.
    Reverse {
        account_id: String,
        amount_cents: u64,
        of: String,
        reference: String,
    },
}

impl Aggregate for Account {
    type Event = BankEvent;
    type Command = AccountCommand;
    type Error = BankError;

    fn handle(&self, command: AccountCommand) -> Result<Vec<BankEvent>, BankError> {
        use AccountCommand::*;
        match &command {
            Open { .. } if self.opened => {
                return Err(BankError::Conflict("the account exists".into()));
            }
            Open { .. } => {}
            _ if !self.opened => return Err(BankError::NotFound("no such account".into())),
            _ if self.closed => return Err(BankError::Conflict("the account is closed".into())),
            Deposit {
                reference: Some(r), ..
            }
            | Withdraw {
                reference: Some(r), ..
            } if self.references.contains(r) => {
                return Ok(vec![]);
            }
            Reverse { of, reference, .. }
                if !self.references.contains(of) || self.references.contains(reference) =>
            {
                return Ok(vec![]);
            }
            _ => {}
        }
        Ok(vec![match command {
            Open { account_id, owner } => BankEvent::AccountOpened { account_id, owner },
            Deposit {
                account_id,
                amount_cents,
                reference,
            } => BankEvent::Deposited {
                account_id,
                amount_cents,
                reference,
            },
            Withdraw { amount_cents, .. } if amount_cents > self.balance_cents => {
                return Err(BankError::InsufficientFunds {
                    balance_cents: self.balance_cents,
                    wanted_cents: amount_cents,
                });
            }
            Withdraw {
                account_id,
                amount_cents,
                reference,
            } => BankEvent::Withdrawn {
                account_id,
                amount_cents,
                reference,
            },
            Close { .. } if self.balance_cents > 0 => {
                return Err(BankError::Conflict(format!(
                    "the account holds {} cents: withdraw them first",
                    self.balance_cents
                )));
            }
            Close { account_id } => BankEvent::AccountClosed { account_id },
            Reverse { amount_cents, .. } if amount_cents > self.balance_cents => {
                return Err(BankError::InsufficientFunds {
                    balance_cents: self.balance_cents,
                    wanted_cents: amount_cents,
                });
            }
            Reverse {
                account_id,
                amount_cents,
                reference,
                ..
            } => BankEvent::Withdrawn {
                account_id,
                amount_cents,
                reference: Some(reference),
            },
        }])
    }

    fn apply(&mut self, event: &BankEvent) {
        match event {
            BankEvent::AccountOpened { .. } => self.opened = true,
            BankEvent::Deposited {
                amount_cents,
                reference,
                ..
            } => {
                self.balance_cents += amount_cents;
                self.references.extend(reference.clone());
            }
            BankEvent::Withdrawn {
                amount_cents,
                reference,
                ..
            } => {
                self.balance_cents -= amount_cents;
                self.references.extend(reference.clone());
            }
            BankEvent::AccountClosed { .. } => self.closed = true,
        }
    }
}
