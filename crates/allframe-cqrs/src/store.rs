//! The event store: a backend, plus subscriptions that hear an event only after its append
//! returned.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use tokio::sync::Notify;

use crate::backend::{
    Appended, Backend, BackendStats, ExpectedVersion, Snapshot, StoreError, Wakeup,
};
use crate::event::{Envelope, Event, NewEvent};
use crate::memory::InMemoryBackend;
use crate::upcast::RawEvent;

/// How many events a subscription reads per round trip while catching up.
const CATCH_UP_BATCH: usize = 512;

/// Events of type `E` in backend `B`. Cheap to clone: clones share the backend.
#[derive(Debug)]
pub struct EventStore<E, B = InMemoryBackend<E>> {
    backend: Arc<B>,
    /// Where appends tell live subscriptions about new events.
    head: Arc<Head>,
    _events: PhantomData<fn() -> E>,
}

impl<E, B> Clone for EventStore<E, B> {
    fn clone(&self) -> Self {
        Self {
            backend: Arc::clone(&self.backend),
            head: Arc::clone(&self.head),
            _events: PhantomData,
        }
    }
}

impl<E: Event> EventStore<E> {
    /// A store in memory.
    pub fn in_memory() -> Self {
        Self::with_backend(InMemoryBackend::new())
    }
}

impl<E: Event, B: Backend<E>> EventStore<E, B> {
    /// A store over `backend` (whose existing events subscriptions will see from position 0).
    pub fn with_backend(backend: B) -> Self {
        Self {
            backend: Arc::new(backend),
            head: Arc::default(),
            _events: PhantomData,
        }
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Appends `events` to `stream` if its version admits `expected`; on a conflict nothing
    /// is written and the error says the stream's actual version.
    pub async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent<E>>,
    ) -> Result<Appended, StoreError> {
        let appended = self.backend.append(stream, expected, events).await?;
        self.announce(appended);
        Ok(appended)
    }

    /// Appends events in serialized form (imports, migrations, fixtures written by older
    /// code); they read back upcast by [`Event::upcasters`].
    pub async fn append_raw(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<RawEvent>,
    ) -> Result<Appended, StoreError> {
        let appended = self.backend.append_raw(stream, expected, events).await?;
        self.announce(appended);
        Ok(appended)
    }

    /// Only now, with the append durable, may subscribers hear of it.
    fn announce(&self, appended: Appended) {
        self.head.advance(appended.last_position);
    }

    /// The events of `stream` after `after_version` (0 for all).
    pub async fn read_stream(
        &self,
        stream: &str,
        after_version: u64,
    ) -> Result<Vec<Envelope<E>>, StoreError> {
        self.backend.read_stream(stream, after_version).await
    }

    /// Up to `limit` events after global position `after_position` (0 for the start).
    pub async fn read_all(
        &self,
        after_position: u64,
        limit: usize,
    ) -> Result<Vec<Envelope<E>>, StoreError> {
        self.backend.read_all(after_position, limit).await
    }

    /// Saves the stream's latest snapshot.
    pub async fn save_snapshot(&self, stream: &str, snapshot: Snapshot) -> Result<(), StoreError> {
        self.backend.save_snapshot(stream, snapshot).await
    }

    /// The stream's latest snapshot.
    pub async fn load_snapshot(&self, stream: &str) -> Result<Option<Snapshot>, StoreError> {
        self.backend.load_snapshot(stream).await
    }

    /// Makes everything appended durable.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.backend.flush().await
    }

    /// Counts.
    pub async fn stats(&self) -> Result<BackendStats, StoreError> {
        self.backend.stats().await
    }

    /// Every event after `after_position`: first those already stored (catch-up), then each
    /// new one as its append returns (live). Nothing is missed in between: the subscription
    /// always reads on from the last position it delivered.
    pub fn subscribe(&self, after_position: u64) -> Subscription<E, B> {
        Subscription {
            store: self.clone(),

            after: after_position,
            buffered: VecDeque::new(),
        }
    }
}

/// A subscription from [`EventStore::subscribe`].
#[derive(Debug)]
pub struct Subscription<E, B = InMemoryBackend<E>> {
    store: EventStore<E, B>,
    after: u64,
    buffered: VecDeque<Envelope<E>>,
}

impl<E: Event, B: Backend<E>> Subscription<E, B> {
    /// The next event, waiting for one to be appended if needed.
    pub async fn next(&mut self) -> Result<Envelope<E>, StoreError> {
        loop {
            if let Some(event) = self.buffered.pop_front() {
                self.after = event.position;
                return Ok(event);
            }
            let elsewhere = self.store.backend.appended_elsewhere();
            let batch = self.store.read_all(self.after, CATCH_UP_BATCH).await?;
            if !batch.is_empty() {
                self.buffered.extend(batch);
                continue;
            }
            let after = self.after;
            let poll = self.store.backend.poll_interval();
            self.store.head.wait_past(after, poll, elsewhere).await;
        }
    }

    /// The position of the last event delivered.
    pub fn position(&self) -> u64 {
        self.after
    }
}

/// The position of the last event whose append has returned, and a wake-up for live
/// subscriptions. Appends only pay for the wake-up when a subscription is waiting (a watch
/// channel notified every waiter slot on every append, the largest cost of an in-memory
/// append under `perf`).
#[derive(Debug, Default)]
struct Head {
    position: AtomicU64,
    waiting: AtomicUsize,
    notify: Notify,
}

impl Head {
    fn advance(&self, position: u64) {
        self.position.fetch_max(position, Ordering::SeqCst);
        // SeqCst orders this load after the store above: a subscription that counted
        // itself in after this load sees the new position when it checks.
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.notify.notify_waiters();
        }
    }

    /// Returns once the position is past `after`, when `elsewhere` comes (an append by
    /// another process), or after `poll`.
    async fn wait_past(&self, after: u64, poll: Option<Duration>, elsewhere: Wakeup) {
        let notified = self.notify.notified();
        tokio::pin!(notified);
        // Registered before the check, so a notification between the two is not lost.
        notified.as_mut().enable();
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _counted = Counted(&self.waiting);
        if self.position.load(Ordering::SeqCst) > after {
            return;
        }
        let elsewhere = elsewhere.come();
        tokio::pin!(elsewhere);
        let either = std::future::poll_fn(|cx| {
            if notified.as_mut().poll(cx).is_ready() || elsewhere.as_mut().poll(cx).is_ready() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        });
        match poll {
            None => either.await,
            Some(interval) => drop(tokio::time::timeout(interval, either).await),
        }
    }
}

/// Counts a waiting subscription out again, even when its future is dropped.
struct Counted<'a>(&'a AtomicUsize);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
