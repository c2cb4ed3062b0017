//! A transfer is a saga: check it against the fraud rules, debit the payer, credit the payee.
//! A step that fails for good undoes the steps before it (the debit is paid back), so a
//! refused transfer moves no money. Every movement carries the transfer's reference, so a
//! step run again after a crash moves nothing twice.

use std::sync::Arc;
use std::time::Duration;

use allframe::cqrs::{AnyBackend, Saga, SagaEvent, SagaStep, StepFuture, StepPolicy};
use serde::{Deserialize, Serialize};

use crate::Ledger;
use crate::domain::AccountCommand;

/// What a transfer moves, recorded when its saga starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub transfer_id: String,
    pub from: String,
    pub to: String,
    pub amount_cents: u64,
}

/// The fraud rules and the steps' limits.
#[derive(Debug, Clone)]
pub struct Rules {
    /// A transfer above this is refused.
    pub max_amount_cents: u64,
    /// More transfers than this from one account within a minute are refused.
    pub max_transfers_per_minute: usize,
    /// How long the credit may take per attempt (it is tried three times).
    pub credit_timeout: Duration,
    /// Fault injection for the tests: the credit waits this long before it starts.
    pub credit_delay: Duration,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            max_amount_cents: 1_000_000,
            max_transfers_per_minute: 100,
            credit_timeout: Duration::from_secs(10),
            credit_delay: Duration::ZERO,
        }
    }
}

pub(crate) type TransferSaga = Saga<Transfer, AnyBackend<SagaEvent>>;

/// The transfer saga over `ledger`, recording to `store`.
pub(crate) fn saga(
    ledger: &Arc<Ledger>,
    rules: &Rules,
    store: allframe::cqrs::EventStore<SagaEvent, AnyBackend<SagaEvent>>,
) -> TransferSaga {
    // A refusal is an answer, not a fault: no retry.
    let once = StepPolicy {
        retries: 0,
        ..StepPolicy::default()
    };
    let credit = StepPolicy {
        timeout: rules.credit_timeout,
        retries: 2,
        backoff: Duration::from_millis(20),
    };
    Saga::new("transfer", store)
        .step_with(FraudCheck(ledger.clone(), rules.clone()), once)
        .step_with(Debit(ledger.clone()), once)
        .step_with(Credit(ledger.clone(), rules.credit_delay), credit)
}

struct FraudCheck(Arc<Ledger>, Rules);
struct Debit(Arc<Ledger>);
struct Credit(Arc<Ledger>, Duration);

impl SagaStep<Transfer> for FraudCheck {
    fn name(&self) -> &'static str {
        "fraud-check"
    }

    fn execute<'a>(&'a self, t: &'a Transfer) -> StepFuture<'a> {
        Box::pin(async move {
            let rules = &self.1;
            if t.amount_cents > rules.max_amount_cents {
                return Err(format!(
                    "{} cents is over the limit of {}",
                    t.amount_cents, rules.max_amount_cents
                ));
            }
            // This transfer is among the recent ones: it started before this step ran.
            let recent = self
                .0
                .recent_transfers_from(&t.from)
                .await
                .map_err(|e| e.to_string())?;
            if recent > rules.max_transfers_per_minute {
                return Err(format!(
                    "more than {} transfers from `{}` within a minute",
                    rules.max_transfers_per_minute, t.from
                ));
            }
            Ok(())
        })
    }

    fn compensate<'a>(&'a self, _: &'a Transfer) -> StepFuture<'a> {
        Box::pin(async { Ok(()) })
    }
}

impl SagaStep<Transfer> for Debit {
    fn name(&self) -> &'static str {
        "debit"
    }

    fn execute<'a>(&'a self, t: &'a Transfer) -> StepFuture<'a> {
        let withdraw = AccountCommand::Withdraw {
            account_id: t.from.clone(),
            amount_cents: t.amount_cents,
            reference: Some(format!("debit:{}", t.transfer_id)),
        };
        Box::pin(async move {
            self.0
                .account(&t.from, withdraw)
                .await
                .map_err(|p| p.detail().to_owned())
        })
    }

    /// Pays the debit back.
    fn compensate<'a>(&'a self, t: &'a Transfer) -> StepFuture<'a> {
        let deposit = AccountCommand::Deposit {
            account_id: t.from.clone(),
            amount_cents: t.amount_cents,
            reference: Some(format!("reversal:{}", t.transfer_id)),
        };
        Box::pin(async move {
            self.0
                .account(&t.from, deposit)
                .await
                .map_err(|p| p.detail().to_owned())
        })
    }
}

impl SagaStep<Transfer> for Credit {
    fn name(&self) -> &'static str {
        "credit"
    }

    fn execute<'a>(&'a self, t: &'a Transfer) -> StepFuture<'a> {
        let deposit = AccountCommand::Deposit {
            account_id: t.to.clone(),
            amount_cents: t.amount_cents,
            reference: Some(format!("credit:{}", t.transfer_id)),
        };
        Box::pin(async move {
            tokio::time::sleep(self.1).await;
            self.0
                .account(&t.to, deposit)
                .await
                .map_err(|p| p.detail().to_owned())
        })
    }

    /// Nothing after it can fail, but it may time out having deposited (a late answer):
    /// then the credit, if it happened, is taken back.
    fn compensate<'a>(&'a self, t: &'a Transfer) -> StepFuture<'a> {
        let reverse = AccountCommand::Reverse {
            account_id: t.to.clone(),
            amount_cents: t.amount_cents,
            of: format!("credit:{}", t.transfer_id),
            reference: format!("uncredit:{}", t.transfer_id),
        };
        Box::pin(async move {
            self.0
                .account(&t.to, reverse)
                .await
                .map_err(|p| p.detail().to_owned())
        })
    }
}
