//! Aggregates: state rebuilt from events, commands decided against it, new events appended
//! with the version the decision saw.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::{Appended, Backend, ExpectedVersion, Snapshot, StoreError};
use crate::event::{Event, NewEvent};
use crate::map::FastMap;
use crate::memory::InMemoryBackend;
use crate::store::EventStore;

/// A consistency boundary: its state is the fold of its events.
pub trait Aggregate:
    Default + Clone + Send + Sync + Serialize + DeserializeOwned + 'static
{
    /// The events it emits.
    type Event: Event;
    /// The commands it decides.
    type Command: Clone + Send + Sync;
    /// Why it refuses a command.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Decides a command: the events to append, or a refusal. Must not mutate.
    fn handle(&self, command: Self::Command) -> Result<Vec<Self::Event>, Self::Error>;

    /// Folds one event into the state.
    fn apply(&mut self, event: &Self::Event);
}

/// How often an append that lost a race is retried (the command is decided again on the
/// fresh state each time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_retries: 8 }
    }
}

/// Why executing a command failed.
#[derive(Debug)]
pub enum ExecuteError<E> {
    /// The aggregate refused the command.
    Rejected(E),
    /// The store failed, or the stream kept changing through every retry (a
    /// [`StoreError::Conflict`]).
    Store(StoreError),
    /// The latest snapshot could not be read (a snapshot that cannot be written fails no
    /// command: [`Aggregates::snapshot_failures`] counts it).
    Snapshot(String),
}

impl<E: fmt::Display> fmt::Display for ExecuteError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rejected(err) => write!(f, "command rejected: {err}"),
            Self::Store(err) => err.fmt(f),
            Self::Snapshot(msg) => write!(f, "snapshot: {msg}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for ExecuteError<E> {}

impl<E> From<StoreError> for ExecuteError<E> {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

/// Loads, decides and appends for aggregates of type `A` stored in `B`.
///
/// Recently used states stay cached with their version, so a command costs a read of the
/// events appended since (usually none), not a replay of the stream. A cold state is loaded
/// from the latest snapshot plus the events after it.
pub struct Aggregates<A: Aggregate, B = InMemoryBackend<<A as Aggregate>::Event>> {
    store: EventStore<A::Event, B>,
    cache: Mutex<FastMap<Arc<str>, Loaded<A>>>,
    cache_capacity: usize,
    retry: RetryPolicy,
    snapshot_every: Option<u64>,
    snapshot_failures: AtomicU64,
    /// Per aggregate that lost a race here, the turn its losers take: they retry one at a
    /// time, and new callers queue behind them, so a hot aggregate's callers stop losing to
    /// each other. Without a lost race nobody waits.
    retrying: Mutex<FastMap<Arc<str>, Arc<tokio::sync::Mutex<()>>>>,
    /// How many queues `retrying` holds: read without its lock, so an uncontended command
    /// pays one load for all this.
    queues: AtomicU64,
}

impl<A: Aggregate, B> fmt::Debug for Aggregates<A, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Aggregates")
            .field("retry", &self.retry)
            .field("snapshot_every", &self.snapshot_every)
            .finish_non_exhaustive()
    }
}

/// A state and the stream version it includes.
#[derive(Debug, Clone)]
struct Loaded<A> {
    version: u64,
    state: A,
}

impl<A: Aggregate, B: Backend<A::Event>> Aggregates<A, B> {
    /// Aggregates over `store`, caching up to 10,000 states, no snapshots.
    pub fn new(store: EventStore<A::Event, B>) -> Self {
        Self {
            store,
            cache: Mutex::new(FastMap::default()),
            cache_capacity: 10_000,
            retry: RetryPolicy::default(),
            snapshot_every: None,
            snapshot_failures: AtomicU64::new(0),
            retrying: Mutex::new(FastMap::default()),
            queues: AtomicU64::new(0),
        }
    }

    /// Retries lost races per `policy`.
    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Saves a snapshot whenever a stream's version crosses a multiple of `every`.
    pub fn with_snapshots_every(mut self, every: u64) -> Self {
        self.snapshot_every = Some(every.max(1));
        self
    }

    /// Caches at most `capacity` states.
    pub fn with_cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// Snapshots that could not be saved since this was created (each command still
    /// succeeded: a snapshot is a cache, and the next one is tried at the next multiple).
    pub fn snapshot_failures(&self) -> u64 {
        self.snapshot_failures.load(Ordering::Relaxed)
    }

    /// The store.
    pub fn store(&self) -> &EventStore<A::Event, B> {
        &self.store
    }

    /// The current state of aggregate `id` and its version (0 for one never written).
    pub async fn load(&self, id: &str) -> Result<(A, u64), ExecuteError<A::Error>> {
        let (key, loaded) = self.load_loaded(id).await?;
        let result = (loaded.state.clone(), loaded.version);
        self.cache_put(key, id, loaded);
        Ok(result)
    }

    /// Decides `command` on aggregate `id` and appends its events with the version the
    /// decision saw; a lost race is decided again on the new state, up to the retry policy.
    /// A decision of no events appends nothing and succeeds: the result carries the
    /// stream's version and positions of 0.
    pub async fn execute(
        &self,
        id: &str,
        command: A::Command,
    ) -> Result<Appended, ExecuteError<A::Error>> {
        let mut attempt = 0;
        // While callers retry on this aggregate, a new one waits its turn behind them
        // rather than racing them again.
        let mut turn = match self.waiting_queue(id) {
            Some(queue) => Some((queue.clone().lock_owned().await, queue)),
            None => None,
        };
        let result = loop {
            let (key, mut loaded) = match self.load_loaded(id).await {
                Ok(loaded) => loaded,
                Err(err) => break Err(err),
            };
            let events = match loaded.state.handle(command.clone()) {
                Ok(events) => events,
                Err(refusal) => {
                    self.cache_put(key, id, loaded);
                    break Err(ExecuteError::Rejected(refusal));
                }
            };
            let before = loaded.version;
            if events.is_empty() {
                // Nothing to record (an idempotent command decided again): nothing appended.
                self.cache_put(key, id, loaded);
                break Ok(Appended {
                    version: before,
                    first_position: 0,
                    last_position: 0,
                });
            }
            // Folded in before the append so the events move into it without a copy; if
            // the append fails, this state is dropped and the next attempt reloads.
            for event in &events {
                loaded.state.apply(event);
            }
            let new: Vec<NewEvent<A::Event>> = events.into_iter().map(NewEvent::new).collect();
            match self
                .store
                .append(id, ExpectedVersion::Exactly(before), new)
                .await
            {
                Ok(appended) => {
                    loaded.version = appended.version;
                    if let Some(every) = self.snapshot_every
                        && appended.version / every > before / every
                        && self.snapshot(id, &loaded).await.is_err()
                    {
                        // The command happened: failing it would make its caller run it
                        // again. A missing snapshot only makes the next cold load longer.
                        self.snapshot_failures.fetch_add(1, Ordering::Relaxed);
                    }
                    self.cache_put(key, id, loaded);
                    break Ok(appended);
                }
                Err(StoreError::Conflict { .. }) if attempt < self.retry.max_retries => {
                    attempt += 1;
                    if turn.is_none() {
                        let queue = self.retry_queue(id);
                        turn = Some((queue.clone().lock_owned().await, queue));
                    }
                }
                Err(err) => break Err(err.into()),
            }
        };
        if let Some((held, queue)) = turn {
            drop(held);
            self.leave_retry_queue(id, queue);
        }
        result
    }

    /// The queue of callers retrying on aggregate `id`, if there is one.
    fn waiting_queue(&self, id: &str) -> Option<Arc<tokio::sync::Mutex<()>>> {
        if self.queues.load(Ordering::Acquire) == 0 {
            return None;
        }
        let queues = self.retrying.lock().unwrap_or_else(|p| p.into_inner());
        queues.get(id).cloned()
    }

    /// The queue of callers retrying on aggregate `id`, made if needed.
    fn retry_queue(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut queues = self.retrying.lock().unwrap_or_else(|p| p.into_inner());
        let queue = queues.entry(Arc::from(id)).or_insert_with(|| {
            self.queues.fetch_add(1, Ordering::Release);
            Arc::default()
        });
        Arc::clone(queue)
    }

    /// Forgets `id`'s queue once nobody else waits in it, so the map holds only the
    /// aggregates being retried now.
    fn leave_retry_queue(&self, id: &str, queue: Arc<tokio::sync::Mutex<()>>) {
        let mut queues = self.retrying.lock().unwrap_or_else(|p| p.into_inner());
        // The map's reference and this one: nobody else holds or waits for it.
        if Arc::strong_count(&queue) == 2 && queues.remove(id).is_some() {
            self.queues.fetch_sub(1, Ordering::Release);
        }
    }

    /// The cached state brought up to date, or a cold load; with the cache's key for `id`
    /// when it had one, to put the state back without allocating a new key.
    async fn load_loaded(
        &self,
        id: &str,
    ) -> Result<(Option<Arc<str>>, Loaded<A>), ExecuteError<A::Error>> {
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove_entry(id);
        let (key, mut loaded) = match cached {
            Some((key, loaded)) => (Some(key), loaded),
            None => (None, self.cold(id).await?),
        };
        for envelope in self.store.read_stream(id, loaded.version).await? {
            loaded.state.apply(&envelope.payload);
            loaded.version = envelope.version;
        }
        Ok((key, loaded))
    }

    async fn cold(&self, id: &str) -> Result<Loaded<A>, ExecuteError<A::Error>> {
        let Some(snapshot) = self.store.load_snapshot(id).await? else {
            return Ok(Loaded {
                version: 0,
                state: A::default(),
            });
        };
        let state = serde_json::from_slice(&snapshot.data).map_err(|err| {
            ExecuteError::Snapshot(format!(
                "the snapshot of `{id}` at version {} does not parse: {err}",
                snapshot.version
            ))
        })?;
        Ok(Loaded {
            version: snapshot.version,
            state,
        })
    }

    async fn snapshot(&self, id: &str, loaded: &Loaded<A>) -> Result<(), ExecuteError<A::Error>> {
        let data = serde_json::to_vec(&loaded.state).map_err(|err| {
            ExecuteError::Snapshot(format!("the state of `{id}` does not serialize: {err}"))
        })?;
        self.store
            .save_snapshot(
                id,
                Snapshot {
                    version: loaded.version,
                    data,
                },
            )
            .await?;
        Ok(())
    }

    fn cache_put(&self, key: Option<Arc<str>>, id: &str, loaded: Loaded<A>) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= self.cache_capacity {
            // Any entry will do: a state evicted is only reloaded, never wrong.
            if let Some(victim) = cache.keys().next().cloned() {
                cache.remove(&victim);
            }
        }
        if self.cache_capacity > 0 {
            cache.insert(key.unwrap_or_else(|| id.into()), loaded);
        }
    }
}

/// Given some events, when a command, then these events or this error:
/// `AggregateTest::<Account>::given(vec![..]).when(cmd).then_events(vec![..])`.
#[derive(Debug)]
pub struct AggregateTest<A: Aggregate> {
    state: A,
}

impl<A: Aggregate> AggregateTest<A>
where
    A::Event: PartialEq + fmt::Debug,
    A::Error: PartialEq,
{
    /// The aggregate after `events`.
    pub fn given(events: Vec<A::Event>) -> Self {
        let mut state = A::default();
        for event in &events {
            state.apply(event);
        }
        Self { state }
    }

    /// Decides `command`.
    pub fn when(self, command: A::Command) -> AggregateOutcome<A> {
        AggregateOutcome {
            result: self.state.handle(command),
        }
    }
}

/// The decision of [`AggregateTest::when`].
#[derive(Debug)]
pub struct AggregateOutcome<A: Aggregate> {
    result: Result<Vec<A::Event>, A::Error>,
}

impl<A: Aggregate> AggregateOutcome<A>
where
    A::Event: PartialEq + fmt::Debug,
    A::Error: PartialEq,
{
    /// Asserts the command emitted exactly `expected`.
    #[track_caller]
    pub fn then_events(self, expected: Vec<A::Event>) {
        match self.result {
            Ok(events) => assert_eq!(events, expected, "the command emitted other events"),
            Err(err) => panic!("expected events {expected:?}, the command was rejected: {err}"),
        }
    }

    /// Asserts the command was refused with `expected`.
    #[track_caller]
    pub fn then_error(self, expected: A::Error) {
        match self.result {
            Ok(events) => panic!("expected the error {expected}, the command emitted {events:?}"),
            Err(err) => assert!(err == expected, "expected the error {expected}, got {err}"),
        }
    }
}
