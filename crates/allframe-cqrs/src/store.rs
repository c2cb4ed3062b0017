//! The event store: a backend, plus subscriptions that hear an event only after its append
//! returned.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::Arc;

use tokio::sync::watch;

use crate::backend::{Appended, Backend, BackendStats, ExpectedVersion, Snapshot, StoreError};
use crate::event::{Envelope, Event, NewEvent};
use crate::memory::InMemoryBackend;
use crate::upcast::RawEvent;

/// How many events a subscription reads per round trip while catching up.
const CATCH_UP_BATCH: usize = 512;

/// Events of type `E` in backend `B`. Cheap to clone: clones share the backend.
#[derive(Debug)]
pub struct EventStore<E, B = InMemoryBackend<E>> {
    backend: Arc<B>,
    /// The position of the last event whose append has returned.
    head: Arc<watch::Sender<u64>>,
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
            head: Arc::new(watch::channel(0).0),
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
        self.head.send_if_modified(|head| {
            let advanced = appended.last_position > *head;
            if advanced {
                *head = appended.last_position;
            }
            advanced
        });
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
            head: self.head.subscribe(),
            after: after_position,
            buffered: VecDeque::new(),
        }
    }
}

/// A subscription from [`EventStore::subscribe`].
#[derive(Debug)]
pub struct Subscription<E, B = InMemoryBackend<E>> {
    store: EventStore<E, B>,
    head: watch::Receiver<u64>,
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
            let batch = self.store.read_all(self.after, CATCH_UP_BATCH).await?;
            if !batch.is_empty() {
                self.buffered.extend(batch);
                continue;
            }
            let after = self.after;
            // The store outlives this wait (we hold a clone), so the channel stays open.
            let appended_here = self.head.wait_for(|head| *head > after);
            match self.store.backend.poll_interval() {
                None => drop(appended_here.await),
                // Appends by other processes wake nobody here: look again after a while.
                Some(interval) => drop(tokio::time::timeout(interval, appended_here).await),
            }
        }
    }

    /// The position of the last event delivered.
    pub fn position(&self) -> u64 {
        self.after
    }
}
