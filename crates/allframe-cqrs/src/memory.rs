//! The in-memory backend: the default for tests and demos.
//!
//! Each stream keeps its events in one `Vec`; a global log of (stream, index) pairs gives the
//! position order. Beyond the event itself, each costs its position, timestamp, an optional
//! boxed metadata and an 8-byte log entry; `cargo xtask memory` (scenario `memory_store`)
//! measures what that comes to per event, `Vec` growth slack included.

use std::sync::{Arc, RwLock};

use crate::backend::{
    Appended, Backend, BackendStats, ExpectedVersion, Snapshot, StoreError, check_stream_id,
};
use crate::event::{Envelope, Event, Metadata, NewEvent, now_ms};
use crate::map::FastMap;
use crate::upcast::{RawEvent, from_raw};

/// Events in memory; lost when the process ends.
#[derive(Debug)]
pub struct InMemoryBackend<E> {
    inner: RwLock<Inner<E>>,
}

#[derive(Debug)]
struct Inner<E> {
    index: FastMap<Arc<str>, u32>,
    streams: Vec<Stream<E>>,
    /// Position `p` is `log[p - 1]`: (stream index, event index in the stream).
    log: Vec<(u32, u32)>,
    snapshots: FastMap<Arc<str>, Snapshot>,
    /// Schema versions of imported events written before the current one, by position
    /// (rare, so kept aside rather than in every event).
    written_versions: FastMap<u64, u32>,
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
                index: FastMap::default(),
                streams: Vec::new(),
                log: Vec::new(),
                snapshots: FastMap::default(),
                written_versions: FastMap::default(),
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

fn poisoned() -> StoreError {
    StoreError::Backend("the in-memory store's lock was poisoned by a panic".into())
}

impl<E: Event> Inner<E> {
    fn envelope(&self, stream: &Stream<E>, index: usize) -> Envelope<E> {
        let stored = &stream.events[index];
        Envelope {
            stream_id: Arc::clone(&stream.id),
            version: index as u64 + 1,
            position: stored.position,
            event_type: stored.payload.event_type(),
            schema_version: self
                .written_versions
                .get(&stored.position)
                .copied()
                .unwrap_or(E::SCHEMA_VERSION),
            timestamp_ms: stored.timestamp_ms,
            metadata: stored.metadata.as_deref().cloned().unwrap_or_default(),
            payload: stored.payload.clone(),
        }
    }
}

impl<E: Event> InMemoryBackend<E> {
    /// Appends events, each with the schema version it was written with when older than
    /// the current one.
    fn append_written(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<(NewEvent<E>, Option<u32>)>,
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
                check_stream_id(stream)?;
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
        for (offset, (event, written_version)) in events.into_iter().enumerate() {
            let position = first_position + offset as u64;
            if let Some(version) = written_version {
                inner.written_versions.insert(position, version);
            }
            let target = &mut inner.streams[stream_index as usize];
            let event_index = u32::try_from(target.events.len()).map_err(|_| {
                StoreError::Backend("more than 4 billion events in a stream".into())
            })?;
            target.events.push(Stored {
                position,
                timestamp_ms,
                metadata: (!event.metadata.is_empty()).then(|| Box::new(event.metadata)),
                payload: event.payload,
            });
            inner.log.push((stream_index, event_index));
        }
        Ok(Appended {
            version: inner.streams[stream_index as usize].events.len() as u64,
            first_position,
            last_position: inner.log.len() as u64,
        })
    }
}

impl<E: Event> Backend<E> for InMemoryBackend<E> {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent<E>>,
    ) -> Result<Appended, StoreError> {
        self.append_written(
            stream,
            expected,
            events.into_iter().map(|event| (event, None)).collect(),
        )
    }

    /// Events here are typed, so raw events are upcast and decoded as they enter; a raw
    /// event that cannot be brought to the current schema fails the whole append.
    async fn append_raw(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<RawEvent>,
    ) -> Result<Appended, StoreError> {
        let upcasters = E::upcasters();
        let decoded = events
            .into_iter()
            .enumerate()
            .map(|(i, raw)| {
                let written = raw.schema_version;
                let metadata = raw.metadata.clone();
                let payload = from_raw(&upcasters, raw).map_err(|e| {
                    StoreError::Backend(format!("raw event {i} for stream `{stream}`: {e}"))
                })?;
                let event = NewEvent::new(payload).with_metadata(metadata);
                Ok((event, (written != E::SCHEMA_VERSION).then_some(written)))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.append_written(stream, expected, decoded)
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
            .map(|index| inner.envelope(stream, index))
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
            .map(|&(s, e)| inner.envelope(&inner.streams[s as usize], e as usize))
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
