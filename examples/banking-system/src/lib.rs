//! A bank on AllFrame's CQRS: accounts as event-sourced aggregates whose balances never go
//! below zero, transfers as sagas (fraud check, debit, credit) that undo themselves when a
//! step fails, and the transaction history and audit trail as projections.
//!
//! Run with `cargo run -p banking-system`; see README.md for the endpoints.

mod api;
pub mod commands;
pub mod domain;
pub mod error;
pub mod transfer;
pub mod views;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use allframe::cqrs::{
    Aggregates, AnyBackend, CommandBus, ExpectedVersion, Projection, Projections, RetryPolicy,
    SagaEvent, SagaOutcome, Storage, StoreError,
};
use allframe::http::StatusCode;
use allframe::middleware::{Layer, RequestIdLayer, RequestIdService};
use allframe::{Problem, RouterService, ServerConfig};

use crate::domain::{Account, AccountCommand, BankEvent};
use crate::transfer::{Rules, Transfer, TransferSaga};
use crate::views::{Audit, History, TransferView, Transfers};

pub use crate::api::router;

/// The write side: the accounts.
#[derive(Debug)]
pub struct Ledger {
    accounts: Aggregates<Account, AnyBackend<BankEvent>>,
    transfers: Projections<SagaEvent, AnyBackend<SagaEvent>>,
}

impl Ledger {
    /// Executes a command on account `id`.
    pub async fn account(&self, id: &str, command: AccountCommand) -> Result<(), Problem> {
        self.accounts
            .execute(&format!("account-{id}"), command)
            .await?;
        Ok(())
    }

    /// Account `id` as it is now.
    pub async fn load(&self, id: &str) -> Result<Account, Problem> {
        let (account, _) = self.accounts.load(&format!("account-{id}")).await?;
        if !account.opened {
            return Err(
                Problem::new(StatusCode::NOT_FOUND).with_detail(format!("no account `{id}`"))
            );
        }
        Ok(account)
    }

    /// Transfers from `account` requested within the last minute.
    async fn recent_transfers_from(&self, account: &str) -> Result<usize, StoreError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let recent = |t: &Transfers| {
            t.0.values()
                .filter(|v| v.from == account && now.saturating_sub(v.requested_at_ms) < 60_000)
                .count()
        };
        Ok(self.transfers.query(recent).await?.unwrap_or(0))
    }
}

/// The whole bank: the ledger, its projections and the transfer saga.
#[derive(Debug)]
pub struct Bank {
    pub ledger: Arc<Ledger>,
    views: Projections<BankEvent, AnyBackend<BankEvent>>,
    transfer: TransferSaga,
    storage: String,
}

impl Bank {
    /// Opens the bank's stores in `storage` (`events` and `sagas`) and finishes every
    /// transfer an earlier process left half done: each resumes where its saga's events say.
    pub async fn open(storage: &Storage, rules: Rules) -> Result<Self, Problem> {
        let events = storage.open::<BankEvent>("events").await?;
        let sagas = storage.open::<SagaEvent>("sagas").await?;
        // Many transfers touch one account at once: a lost race is decided again, often.
        let accounts =
            Aggregates::new(events.clone()).with_retry(RetryPolicy { max_retries: 1000 });
        let transfers = Projections::new(sagas.clone()).register::<Transfers>();
        let ledger = Arc::new(Ledger {
            accounts,
            transfers,
        });
        let views = Projections::new(events)
            .register::<History>()
            .register::<Audit>();
        let transfer = transfer::saga(&ledger, &rules, sagas);
        for id in transfer.unfinished().await? {
            eprintln!("resuming transfer `{id}`, interrupted by the last shutdown");
            transfer.resume(&id).await?;
        }
        Ok(Self {
            ledger,
            views,
            transfer,
            storage: storage.to_string(),
        })
    }

    /// Reads account projection `P` caught up with every event appended so far.
    pub async fn query<P: Projection<BankEvent>, R>(
        &self,
        read: impl FnOnce(&P) -> R,
    ) -> Result<R, Problem> {
        Ok(self
            .views
            .query(read)
            .await?
            .expect("registered in Bank::open"))
    }

    /// Transfer `id` as its saga's events have it.
    pub async fn transfer(&self, id: &str) -> Result<TransferView, Problem> {
        let found = self
            .ledger
            .transfers
            .query(|t: &Transfers| t.0.get(id).cloned())
            .await?
            .flatten();
        found.ok_or_else(|| {
            Problem::new(StatusCode::NOT_FOUND).with_detail(format!("no transfer `{id}`"))
        })
    }

    /// Runs a transfer's saga; a transfer id seen before answers with that transfer (if it
    /// is the same transfer) instead of moving money again.
    async fn run(&self, t: Transfer) -> Result<TransferView, Problem> {
        let id = t.transfer_id.clone();
        let outcome = match self.transfer.run(&id, t.clone()).await {
            Err(allframe::cqrs::SagaError::Store(StoreError::Conflict {
                expected: ExpectedVersion::NoStream,
                ..
            })) => {
                let seen = self.transfer(&id).await?;
                if (&seen.from, &seen.to, seen.amount_cents) != (&t.from, &t.to, t.amount_cents) {
                    return Err(Problem::new(StatusCode::CONFLICT).with_detail(format!(
                        "transfer `{id}` exists with other accounts or amount"
                    )));
                }
                return Ok(seen);
            }
            other => other?,
        };
        if let SagaOutcome::Compensated { failed_step, error } = outcome {
            return Err(
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY).with_detail(format!(
                    "transfer `{id}` refused at step `{failed_step}`: {error}; no money moved"
                )),
            );
        }
        self.transfer(&id).await
    }

    /// Where the bank keeps its events, for `/health`.
    pub fn storage(&self) -> &str {
        &self.storage
    }
}

/// The server's limits: bodies over 16 KiB are refused with 413.
pub fn server_config() -> ServerConfig {
    ServerConfig::default().body_limit(16 * 1024)
}

/// The bank as a service: its routes, each request tagged with an `x-request-id`.
pub type App = RequestIdService<RouterService<Arc<CommandBus<Bank>>>>;

/// The bank over `storage`.
pub async fn app(storage: &Storage, rules: Rules) -> Result<App, Problem> {
    let bank = Bank::open(storage, rules).await?;
    Ok(RequestIdLayer::new().layer(router().with_state(Arc::new(CommandBus::new(bank)))))
}
