//! The in-memory backend: the default for tests and demos.
//!
//! Each stream keeps its events in one `Vec`; a global log of (stream, index) pairs gives the
//! position order. By layout an event costs its payload plus 32 bytes (position, timestamp,
//! an optional boxed metadata, the 8-byte log entry), before `Vec` growth slack; the memory
//! gate will measure the real figure.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::backend::{Appended, Backend, BackendStats, ExpectedVersion, Snapshot, StoreError};
use crate::event::{Envelope, Event, Metadata, NewEvent};

/// Events in memory; lost when the process ends.
#[derive(Debug)]
pub struct InMemoryBackend<E> {
    inner: RwLock<Inner<E>>,
}

#[derive(Debug)]
struct Inner<E> {
    index: HashMap<Arc<str>, u32>,
    streams: Vec<Stream<E>>,
    /// Position `p` is `log[p - 1]`: (stream index, event index in the stream).
    log: Vec<(u32, u32)>,
    snapshots: HashMap<Arc<str>, Snapshot>,
}

#[derive(Debug)]
struct Stream<E> {
    id: Arc<str>,
    events: Vec<Stored<E>>,
}

#[derive(Debug)]
struct Stored<E> {
    position: u64,
    timestamp_ms: u64,
    metadata: Option<Box<Metadata>>,
    payload: E,
}

impl<E> Default for InMemoryBackend<E> {
    fn default() -> Self {
        Self {
            inner: RwLock::new(Inner {
                index: HashMap::new(),
                streams: Vec::new(),
                log: Vec::new(),
                snapshots: HashMap::new(),
            }),
        }
    }
}

impl<E> InMemoryBackend<E> {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn poisoned() -> StoreError {
    StoreError::Backend("the in-memory store's lock was poisoned by a panic".into())
}

impl<E: Event> Stream<E> {
    fn envelope(&self, index: usize) -> Envelope<E> {
        let stored = &self.events[index];
        Envelope {
            stream_id: Arc::clone(&self.id),
            version: index as u64 + 1,
            position: stored.position,
            event_type: stored.payload.event_type(),
            schema_version: E::SCHEMA_VERSION,
            timestamp_ms: stored.timestamp_ms,
            metadata: stored.metadata.as_deref().cloned().unwrap_or_default(),
            payload: stored.payload.clone(),
        }
    }
}

impl<E: Event> Backend<E> for InMemoryBackend<E> {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent<E>>,
    ) -> Result<Appended, StoreError> {
        if events.is_empty() {
            return Err(StoreError::EmptyAppend);
        }
        let mut inner = self.inner.write().map_err(|_| poisoned())?;
        let inner = &mut *inner;
        let existing = inner.index.get(stream).copied();
        let actual = existing.map_or(0, |i| inner.streams[i as usize].events.len() as u64);
        if !expected.admits(actual) {
            return Err(StoreError::Conflict {
                stream: stream.to_owned(),
                expected,
                actual,
            });
        }
        let stream_index = match existing {
            Some(i) => i,
            None => {
                let id: Arc<str> = stream.into();
                let i = u32::try_from(inner.streams.len())
                    .map_err(|_| StoreError::Backend("more than 4 billion streams".into()))?;
                inner.streams.push(Stream {
                    id: Arc::clone(&id),
                    events: Vec::new(),
                });
                inner.index.insert(id, i);
                i
            }
        };
        let timestamp_ms = now_ms();
        let first_position = inner.log.len() as u64 + 1;
        let target = &mut inner.streams[stream_index as usize];
        for (offset, event) in events.into_iter().enumerate() {
            let event_index = u32::try_from(target.events.len()).map_err(|_| {
                StoreError::Backend("more than 4 billion events in a stream".into())
            })?;
            target.events.push(Stored {
                position: first_position + offset as u64,
                timestamp_ms,
                metadata: (!event.metadata.is_empty()).then(|| Box::new(event.metadata)),
                payload: event.payload,
            });
            inner.log.push((stream_index, event_index));
        }
        Ok(Appended {
            version: target.events.len() as u64,
            first_position,
            last_position: inner.log.len() as u64,
        })
    }

    async fn read_stream(
        &self,
        stream: &str,
        after_version: u64,
    ) -> Result<Vec<Envelope<E>>, StoreError> {
        let inner = self.inner.read().map_err(|_| poisoned())?;
        let Some(&i) = inner.index.get(stream) else {
            return Ok(Vec::new());
        };
        let stream = &inner.streams[i as usize];
        let start = usize::try_from(after_version)
            .unwrap_or(usize::MAX)
            .min(stream.events.len());
        Ok((start..stream.events.len())
            .map(|index| stream.envelope(index))
            .collect())
    }

    async fn read_all(
        &self,
        after_position: u64,
        limit: usize,
    ) -> Result<Vec<Envelope<E>>, StoreError> {
        let inner = self.inner.read().map_err(|_| poisoned())?;
        let start = usize::try_from(after_position)
            .unwrap_or(usize::MAX)
            .min(inner.log.len());
        let end = start.saturating_add(limit).min(inner.log.len());
        Ok(inner.log[start..end]
            .iter()
            .map(|&(s, e)| inner.streams[s as usize].envelope(e as usize))
            .collect())
    }

    async fn save_snapshot(&self, stream: &str, snapshot: Snapshot) -> Result<(), StoreError> {
        let mut inner = self.inner.write().map_err(|_| poisoned())?;
        inner.snapshots.insert(stream.into(), snapshot);
        Ok(())
    }

    async fn load_snapshot(&self, stream: &str) -> Result<Option<Snapshot>, StoreError> {
        let inner = self.inner.read().map_err(|_| poisoned())?;
        Ok(inner.snapshots.get(stream).cloned())
    }

    async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn stats(&self) -> Result<BackendStats, StoreError> {
        let inner = self.inner.read().map_err(|_| poisoned())?;
        Ok(BackendStats {
            events: inner.log.len() as u64,
            streams: inner.streams.len() as u64,
            head_position: inner.log.len() as u64,
        })
    }
}
