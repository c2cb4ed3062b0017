//! The durable embedded backend: events in append-only segment files in one directory, no
//! server.
//!
//! - Each event is a record with a CRC-32 ([`record`]); segments roll over at
//!   [`WalOptions::segment_bytes`], only between appends.
//! - An append returns once its records are fsynced. With [`SyncMode::GroupCommit`] the
//!   appends that arrive while one fsync runs share the next one.
//! - Readers see an event only once it is durable, so nothing read can vanish in a crash.
//! - Opening rebuilds the indexes from the segments, cuts off a torn last append, and
//!   refuses a log damaged anywhere else ([`StoreError::Corrupt`], naming file and offset).
//! - Only positions and file locations stay in memory (`cargo xtask memory`, scenario
//!   `wal_replay`, measures the bytes per event); events are read back from the files (the
//!   page cache, mostly).
//! - Snapshots are files of their own, replaced atomically.

mod commit;
mod disk;
mod reader;
mod record;
mod recovery;
#[cfg(test)]
mod simulated;
mod snapshot;
mod writer;

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use self::disk::{DirLock, Disk, DiskFile, OsDisk};
use self::record::SEGMENT_MAGIC;
pub use self::recovery::{Truncation, TruncationCause};
use self::writer::{check_sizes, create_segment};
use crate::backend::{Appended, Backend, BackendStats, ExpectedVersion, Snapshot, StoreError};
use crate::codec::{Serialized, serialize, serialize_raw};
use crate::event::{Envelope, Event, NewEvent};
use crate::map::FastMap;
use crate::upcast::{RawEvent, Upcasters};

const SEGMENT_EXTENSION: &str = "wal";

/// When appends reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// Concurrent appends share one fsync: the one that finds the disk idle writes and
    /// syncs everything queued so far, the others wait for it.
    #[default]
    GroupCommit,
    /// Each append is written and fsynced on its own, one at a time (the slow baseline that
    /// group commit is measured against).
    PerAppend,
}

/// How a [`WalBackend`] is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalOptions {
    /// When appends reach the disk.
    pub sync: SyncMode,
    /// A segment is closed and a new one started once it holds this many bytes.
    pub segment_bytes: u64,
}

impl Default for WalOptions {
    fn default() -> Self {
        Self {
            sync: SyncMode::GroupCommit,
            segment_bytes: 64 << 20,
        }
    }
}

/// Where an event's record is.
#[derive(Debug, Clone, Copy)]
struct Location {
    segment: u32,
    offset: u64,
    len: u32,
}

#[derive(Debug)]
struct SegmentFile {
    file: Box<dyn DiskFile>,
    path: PathBuf,
}

/// Records queued for one segment, written (and fsynced) together behind one header.
#[derive(Debug)]
struct Commit {
    segment: u32,
    first_position: u64,
    /// The header's room, then the records.
    bytes: Vec<u8>,
}

#[derive(Debug)]
struct Segment {
    /// `None` until the writer creates it: only once everything before it is durable, so a
    /// crash never leaves a later segment beside an unfinished earlier one.
    file: Option<Arc<SegmentFile>>,
    /// The position of its first event (its file name).
    first_position: u64,
    /// Bytes written or queued.
    len: u64,
    /// Whether it holds no record yet.
    empty: bool,
}

#[derive(Debug)]
struct State {
    /// The positions of each stream's events, version `v` at index `v - 1`; includes
    /// appends not yet durable (they decide the next version).
    streams: FastMap<Arc<str>, Vec<u64>>,
    /// Position `p` is `log[p - 1]`.
    log: Vec<Location>,
    segments: Vec<Segment>,
    /// Encoded records not yet written.
    queued: Vec<Commit>,
    /// Set when a write or fsync failed: the file's state is unknown, so every later
    /// operation fails until the store is reopened (and recovery reads what is really there).
    failure: Option<String>,
    /// Appends taken back because their segment could not be created (nothing of them was
    /// written): the first position each time, and why. Its length is [`Shared::epoch`].
    taken_back: Vec<(u64, String)>,
}

#[derive(Debug)]
struct Shared {
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    state: Mutex<State>,
    /// The position up to which everything is fsynced and readable.
    durable: AtomicU64,
    /// Held by whoever is writing and syncing.
    writer: Arc<tokio::sync::Mutex<()>>,
    /// fsyncs of segment data so far.
    fsyncs: AtomicU64,
    /// How many times queued appends were taken back (`State::taken_back`): an append
    /// queued at an epoch checks, once durable, that it was not taken back since.
    epoch: AtomicU64,
    /// The directory's lock, held while anything may still write to it: a writer task
    /// outlives the backend when an append is abandoned, and keeps the lock till it is done.
    _lock: DirLock,
}

/// How often a live subscription looks for events of appends nobody awaited to the end.
const ABANDONED_APPEND_POLL: Duration = Duration::from_millis(100);

/// A durable event store in a directory. See the [module docs](self).
#[derive(Debug)]
pub struct WalBackend<E> {
    shared: Arc<Shared>,
    options: WalOptions,
    upcasters: Arc<Upcasters>,
    truncation: Option<Truncation>,
    _events: PhantomData<fn() -> E>,
}

/// An I/O failure on `path`, saying what was being done.
pub(super) fn io(what: &str, path: &Path, error: std::io::Error) -> StoreError {
    StoreError::Backend(format!("{what} {}: {error}", path.display()))
}

impl<E: Event> WalBackend<E> {
    /// Opens (or creates) the store in `dir` with the default options.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(dir, WalOptions::default())
    }

    /// Opens (or creates) the store in `dir`: recovers its segments, cutting off a torn
    /// last append; a log damaged elsewhere is refused with [`StoreError::Corrupt`].
    pub fn open_with(dir: impl AsRef<Path>, options: WalOptions) -> Result<Self, StoreError> {
        Self::open_on(Arc::new(OsDisk), dir.as_ref(), options)
    }

    fn open_on(disk: Arc<dyn Disk>, dir: &Path, options: WalOptions) -> Result<Self, StoreError> {
        let dir = dir.to_owned();
        disk.create_dir_all(&dir.join("snapshots"))
            .map_err(|e| io("cannot create", &dir, e))?;
        let lock_path = dir.join("LOCK");
        let lock = disk
            .lock(&lock_path)
            .map_err(|e| io("cannot lock", &lock_path, e))?
            .ok_or_else(|| {
                StoreError::Backend(format!(
                    "{} is open in another process (or another WalBackend, or a write of a \
                     closed one is still running)",
                    dir.display()
                ))
            })?;
        if disk.has_sync_failed(&dir) {
            return Err(StoreError::Backend(format!(
                "an fsync in {} failed earlier in this process: the kernel may have dropped \
                 pages it still shows as written, so only a new process can read what the \
                 disk holds; restart the process to open the store",
                dir.display()
            )));
        }
        let recovered = recovery::recover(&*disk, &dir)?;
        let mut segments = Vec::with_capacity(recovered.segments.len().max(1));
        for found in recovered.segments {
            let empty = found.len <= SEGMENT_MAGIC.len() as u64;
            segments.push(Segment {
                file: Some(Arc::new(SegmentFile {
                    file: found.file,
                    path: found.path,
                })),
                first_position: found.first_position,
                len: found.len,
                empty,
            });
        }
        if segments.is_empty() {
            segments.push(Segment {
                file: Some(create_segment(&*disk, &dir, 1)?),
                ..Segment::planned(1)
            });
        }
        let head = recovered.log.len() as u64;
        Ok(Self {
            shared: Arc::new(Shared {
                disk,
                dir,
                state: Mutex::new(State {
                    streams: recovered.streams,
                    log: recovered.log,
                    segments,
                    queued: Vec::new(),
                    failure: None,
                    taken_back: Vec::new(),
                }),
                durable: AtomicU64::new(head),
                writer: Arc::new(tokio::sync::Mutex::new(())),
                fsyncs: AtomicU64::new(0),
                epoch: AtomicU64::new(0),
                _lock: lock,
            }),
            options,
            upcasters: Arc::new(E::upcasters()),
            truncation: recovered.truncation,
            _events: PhantomData,
        })
    }

    /// What opening cut off the end of the log, if anything.
    pub fn truncation(&self) -> Option<&Truncation> {
        self.truncation.as_ref()
    }

    /// How many times appended data was fsynced since the store was opened: with group
    /// commit, fewer than the appends when they overlap.
    pub fn fsyncs(&self) -> u64 {
        self.shared.fsyncs.load(Ordering::Relaxed)
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    async fn append_encoded(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<Serialized>,
    ) -> Result<Appended, StoreError> {
        if events.is_empty() {
            return Err(StoreError::EmptyAppend);
        }
        check_sizes(stream, &events)?;
        // Per-append sync: hold the writer from queueing to fsync, so no other append shares it.
        let writer = match self.options.sync {
            SyncMode::PerAppend => Some(Arc::clone(&self.shared.writer).lock_owned().await),
            SyncMode::GroupCommit => None,
        };
        let (appended, epoch) = match self.queue(stream, expected, &events) {
            Ok(queued) => queued,
            Err(conflict @ StoreError::Conflict { .. }) => {
                // The versions this append lost to may still be on their way to disk, unseen
                // by readers: the conflict is reported once they are durable, so a retry
                // reloads the state it lost to instead of deciding on the same one again.
                let (winner, epoch) = {
                    let state = self.shared.lock()?;
                    let winner = state.streams.get(stream).and_then(|p| p.last().copied());
                    (winner, state.taken_back.len() as u64)
                };
                if let Some(position) = winner {
                    let waited =
                        commit::make_durable_detached(&self.shared, position, epoch, writer).await;
                    // A winner taken back leaves the version free: the conflict still holds
                    // for what this append was decided on, and a retry reloads.
                    if let Err(error) = waited
                        && self.shared.lock().is_err()
                    {
                        return Err(error);
                    }
                }
                return Err(conflict);
            }
            Err(other) => return Err(other),
        };
        commit::make_durable_detached(&self.shared, appended.last_position, epoch, writer).await?;
        Ok(appended)
    }
}

impl State {
    fn files(&self) -> Vec<Option<Arc<SegmentFile>>> {
        self.segments.iter().map(|s| s.file.clone()).collect()
    }
}

impl Shared {
    fn lock(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        let state = self
            .state
            .lock()
            .map_err(|_| StoreError::Backend("the WAL's lock was poisoned by a panic".into()))?;
        match &state.failure {
            Some(failure) => Err(StoreError::Backend(format!(
                "an earlier write failed ({failure}); reopen the store to recover (after a \
                 failed fsync, in a new process)"
            ))),
            None => Ok(state),
        }
    }
}

impl<E: Event> Backend<E> for WalBackend<E> {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent<E>>,
    ) -> Result<Appended, StoreError> {
        let encoded = serialize(stream, &events)?;
        self.append_encoded(stream, expected, encoded).await
    }

    /// Stored as given; upcast when read.
    async fn append_raw(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<RawEvent>,
    ) -> Result<Appended, StoreError> {
        let encoded = serialize_raw(stream, events)?;
        self.append_encoded(stream, expected, encoded).await
    }

    async fn read_stream(
        &self,
        stream: &str,
        after_version: u64,
    ) -> Result<Vec<Envelope<E>>, StoreError> {
        let locations = {
            let state = self.shared.lock()?;
            let durable = self.shared.durable.load(Ordering::Acquire);
            let positions = state.streams.get(stream).map_or(&[][..], Vec::as_slice);
            let start = usize::try_from(after_version)
                .unwrap_or(usize::MAX)
                .min(positions.len());
            positions[start..]
                .iter()
                .take_while(|&&p| p <= durable)
                .map(|&p| state.log[p as usize - 1])
                .collect()
        };
        self.read_locations(locations).await
    }

    async fn read_all(
        &self,
        after_position: u64,
        limit: usize,
    ) -> Result<Vec<Envelope<E>>, StoreError> {
        let locations = {
            let state = self.shared.lock()?;
            let durable = self.shared.durable.load(Ordering::Acquire) as usize;
            let start = usize::try_from(after_position)
                .unwrap_or(usize::MAX)
                .min(durable);
            let end = start.saturating_add(limit).min(durable);
            state.log[start..end].to_vec()
        };
        self.read_locations(locations).await
    }

    async fn save_snapshot(&self, stream: &str, snapshot: Snapshot) -> Result<(), StoreError> {
        if stream.len() > usize::from(u16::MAX) {
            return Err(StoreError::Backend("a stream id over 65535 bytes".into()));
        }
        let dir = self.shared.dir.join("snapshots");
        let stream = stream.to_owned();
        let disk = Arc::clone(&self.shared.disk);
        tokio::task::spawn_blocking(move || snapshot::save(&*disk, &dir, &stream, &snapshot))
            .await
            .map_err(|e| StoreError::Backend(format!("the snapshot task failed: {e}")))?
    }

    async fn load_snapshot(&self, stream: &str) -> Result<Option<Snapshot>, StoreError> {
        let dir = self.shared.dir.join("snapshots");
        let stream = stream.to_owned();
        let disk = Arc::clone(&self.shared.disk);
        tokio::task::spawn_blocking(move || snapshot::load(&*disk, &dir, &stream))
            .await
            .map_err(|e| StoreError::Backend(format!("the snapshot task failed: {e}")))?
    }

    async fn flush(&self) -> Result<(), StoreError> {
        loop {
            let (queued_up_to, epoch) = {
                let state = self.shared.lock()?;
                (state.log.len() as u64, state.taken_back.len() as u64)
            };
            let flushed =
                commit::make_durable(Arc::clone(&self.shared), queued_up_to, epoch, None).await;
            // Appends taken back meanwhile are not this flush's failure: what is left is
            // flushed again.
            if flushed.is_err() && self.shared.epoch.load(Ordering::Acquire) != epoch {
                continue;
            }
            return flushed;
        }
    }

    /// An append whose caller gave up is still made durable (in a task of its own) but
    /// announces nothing: live subscriptions also look this often, so they hear of it.
    fn poll_interval(&self) -> Option<Duration> {
        Some(ABANDONED_APPEND_POLL)
    }

    async fn stats(&self) -> Result<BackendStats, StoreError> {
        let state = self.shared.lock()?;
        let durable = self.shared.durable.load(Ordering::Acquire);
        Ok(BackendStats {
            events: durable,
            streams: state
                .streams
                .values()
                .filter(|positions| positions.first().is_some_and(|&p| p <= durable))
                .count() as u64,
            head_position: durable,
        })
    }
}
