//! What the suites measure: a small bank (an account aggregate, its events, a deposit
//! command), shared so every area measures the same kind of event.

use allframe::cqrs::{
    Aggregate, Aggregates, Backend, Command, CommandHandler, Event, ExecuteError, ValidationError,
};
use serde::{Deserialize, Serialize};

/// A typical small event: a type tag, an amount, a short reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AccountEvent {
    /// Money in.
    Deposited {
        /// In cents.
        amount: u64,
        /// Where it came from.
        reference: String,
    },
    /// Money out.
    Withdrawn {
        /// In cents.
        amount: u64,
    },
}

impl Event for AccountEvent {
    fn event_type(&self) -> &'static str {
        match self {
            AccountEvent::Deposited { .. } => "Deposited",
            AccountEvent::Withdrawn { .. } => "Withdrawn",
        }
    }
}

/// A deposit of `amount` with a fixed reference.
pub fn deposited(amount: u64) -> AccountEvent {
    AccountEvent::Deposited {
        amount,
        reference: "invoice-2026-0042".to_owned(),
    }
}

/// The account's state: its balance.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Account {
    /// In cents.
    pub balance: u64,
}

/// Why an account refuses a command.
#[derive(Debug)]
pub struct Refused(pub &'static str);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Refused {}

impl Aggregate for Account {
    type Event = AccountEvent;
    type Command = u64;
    type Error = Refused;

    fn handle(&self, amount: u64) -> Result<Vec<AccountEvent>, Refused> {
        if amount == 0 {
            return Err(Refused("a deposit must be positive"));
        }
        Ok(vec![deposited(amount)])
    }

    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Deposited { amount, .. } => self.balance += amount,
            AccountEvent::Withdrawn { amount } => self.balance -= amount,
        }
    }
}

/// The command: deposit into an account.
#[derive(Debug, Clone)]
pub struct Deposit {
    /// The account (stream) id.
    pub account: String,
    /// In cents.
    pub amount: u64,
}

impl Command for Deposit {
    fn validate(&self) -> Result<(), ValidationError> {
        if self.amount == 0 {
            return Err(ValidationError::field("amount", "must be positive"));
        }
        Ok(())
    }
}

/// Handles [`Deposit`] by executing it on the account aggregate.
#[derive(Debug)]
pub struct Bank<B: Backend<AccountEvent>> {
    /// The accounts.
    pub accounts: Aggregates<Account, B>,
}

/// The bank's failure.
#[derive(Debug)]
pub enum BankError {
    /// The command was invalid.
    Invalid(ValidationError),
    /// Executing it failed.
    Failed(String),
}

impl From<ValidationError> for BankError {
    fn from(error: ValidationError) -> Self {
        Self::Invalid(error)
    }
}

impl<B: Backend<AccountEvent>> CommandHandler<Deposit> for Bank<B> {
    type Output = u64;
    type Error = BankError;

    async fn handle(&self, command: Deposit) -> Result<u64, BankError> {
        self.accounts
            .execute(&command.account, command.amount)
            .await
            .map(|appended| appended.version)
            .map_err(|e: ExecuteError<Refused>| BankError::Failed(e.to_string()))
    }
}

/// The ids of `n` accounts, made once so a benchmark does not time their formatting.
pub fn account_ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("account-{i}")).collect()
}

/// A runtime for one benchmark group.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The PostgreSQL the PostgreSQL benchmarks use: `DATABASE_URL`, else the local default.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Work the gates' own tests can make slower: `ALLFRAME_BENCH_FIXTURE_SLOWDOWN=30` makes
/// each call do 30% more (read once per process).
pub fn fixture_spin(seed: u64) -> u64 {
    use std::sync::OnceLock;
    static ROUNDS: OnceLock<u64> = OnceLock::new();
    let rounds = *ROUNDS.get_or_init(|| {
        let percent: u64 = std::env::var("ALLFRAME_BENCH_FIXTURE_SLOWDOWN")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        1_000 + 1_000 * percent / 100
    });
    let mut x = seed | 1;
    for _ in 0..rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = std::hint::black_box(x);
    }
    x
}
