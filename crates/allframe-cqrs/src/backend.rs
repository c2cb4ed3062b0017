//! The storage contract every backend implements (memory, durable file, PostgreSQL) and
//! proves with [`crate::conformance`].

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;

use crate::event::{Envelope, Event, NewEvent};
use crate::upcast::RawEvent;

/// What the writer believes the stream's version to be; a different actual version is a
/// [`StoreError::Conflict`] and nothing is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last event must have this version.
    Exactly(u64),
}

impl ExpectedVersion {
    /// Whether a stream at `actual` (0 for none) satisfies this expectation.
    pub fn admits(self, actual: u64) -> bool {
        match self {
            Self::Any => true,
            Self::NoStream => actual == 0,
            Self::Exactly(expected) => expected == actual,
        }
    }
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The stream's version after the append.
    pub version: u64,
    /// Global position of the first appended event.
    pub first_position: u64,
    /// Global position of the last appended event.
    pub last_position: u64,
}

/// The latest saved state of a stream, serialized by its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The stream version the state includes.
    pub version: u64,
    /// The serialized state.
    pub data: Vec<u8>,
}

/// Counts a backend keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackendStats {
    /// Events stored.
    pub events: u64,
    /// Streams with at least one event.
    pub streams: u64,
    /// The position of the last event (0 when empty).
    pub head_position: u64,
}

/// Why a store operation failed.
#[derive(Debug)]
pub enum StoreError {
    /// The stream's version is not the expected one; nothing was written.
    Conflict {
        /// The stream.
        stream: String,
        /// What the writer expected.
        expected: ExpectedVersion,
        /// What the stream's version is.
        actual: u64,
    },
    /// An append of no events.
    EmptyAppend,
    /// Stored data is damaged; the store refuses it rather than lose what follows.
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// The byte offset of the damage in it.
        offset: u64,
        /// What is wrong there.
        reason: String,
    },
    /// A stream id no backend can keep (it holds a NUL character, which PostgreSQL's text
    /// refuses): refused by every backend alike, nothing written.
    InvalidStreamId {
        /// The stream id.
        stream: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The backend could not do it in time (a PostgreSQL lock held past its timeout by a
    /// writer that is stuck): nothing was written, and the same call may succeed later.
    Unavailable(String),
    /// The backend failed (I/O, database, an undecodable event); the message says where.
    Backend(String),
}

/// Refuses a stream id that some backend could not store, so that all refuse it alike.
pub(crate) fn check_stream_id(stream: &str) -> Result<(), StoreError> {
    if stream.as_bytes().contains(&0) {
        return Err(StoreError::InvalidStreamId {
            stream: stream.to_owned(),
            reason: "it holds a NUL character",
        });
    }
    Ok(())
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Conflict {
                stream,
                expected,
                actual,
            } => write!(
                f,
                "stream `{stream}` is at version {actual}, the append expected {expected:?}"
            ),
            Self::EmptyAppend => f.write_str("an append needs at least one event"),
            Self::Corrupt {
                path,
                offset,
                reason,
            } => write!(
                f,
                "{} is corrupt at byte offset {offset}: {reason}; refusing it rather than drop \
                 the events after it (restore the file, or cut it there knowingly)",
                path.display()
            ),
            Self::InvalidStreamId { stream, reason } => {
                write!(f, "the stream id {stream:?} cannot be stored: {reason}")
            }
            Self::Unavailable(msg) => write!(f, "event store unavailable for now: {msg}"),
            Self::Backend(msg) => write!(f, "event store backend: {msg}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// Storage for events of type `E`. All methods are atomic: an append writes all of its
/// events or none, and once it returns `Ok` its events are durable (as far as the backend
/// promises durability) and visible to every read.
pub trait Backend<E: Event>: Send + Sync + 'static {
    /// Appends `events` to `stream` if its version admits `expected`.
    fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent<E>>,
    ) -> impl Future<Output = Result<Appended, StoreError>> + Send;

    /// Appends events in their serialized form, as written by another program or an older
    /// version of this one (imports, migrations between backends, fixtures). Stored as given
    /// where the backend stores serialized events; [`Event::upcasters`] apply on read.
    fn append_raw(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<RawEvent>,
    ) -> impl Future<Output = Result<Appended, StoreError>> + Send;

    /// The events of `stream` with a version above `after_version`, in order.
    fn read_stream(
        &self,
        stream: &str,
        after_version: u64,
    ) -> impl Future<Output = Result<Vec<Envelope<E>>, StoreError>> + Send;

    /// Up to `limit` events of all streams with a position above `after_position`, in
    /// position order.
    fn read_all(
        &self,
        after_position: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Envelope<E>>, StoreError>> + Send;

    /// Stores `snapshot` as the stream's latest, replacing an older one.
    fn save_snapshot(
        &self,
        stream: &str,
        snapshot: Snapshot,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The stream's latest snapshot, if any.
    fn load_snapshot(
        &self,
        stream: &str,
    ) -> impl Future<Output = Result<Option<Snapshot>, StoreError>> + Send;

    /// Makes everything appended so far durable (a no-op where appends already are).
    fn flush(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Counts.
    fn stats(&self) -> impl Future<Output = Result<BackendStats, StoreError>> + Send;

    /// How often a live subscription looks for events it was not told of: appended by
    /// other processes (PostgreSQL), or by appends whose callers stopped awaiting them after
    /// they were queued (the durable file backend still writes those). `None`: every append
    /// completes under its caller, in this process, and wakes subscriptions at once.
    fn poll_interval(&self) -> Option<Duration> {
        None
    }

    /// Wakes a live subscription when another process may have appended (PostgreSQL: a
    /// `NOTIFY`), before its poll interval is up. Taken before the subscription reads, so a
    /// wake-up between the read and the wait is not lost. Never, by default.
    fn appended_elsewhere(&self) -> Wakeup {
        Wakeup::never()
    }
}

/// A wake-up from outside this process, from [`Backend::appended_elsewhere`].
#[derive(Debug)]
pub struct Wakeup(Option<watch::Receiver<u64>>);

impl Wakeup {
    /// One that never comes.
    pub fn never() -> Self {
        Self(None)
    }

    /// Comes at the next change of `woken` after this call.
    #[cfg_attr(
        not(feature = "postgres"),
        allow(dead_code, reason = "only PostgreSQL wakes")
    )]
    pub(crate) fn on(woken: &watch::Sender<u64>) -> Self {
        Self(Some(woken.subscribe()))
    }

    /// Resolves when the wake-up comes.
    pub async fn come(self) {
        if let Some(mut woken) = self.0
            && woken.changed().await.is_ok()
        {
            return;
        }
        std::future::pending().await
    }
}
