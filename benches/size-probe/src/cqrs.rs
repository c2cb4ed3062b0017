//! Routes that use the event store (and, under their features, the durable and PostgreSQL
//! backends), so link-time optimisation keeps what `cqrs` costs.

use std::sync::OnceLock;

use allframe::Path;
use allframe::cqrs::{Aggregate, Aggregates, Event, EventStore, Projection, Projections};
use allframe::routing::{Router, post};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
enum AccountEvent {
    Deposited(u64),
}

impl Event for AccountEvent {
    fn event_type(&self) -> &'static str {
        "Deposited"
    }
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Account {
    balance: u64,
}

#[derive(Debug)]
struct ZeroDeposit;

impl std::fmt::Display for ZeroDeposit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a deposit must be positive")
    }
}

impl std::error::Error for ZeroDeposit {}

impl Aggregate for Account {
    type Event = AccountEvent;
    type Command = u64;
    type Error = ZeroDeposit;

    fn handle(&self, amount: u64) -> Result<Vec<AccountEvent>, ZeroDeposit> {
        if amount == 0 {
            return Err(ZeroDeposit);
        }
        Ok(vec![AccountEvent::Deposited(amount)])
    }

    fn apply(&mut self, AccountEvent::Deposited(amount): &AccountEvent) {
        self.balance += amount;
    }
}

#[derive(Default)]
struct TotalDeposits(u64);

impl Projection<AccountEvent> for TotalDeposits {
    const NAME: &'static str = "total-deposits";

    fn apply(&mut self, event: &allframe::cqrs::Envelope<AccountEvent>) {
        let AccountEvent::Deposited(amount) = event.payload;
        self.0 += amount;
    }
}

struct Bank {
    accounts: Aggregates<Account>,
    totals: Projections<AccountEvent>,
}

fn bank() -> &'static Bank {
    static BANK: OnceLock<Bank> = OnceLock::new();
    BANK.get_or_init(|| {
        let store = EventStore::in_memory();
        Bank {
            accounts: Aggregates::new(store.clone()).with_snapshots_every(100),
            totals: Projections::new(store).register::<TotalDeposits>(),
        }
    })
}

async fn deposit(Path((id, amount)): Path<(String, u64)>) -> String {
    let bank = bank();
    if let Err(error) = bank.accounts.execute(&id, amount).await {
        return error.to_string();
    }
    let _ = bank.totals.catch_up().await;
    let total = bank.totals.with::<TotalDeposits, _>(|t| t.0);
    format!("total {total:?}")
}

/// Appends to `store` and reads the stream back: what a durable backend costs.
#[cfg(any(feature = "cqrs-wal", feature = "cqrs-postgres"))]
async fn append_and_count<B: allframe::cqrs::Backend<AccountEvent>>(
    store: &EventStore<AccountEvent, B>,
    stream: &str,
) -> String {
    let event = allframe::cqrs::NewEvent::new(AccountEvent::Deposited(1));
    let appended = store
        .append(stream, allframe::cqrs::ExpectedVersion::Any, vec![event])
        .await;
    match (appended, store.read_stream(stream, 0).await) {
        (Ok(_), Ok(events)) => format!("{} events", events.len()),
        (Err(error), _) | (_, Err(error)) => error.to_string(),
    }
}

#[cfg(feature = "cqrs-wal")]
async fn wal_append(Path(stream): Path<String>) -> String {
    use allframe::cqrs::WalBackend;
    static STORE: OnceLock<Result<EventStore<AccountEvent, WalBackend<AccountEvent>>, String>> =
        OnceLock::new();
    let store = STORE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("size-probe-{}", std::process::id()));
        WalBackend::open(dir)
            .map(EventStore::with_backend)
            .map_err(|e| e.to_string())
    });
    match store {
        Ok(store) => append_and_count(store, &stream).await,
        Err(error) => error.clone(),
    }
}

#[cfg(feature = "cqrs-postgres")]
async fn postgres_append(Path(stream): Path<String>) -> String {
    use allframe::cqrs::PostgresBackend;
    static STORE: tokio::sync::OnceCell<EventStore<AccountEvent, PostgresBackend<AccountEvent>>> =
        tokio::sync::OnceCell::const_new();
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let store = STORE
        .get_or_try_init(|| async {
            PostgresBackend::connect(&url)
                .await
                .map(EventStore::with_backend)
        })
        .await;
    match store {
        Ok(store) => append_and_count(store, &stream).await,
        Err(error) => error.to_string(),
    }
}

pub(crate) fn routes<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    let router = router.route("/accounts/{id}/deposit/{amount}", post(deposit));
    #[cfg(feature = "cqrs-wal")]
    let router = router.route("/wal/{stream}", post(wal_append));
    #[cfg(feature = "cqrs-postgres")]
    let router = router.route("/pg/{stream}", post(postgres_append));
    router
}
