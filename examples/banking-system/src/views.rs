//! The read side: each account's transaction history and the bank's audit trail, folded
//! from the account events; the transfers, folded from their sagas' events.

use std::collections::BTreeMap;

use allframe::cqrs::{Envelope, Projection, SagaEvent};
use allframe::openapi::{JsonSchema, schemars};
use serde::Serialize;

use crate::domain::BankEvent;
use crate::transfer::Transfer;

/// One movement of an account's money.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Entry {
    /// Its position in the store: entries of all accounts are in one order.
    pub position: u64,
    pub at_ms: u64,
    /// Positive in, negative out.
    pub amount_cents: i64,
    pub balance_cents: u64,
    /// The transfer step that made it (`debit:t1`, `credit:t1`, `reversal:t1`).
    pub reference: Option<String>,
}

/// Every account's entries, oldest first.
#[derive(Debug, Default)]
pub struct History(pub BTreeMap<String, Vec<Entry>>);

impl Projection<BankEvent> for History {
    const NAME: &'static str = "history";

    fn apply(&mut self, event: &Envelope<BankEvent>) {
        let (amount, reference) = match &event.payload {
            BankEvent::Deposited {
                amount_cents,
                reference,
                ..
            } => (*amount_cents as i64, reference),
            BankEvent::Withdrawn {
                amount_cents,
                reference,
                ..
            } => (-(*amount_cents as i64), reference),
            BankEvent::AccountOpened { account_id, .. } => {
                self.0.insert(account_id.clone(), Vec::new());
                return;
            }
            BankEvent::AccountClosed { .. } => return,
        };
        let entries = self
            .0
            .entry(event.payload.account_id().to_owned())
            .or_default();
        let before = entries.last().map_or(0, |e| e.balance_cents);
        entries.push(Entry {
            position: event.position,
            at_ms: event.timestamp_ms,
            amount_cents: amount,
            balance_cents: before.saturating_add_signed(amount),
            reference: reference.clone(),
        });
    }
}

/// One line of the audit trail: what happened, when, in store order.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct AuditRecord {
    pub position: u64,
    pub at_ms: u64,
    pub account_id: String,
    pub event: &'static str,
    /// The event as stored (kept typed: a JSON value per event would take several times
    /// the memory).
    pub data: BankEvent,
}

/// Every account event, in order.
#[derive(Debug, Default)]
pub struct Audit(pub Vec<AuditRecord>);

impl Projection<BankEvent> for Audit {
    const NAME: &'static str = "audit";

    fn apply(&mut self, event: &Envelope<BankEvent>) {
        self.0.push(AuditRecord {
            position: event.position,
            at_ms: event.timestamp_ms,
            account_id: event.payload.account_id().to_owned(),
            event: event.event_type,
            data: event.payload.clone(),
        });
    }
}

/// Where a transfer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransferStatus {
    /// Its saga is running (or was, when the process stopped: it resumes at start-up).
    Pending,
    Completed,
    /// A step failed and what was done is undone: no money moved.
    Refused,
}

/// A transfer as its sender sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct TransferView {
    pub transfer_id: String,
    pub from: String,
    pub to: String,
    pub amount_cents: u64,
    pub status: TransferStatus,
    pub requested_at_ms: u64,
    /// Why it was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Every transfer, by id, from the transfer sagas' events.
#[derive(Debug, Default)]
pub struct Transfers(pub BTreeMap<String, TransferView>);

impl Projection<SagaEvent> for Transfers {
    const NAME: &'static str = "transfers";

    fn apply(&mut self, event: &Envelope<SagaEvent>) {
        let id = event
            .stream_id
            .strip_prefix("saga-")
            .unwrap_or(&event.stream_id);
        match &event.payload {
            SagaEvent::Started { saga, context } if saga == "transfer" => {
                let Ok(t) = serde_json::from_value::<Transfer>(context.clone()) else {
                    return;
                };
                let view = TransferView {
                    transfer_id: t.transfer_id,
                    from: t.from,
                    to: t.to,
                    amount_cents: t.amount_cents,
                    status: TransferStatus::Pending,
                    requested_at_ms: event.timestamp_ms,
                    reason: None,
                };
                self.0.insert(id.to_owned(), view);
            }
            SagaEvent::StepFailed { error, .. } => {
                if let Some(view) = self.0.get_mut(id) {
                    view.reason = Some(error.clone());
                }
            }
            SagaEvent::Completed => self.set(id, TransferStatus::Completed),
            SagaEvent::Compensated => self.set(id, TransferStatus::Refused),
            _ => {}
        }
    }
}

impl Transfers {
    fn set(&mut self, id: &str, status: TransferStatus) {
        if let Some(view) = self.0.get_mut(id) {
            view.status = status;
        }
    }
}
