//! Commands through the bus and aggregates over the in-memory store.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use allframe_cqrs::{
    Aggregate, AggregateTest, Aggregates, Command, CommandBus, CommandHandler, Envelope, Event,
    EventStore, ExecuteError, ExpectedVersion, NewEvent, RetryPolicy, StoreError, ValidationError,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum AccountEvent {
    Deposited(u64),
    Withdrawn(u64),
}

impl Event for AccountEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Deposited(_) => "Deposited",
            Self::Withdrawn(_) => "Withdrawn",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum AccountCommand {
    Deposit(u64),
    Withdraw(u64),
}

#[derive(Debug, Clone, PartialEq)]
enum AccountError {
    InsufficientFunds { balance: u64, wanted: u64 },
}

impl std::fmt::Display for AccountError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self::InsufficientFunds { balance, wanted } = self;
        write!(f, "balance {balance} is less than {wanted}")
    }
}

impl std::error::Error for AccountError {}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Account {
    balance: u64,
}

impl Aggregate for Account {
    type Event = AccountEvent;
    type Command = AccountCommand;
    type Error = AccountError;

    fn handle(&self, command: AccountCommand) -> Result<Vec<AccountEvent>, AccountError> {
        match command {
            // A deposit of nothing changes nothing: a decision of no events.
            AccountCommand::Deposit(0) => Ok(vec![]),
            AccountCommand::Deposit(n) => Ok(vec![AccountEvent::Deposited(n)]),
            AccountCommand::Withdraw(n) if n > self.balance => {
                Err(AccountError::InsufficientFunds {
                    balance: self.balance,
                    wanted: n,
                })
            }
            AccountCommand::Withdraw(n) => Ok(vec![AccountEvent::Withdrawn(n)]),
        }
    }

    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Deposited(n) => self.balance += n,
            AccountEvent::Withdrawn(n) => self.balance -= n,
        }
    }
}

#[test]
fn given_when_then() {
    AggregateTest::<Account>::given(vec![AccountEvent::Deposited(10)])
        .when(AccountCommand::Withdraw(4))
        .then_events(vec![AccountEvent::Withdrawn(4)]);
    AggregateTest::<Account>::given(vec![
        AccountEvent::Deposited(10),
        AccountEvent::Withdrawn(8),
    ])
    .when(AccountCommand::Withdraw(3))
    .then_error(AccountError::InsufficientFunds {
        balance: 2,
        wanted: 3,
    });
}

#[tokio::test]
async fn commands_append_with_the_version_they_saw() {
    let accounts = Aggregates::<Account>::new(EventStore::in_memory());
    accounts
        .execute("a", AccountCommand::Deposit(10))
        .await
        .unwrap();
    let appended = accounts
        .execute("a", AccountCommand::Withdraw(3))
        .await
        .unwrap();
    assert_eq!(appended.version, 2);
    match accounts.execute("a", AccountCommand::Withdraw(30)).await {
        Err(ExecuteError::Rejected(AccountError::InsufficientFunds {
            balance: 7,
            wanted: 30,
        })) => {}
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(
        accounts.load("a").await.unwrap(),
        (Account { balance: 7 }, 2)
    );
    assert_eq!(
        accounts.store().read_stream("a", 0).await.unwrap().len(),
        2,
        "a rejection writes nothing"
    );
}

/// An idempotent command decided twice (a retried saga step) emits nothing the second time:
/// that is a success that writes nothing, not an error of the store.
#[tokio::test]
async fn a_decision_of_no_events_succeeds_and_appends_nothing() {
    let accounts = Aggregates::<Account>::new(EventStore::in_memory());
    accounts
        .execute("a", AccountCommand::Deposit(10))
        .await
        .unwrap();
    let appended = accounts
        .execute("a", AccountCommand::Deposit(0))
        .await
        .expect("nothing to append is not a failure");
    assert_eq!(appended.version, 1, "the stream's version, unchanged");
    assert_eq!((appended.first_position, appended.last_position), (0, 0));
    assert_eq!(accounts.store().read_stream("a", 0).await.unwrap().len(), 1);
    let fresh = accounts
        .execute("b", AccountCommand::Deposit(0))
        .await
        .unwrap();
    assert_eq!(fresh.version, 0, "a stream never written stays unwritten");
    assert_eq!(accounts.store().stats().await.unwrap().streams, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_commands_are_retried_and_none_is_lost() {
    let store = EventStore::in_memory();
    // Two independent caches over one store: every command races the other side's.
    let left = Arc::new(
        Aggregates::<Account>::new(store.clone()).with_retry(RetryPolicy { max_retries: 1000 }),
    );
    let right = Arc::new(
        Aggregates::<Account>::new(store.clone()).with_retry(RetryPolicy { max_retries: 1000 }),
    );
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let accounts = if i % 2 == 0 {
            Arc::clone(&left)
        } else {
            Arc::clone(&right)
        };
        tasks.spawn(async move {
            for _ in 0..50 {
                accounts
                    .execute("shared", AccountCommand::Deposit(1))
                    .await
                    .unwrap();
                tokio::task::yield_now().await;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    assert_eq!(
        left.load("shared").await.unwrap(),
        (Account { balance: 400 }, 400)
    );
    assert_eq!(right.load("shared").await.unwrap().0.balance, 400);
}

/// A backend with faults on demand: another writer slips one event in just before the next
/// append (`armed`), or every snapshot fails to save (`refuse_snapshots`).
#[derive(Default)]
struct RacedOnce {
    inner: allframe_cqrs::InMemoryBackend<AccountEvent>,
    armed: std::sync::atomic::AtomicBool,
    refuse_snapshots: std::sync::atomic::AtomicBool,
}

impl allframe_cqrs::Backend<AccountEvent> for RacedOnce {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent<AccountEvent>>,
    ) -> Result<allframe_cqrs::Appended, StoreError> {
        if self.armed.swap(false, Ordering::SeqCst) {
            let rival = vec![NewEvent::new(AccountEvent::Deposited(100))];
            self.inner
                .append(stream, ExpectedVersion::Any, rival)
                .await?;
        }
        self.inner.append(stream, expected, events).await
    }
    async fn append_raw(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<allframe_cqrs::RawEvent>,
    ) -> Result<allframe_cqrs::Appended, StoreError> {
        self.inner.append_raw(stream, expected, events).await
    }
    async fn read_stream(
        &self,
        s: &str,
        v: u64,
    ) -> Result<Vec<Envelope<AccountEvent>>, StoreError> {
        self.inner.read_stream(s, v).await
    }
    async fn read_all(&self, p: u64, l: usize) -> Result<Vec<Envelope<AccountEvent>>, StoreError> {
        self.inner.read_all(p, l).await
    }
    async fn save_snapshot(
        &self,
        s: &str,
        snap: allframe_cqrs::Snapshot,
    ) -> Result<(), StoreError> {
        if self.refuse_snapshots.load(Ordering::SeqCst) {
            return Err(StoreError::Backend("the snapshot disk is full".into()));
        }
        self.inner.save_snapshot(s, snap).await
    }
    async fn load_snapshot(&self, s: &str) -> Result<Option<allframe_cqrs::Snapshot>, StoreError> {
        self.inner.load_snapshot(s).await
    }
    async fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush().await
    }
    async fn stats(&self) -> Result<allframe_cqrs::BackendStats, StoreError> {
        self.inner.stats().await
    }
}

/// A snapshot is a cache: when it cannot be saved the command has still happened, and an
/// error would make the caller retry it (issue 18, finding 3).
#[tokio::test]
async fn a_snapshot_that_fails_after_the_append_does_not_fail_the_command() {
    let accounts =
        Aggregates::<Account, RacedOnce>::new(EventStore::with_backend(RacedOnce::default()))
            .with_snapshots_every(1);
    let backend = accounts.store().backend();
    backend.refuse_snapshots.store(true, Ordering::SeqCst);
    let appended = accounts
        .execute("a", AccountCommand::Deposit(5))
        .await
        .expect("the deposit is stored: it succeeded");
    assert_eq!(appended.version, 1);
    assert_eq!(accounts.snapshot_failures(), 1, "the failure is counted");
    assert_eq!(
        accounts.load("a").await.unwrap(),
        (Account { balance: 5 }, 1)
    );
    backend.refuse_snapshots.store(false, Ordering::SeqCst);
    accounts
        .execute("a", AccountCommand::Deposit(5))
        .await
        .unwrap();
    assert_eq!(
        accounts
            .store()
            .load_snapshot("a")
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
}

#[tokio::test]
async fn a_lost_race_is_decided_again_or_reported_as_a_conflict() {
    let accounts =
        Aggregates::<Account, RacedOnce>::new(EventStore::with_backend(RacedOnce::default()))
            .with_retry(RetryPolicy { max_retries: 0 });
    accounts
        .execute("a", AccountCommand::Deposit(1))
        .await
        .unwrap();
    accounts
        .store()
        .backend()
        .armed
        .store(true, Ordering::SeqCst);
    match accounts.execute("a", AccountCommand::Deposit(1)).await {
        Err(ExecuteError::Store(StoreError::Conflict { actual: 2, .. })) => {}
        other => panic!("without retries a lost race is a conflict, got {other:?}"),
    }
    assert_eq!(
        accounts.load("a").await.unwrap(),
        (Account { balance: 101 }, 2),
        "nothing of ours written"
    );

    let accounts = accounts.with_retry(RetryPolicy { max_retries: 1 });
    accounts
        .store()
        .backend()
        .armed
        .store(true, Ordering::SeqCst);
    let appended = accounts
        .execute("a", AccountCommand::Deposit(1))
        .await
        .unwrap();
    assert_eq!(
        appended.version, 4,
        "decided again after the rival's event 3"
    );
    assert_eq!(accounts.load("a").await.unwrap().0.balance, 202);
}

#[tokio::test]
async fn cold_loads_start_from_the_latest_snapshot() {
    let store = EventStore::in_memory();
    let warm = Aggregates::<Account>::new(store.clone()).with_snapshots_every(10);
    for _ in 0..25 {
        warm.execute("a", AccountCommand::Deposit(2)).await.unwrap();
    }
    let snapshot = store
        .load_snapshot("a")
        .await
        .unwrap()
        .expect("a snapshot was saved");
    assert_eq!(snapshot.version, 20);
    assert_eq!(
        serde_json::from_slice::<Account>(&snapshot.data).unwrap(),
        Account { balance: 40 }
    );

    let cold = Aggregates::<Account>::new(store.clone());
    assert_eq!(cold.load("a").await.unwrap(), (Account { balance: 50 }, 25));

    // A corrupted snapshot is an error naming the stream, not a wrong state.
    store
        .save_snapshot(
            "b",
            allframe_cqrs::Snapshot {
                version: 1,
                data: b"{oops".to_vec(),
            },
        )
        .await
        .unwrap();
    let err = cold.load("b").await.unwrap_err().to_string();
    assert!(
        err.contains("`b`") && err.contains("does not parse"),
        "{err}"
    );
}

// The bus.

struct OpenAccount {
    owner: String,
    request_id: Option<String>,
}

impl Command for OpenAccount {
    fn validate(&self) -> Result<(), ValidationError> {
        if self.owner.trim().is_empty() {
            return Err(ValidationError::field("owner", "must not be empty"));
        }
        Ok(())
    }

    fn idempotency_key(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
}

#[derive(Default)]
struct Bank {
    opened: AtomicU32,
    flaky_failures: std::sync::atomic::AtomicI32,
}

#[derive(Debug, PartialEq)]
enum BankError {
    Invalid(ValidationError),
    Unavailable,
}

impl From<ValidationError> for BankError {
    fn from(err: ValidationError) -> Self {
        Self::Invalid(err)
    }
}

impl CommandHandler<OpenAccount> for Bank {
    type Output = u32;
    type Error = BankError;

    /// `slow` takes a while; `flaky` fails while `flaky_failures` lasts.
    async fn handle(&self, command: OpenAccount) -> Result<u32, BankError> {
        if command.owner == "slow" {
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        }
        if command.owner == "flaky" && self.flaky_failures.fetch_sub(1, Ordering::SeqCst) > 0 {
            return Err(BankError::Unavailable);
        }
        Ok(self.opened.fetch_add(1, Ordering::SeqCst) + 1)
    }
}

fn open(owner: &str, request_id: Option<&str>) -> OpenAccount {
    OpenAccount {
        owner: owner.into(),
        request_id: request_id.map(Into::into),
    }
}

#[tokio::test]
async fn the_bus_validates_before_handling() {
    let bus = CommandBus::new(Bank::default());
    let err = bus.dispatch(open("  ", None)).await.unwrap_err();
    assert_eq!(
        err,
        BankError::Invalid(ValidationError::field("owner", "must not be empty"))
    );
    assert_eq!(
        bus.handlers().opened.load(Ordering::SeqCst),
        0,
        "the handler never ran"
    );
    assert_eq!(bus.dispatch(open("ann", None)).await, Ok(1));
}

#[tokio::test]
async fn idempotency_keys_replay_the_first_outcome_within_bounded_memory() {
    let bus = CommandBus::with_idempotency_capacity(Bank::default(), 2);
    assert_eq!(bus.dispatch(open("ann", Some("k1"))).await, Ok(1));
    assert_eq!(
        bus.dispatch(open("ann", Some("k1"))).await,
        Ok(1),
        "same key, same outcome"
    );
    assert_eq!(bus.dispatch(open("bob", Some("k2"))).await, Ok(2));
    assert_eq!(bus.dispatch(open("cy", Some("k3"))).await, Ok(3));
    assert_eq!(bus.handlers().opened.load(Ordering::SeqCst), 3);
    // Only two keys are remembered: k1 was forgotten and runs again.
    assert_eq!(bus.dispatch(open("ann", Some("k1"))).await, Ok(4));
    assert_eq!(bus.dispatch(open("cy", Some("k3"))).await, Ok(3));
}

/// Two dispatches of one key at once run the handler once: the second waits for the
/// first's outcome (issue 18, finding 4).
#[tokio::test]
async fn concurrent_dispatches_of_one_key_run_the_handler_once() {
    let bus = CommandBus::new(Bank::default());
    let (first, second) = tokio::join!(
        bus.dispatch(open("slow", Some("k"))),
        bus.dispatch(open("slow", Some("k")))
    );
    assert_eq!((first, second), (Ok(1), Ok(1)));
    assert_eq!(bus.handlers().opened.load(Ordering::SeqCst), 1);
}

/// A failed outcome is not remembered: the retry with the same key runs again. A dispatch
/// cancelled half-way leaves its key free.
#[tokio::test]
async fn a_failed_or_cancelled_dispatch_leaves_its_key_to_a_retry() {
    let bus = CommandBus::new(Bank::default());
    bus.handlers().flaky_failures.store(1, Ordering::SeqCst);
    assert_eq!(
        bus.dispatch(open("flaky", Some("f"))).await,
        Err(BankError::Unavailable)
    );
    assert_eq!(bus.dispatch(open("flaky", Some("f"))).await, Ok(1));
    let cancelled = tokio::time::timeout(
        std::time::Duration::from_millis(5),
        bus.dispatch(open("slow", Some("c"))),
    )
    .await;
    assert!(cancelled.is_err(), "the slow dispatch was cut short");
    let retried = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        bus.dispatch(open("slow", Some("c"))),
    )
    .await;
    assert_eq!(retried, Ok(Ok(2)), "the key was not left held");
}

/// Many callers of one aggregate at once, each append waiting for an fsync: the default
/// retries must see every command through, as a hot product's stock or a popular
/// account sees them (the e-commerce demo's load spike lost 3% to exhausted retries when
/// every loser retried at once).
#[cfg(feature = "wal")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_aggregate_on_the_wal_loses_no_command_to_the_default_retries() {
    let dir = tempfile::tempdir().unwrap();
    let backend = allframe_cqrs::WalBackend::open(dir.path()).expect("open the WAL");
    let accounts = Arc::new(Aggregates::<Account, _>::new(EventStore::with_backend(
        backend,
    )));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..48 {
        let accounts = Arc::clone(&accounts);
        tasks.spawn(async move {
            for _ in 0..5 {
                accounts
                    .execute("hot", AccountCommand::Deposit(1))
                    .await
                    .expect("the default retries see it through");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    assert_eq!(accounts.load("hot").await.unwrap().0.balance, 240);
}
