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

mod record;
mod recovery;
mod snapshot;

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::marker::PhantomData;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use self::record::{MAX_BODY, Parsed, Record, SEGMENT_MAGIC};
pub use self::recovery::Truncation;
use crate::backend::{Appended, Backend, BackendStats, ExpectedVersion, Snapshot, StoreError};
use crate::codec::{Serialized, decode, serialize, serialize_raw};
use crate::event::{Envelope, Event, NewEvent, now_ms};
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
    file: File,
    path: PathBuf,
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
    /// Encoded records not yet written: (segment, bytes).
    queued: Vec<(u32, Vec<u8>)>,
    /// Set when a write or fsync failed: the file's state is unknown, so every later
    /// operation fails until the store is reopened (and recovery reads what is really there).
    failure: Option<String>,
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    state: Mutex<State>,
    /// The position up to which everything is fsynced and readable.
    durable: AtomicU64,
    /// Held by whoever is writing and syncing.
    writer: Arc<tokio::sync::Mutex<()>>,
    /// fsyncs of segment data so far.
    fsyncs: AtomicU64,
}

/// A durable event store in a directory. See the [module docs](self).
#[derive(Debug)]
pub struct WalBackend<E> {
    shared: Arc<Shared>,
    options: WalOptions,
    upcasters: Arc<Upcasters>,
    truncation: Option<Truncation>,
    /// Held (locked) while open: a second process must not append to the same files.
    _lock: File,
    _events: PhantomData<fn() -> E>,
}

/// An I/O failure on `path`, saying what was being done.
pub(super) fn io(what: &str, path: &Path, error: std::io::Error) -> StoreError {
    StoreError::Backend(format!("{what} {}: {error}", path.display()))
}

/// Creates a segment file durably: the file, its header, and its entry in the directory.
fn create_segment(dir: &Path, first_position: u64) -> Result<Arc<SegmentFile>, StoreError> {
    let path = dir.join(format!("{first_position:020}.{SEGMENT_EXTENSION}"));
    let create = || -> std::io::Result<File> {
        let mut file = OpenOptions::new()
            .create_new(true)
            .read(true)
            .append(true)
            .open(&path)?;
        file.write_all(SEGMENT_MAGIC)?;
        file.sync_all()?;
        File::open(dir)?.sync_all()?;
        Ok(file)
    };
    let file = create().map_err(|e| io("cannot create the segment", &path, e))?;
    Ok(Arc::new(SegmentFile { file, path }))
}

impl Segment {
    /// A segment starting at `first_position` whose file the writer will create.
    fn planned(first_position: u64) -> Self {
        Self {
            file: None,
            first_position,
            len: SEGMENT_MAGIC.len() as u64,
            empty: true,
        }
    }
}

impl<E: Event> WalBackend<E> {
    /// Opens (or creates) the store in `dir` with the default options.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(dir, WalOptions::default())
    }

    /// Opens (or creates) the store in `dir`: recovers its segments, cutting off a torn
    /// last append; a log damaged elsewhere is refused with [`StoreError::Corrupt`].
    pub fn open_with(dir: impl AsRef<Path>, options: WalOptions) -> Result<Self, StoreError> {
        let dir = dir.as_ref().to_owned();
        std::fs::create_dir_all(dir.join("snapshots")).map_err(|e| io("cannot create", &dir, e))?;
        let lock_path = dir.join("LOCK");
        let lock = File::create(&lock_path).map_err(|e| io("cannot create", &lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StoreError::Backend(format!(
                    "{} is open in another process (or another WalBackend)",
                    dir.display()
                )));
            }
            Err(TryLockError::Error(e)) => return Err(io("cannot lock", &lock_path, e)),
        }
        let recovered = recovery::recover(&dir)?;
        let mut segments = Vec::with_capacity(recovered.segments.len().max(1));
        for found in &recovered.segments {
            let file = OpenOptions::new()
                .read(true)
                .append(true)
                .open(&found.path)
                .map_err(|e| io("cannot open", &found.path, e))?;
            segments.push(Segment {
                file: Some(Arc::new(SegmentFile {
                    file,
                    path: found.path.clone(),
                })),
                first_position: found.first_position,
                len: found.len,
                empty: found.len <= SEGMENT_MAGIC.len() as u64,
            });
        }
        if segments.is_empty() {
            segments.push(Segment {
                file: Some(create_segment(&dir, 1)?),
                ..Segment::planned(1)
            });
        }
        let head = recovered.log.len() as u64;
        Ok(Self {
            shared: Arc::new(Shared {
                dir,
                state: Mutex::new(State {
                    streams: recovered.streams,
                    log: recovered.log,
                    segments,
                    queued: Vec::new(),
                    failure: None,
                }),
                durable: AtomicU64::new(head),
                writer: Arc::new(tokio::sync::Mutex::new(())),
                fsyncs: AtomicU64::new(0),
            }),
            options,
            upcasters: Arc::new(E::upcasters()),
            truncation: recovered.truncation,
            _lock: lock,
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
        let appended = self.queue(stream, expected, &events)?;
        self.make_durable(appended.last_position, writer).await?;
        Ok(appended)
    }

    /// Checks the expected version, assigns versions and positions, and queues the records.
    fn queue(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: &[Serialized],
    ) -> Result<Appended, StoreError> {
        let mut state = self.shared.lock()?;
        let state = &mut *state;
        let actual = state.streams.get(stream).map_or(0, Vec::len) as u64;
        if !expected.admits(actual) {
            return Err(StoreError::Conflict {
                stream: stream.to_owned(),
                expected,
                actual,
            });
        }
        let first_position = state.log.len() as u64 + 1;
        let current = state.segments.last().expect("a segment is always open");
        if current.len >= self.options.segment_bytes && !current.empty {
            state.segments.push(Segment::planned(first_position));
        }
        let segment_index = (state.segments.len() - 1) as u32;
        let segment = state.segments.last_mut().expect("a segment is always open");
        // Appends queued for one segment share one buffer: one write for the whole group.
        if state.queued.last().is_none_or(|(s, _)| *s != segment_index) {
            state.queued.push((segment_index, Vec::new()));
        }
        let bytes = &mut state.queued.last_mut().expect("pushed above").1;
        let start = bytes.len();
        let timestamp_ms = now_ms();
        if !state.streams.contains_key(stream) {
            state.streams.insert(Arc::from(stream), Vec::new());
        }
        let positions = state.streams.get_mut(stream).expect("inserted above");
        for (index, event) in events.iter().enumerate() {
            let offset = segment.len + (bytes.len() - start) as u64;
            let before = bytes.len();
            let position = first_position + index as u64;
            Record {
                position,
                version: actual + index as u64 + 1,
                timestamp_ms,
                schema_version: event.schema_version,
                batch_index: index as u32,
                batch_len: events.len() as u32,
                stream,
                event_type: &event.event_type,
                metadata: event.metadata.as_deref().map_or(&[][..], str::as_bytes),
                payload: event.payload.as_bytes(),
            }
            .encode(bytes);
            state.log.push(Location {
                segment: segment_index,
                offset,
                len: (bytes.len() - before) as u32,
            });
            positions.push(position);
        }
        segment.len += (bytes.len() - start) as u64;
        segment.empty = false;
        Ok(Appended {
            version: positions.len() as u64,
            first_position,
            last_position: state.log.len() as u64,
        })
    }

    /// Returns once everything up to `position` is fsynced, writing it if nobody else is.
    async fn make_durable(
        &self,
        position: u64,
        mut writer: Option<tokio::sync::OwnedMutexGuard<()>>,
    ) -> Result<(), StoreError> {
        loop {
            if self.shared.durable.load(Ordering::Acquire) >= position {
                return Ok(());
            }
            let guard = match writer.take() {
                Some(guard) => guard,
                None => Arc::clone(&self.shared.writer).lock_owned().await,
            };
            if self.shared.durable.load(Ordering::Acquire) >= position {
                return Ok(());
            }
            let shared = Arc::clone(&self.shared);
            // The guard travels with the write, so a cancelled append cannot let a second
            // writer in before this write has finished.
            tokio::task::spawn_blocking(move || {
                let _guard = guard;
                shared.write_queued()
            })
            .await
            .map_err(|e| StoreError::Backend(format!("the WAL writer task failed: {e}")))??;
        }
    }

    /// Reads the records at `locations` (in position order) and decodes them.
    async fn read_locations(
        &self,
        locations: Vec<Location>,
    ) -> Result<Vec<Envelope<E>>, StoreError> {
        if locations.is_empty() {
            return Ok(Vec::new());
        }
        let files = self.shared.lock()?.files();
        let upcasters = Arc::clone(&self.upcasters);
        tokio::task::spawn_blocking(move || read_records(&files, &locations, &upcasters))
            .await
            .map_err(|e| StoreError::Backend(format!("the WAL reader task failed: {e}")))?
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
                "an earlier write failed ({failure}); reopen the store to recover"
            ))),
            None => Ok(state),
        }
    }

    /// Writes and fsyncs everything queued; called with the writer held.
    fn write_queued(&self) -> Result<(), StoreError> {
        let (queued, mut files, firsts, head) = {
            let mut state = self.lock()?;
            let firsts: Vec<u64> = state.segments.iter().map(|s| s.first_position).collect();
            (
                std::mem::take(&mut state.queued),
                state.files(),
                firsts,
                state.log.len() as u64,
            )
        };
        let mut touched: Vec<Arc<SegmentFile>> = Vec::new();
        let sync_touched = |touched: &mut Vec<Arc<SegmentFile>>| -> std::io::Result<()> {
            for segment in touched.drain(..) {
                segment.file.sync_data()?;
                self.fsyncs.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        };
        let mut write = || -> Result<(), StoreError> {
            let failed = |e: std::io::Error| StoreError::Backend(e.to_string());
            for (index, bytes) in &queued {
                let index = *index as usize;
                let segment = match &files[index] {
                    Some(segment) => Arc::clone(segment),
                    None => {
                        // Everything before a new segment is durable before it exists.
                        sync_touched(&mut touched).map_err(failed)?;
                        let created = create_segment(&self.dir, firsts[index])?;
                        if let Ok(mut state) = self.state.lock() {
                            state.segments[index].file = Some(Arc::clone(&created));
                        }
                        files[index] = Some(Arc::clone(&created));
                        created
                    }
                };
                (&segment.file).write_all(bytes).map_err(failed)?;
                if touched.last().is_none_or(|t| !Arc::ptr_eq(t, &segment)) {
                    touched.push(segment);
                }
            }
            sync_touched(&mut touched).map_err(failed)
        };
        match write() {
            Ok(()) => {
                self.durable.store(head, Ordering::Release);
                Ok(())
            }
            Err(error) => {
                let message = format!("writing to the WAL in {}: {error}", self.dir.display());
                if let Ok(mut state) = self.state.lock() {
                    state.failure = Some(message.clone());
                }
                Err(StoreError::Backend(message))
            }
        }
    }
}

/// Checks the limits of the record format before anything is queued.
fn check_sizes(stream: &str, events: &[Serialized]) -> Result<(), StoreError> {
    if stream.len() > usize::from(u16::MAX) {
        return Err(StoreError::Backend(format!(
            "a stream id of {} bytes (at most {})",
            stream.len(),
            u16::MAX
        )));
    }
    for event in events {
        let metadata = event.metadata.as_ref().map_or(0, String::len);
        let size = 48 + stream.len() + event.event_type.len() + metadata;
        if event.event_type.len() > usize::from(u16::MAX) || size + event.payload.len() > MAX_BODY {
            return Err(StoreError::Backend(format!(
                "an event of type `{}` too large for the WAL ({} bytes, at most {MAX_BODY})",
                event.event_type,
                size + event.payload.len()
            )));
        }
    }
    Ok(())
}

/// Merges locations that are adjacent in one file into one read each.
fn read_records<E: Event>(
    files: &[Option<Arc<SegmentFile>>],
    locations: &[Location],
    upcasters: &Upcasters,
) -> Result<Vec<Envelope<E>>, StoreError> {
    let mut envelopes = Vec::with_capacity(locations.len());
    let mut buffer = Vec::new();
    let mut stream_id: Arc<str> = Arc::from("");
    let mut start = 0;
    while start < locations.len() {
        let first = locations[start];
        let mut end = start + 1;
        let mut run_end = first.offset + u64::from(first.len);
        while end < locations.len()
            && locations[end].segment == first.segment
            && locations[end].offset == run_end
        {
            run_end += u64::from(locations[end].len);
            end += 1;
        }
        buffer.resize((run_end - first.offset) as usize, 0);
        let segment = files[first.segment as usize]
            .as_ref()
            .expect("a segment holding durable events has its file");
        segment
            .file
            .read_exact_at(&mut buffer, first.offset)
            .map_err(|e| io("cannot read", &segment.path, e))?;
        let mut at = 0;
        for location in &locations[start..end] {
            let record = match record::parse(&buffer[at..]) {
                Parsed::Record(record, _) => record,
                Parsed::Incomplete | Parsed::Corrupt(_) => {
                    return Err(StoreError::Corrupt {
                        path: segment.path.clone(),
                        offset: location.offset,
                        reason: "a record changed on disk after the store was opened".into(),
                    });
                }
            };
            if *stream_id != *record.stream {
                stream_id = Arc::from(record.stream);
            }
            envelopes.push(envelope(record, &stream_id, upcasters)?);
            at += location.len as usize;
        }
        start = end;
    }
    Ok(envelopes)
}

fn envelope<E: Event>(
    record: Record<'_>,
    stream_id: &Arc<str>,
    upcasters: &Upcasters,
) -> Result<Envelope<E>, StoreError> {
    let undecodable = |e: String| {
        StoreError::Backend(format!(
            "stream `{}` version {} (position {}): {e}",
            record.stream, record.version, record.position
        ))
    };
    let metadata = record.metadata().map_err(undecodable)?;
    let payload: E = decode(
        upcasters,
        record.event_type,
        record.schema_version,
        &metadata,
        record.payload,
    )
    .map_err(undecodable)?;
    Ok(Envelope {
        stream_id: Arc::clone(stream_id),
        version: record.version,
        position: record.position,
        event_type: payload.event_type(),
        schema_version: record.schema_version,
        timestamp_ms: record.timestamp_ms,
        metadata,
        payload,
    })
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
        tokio::task::spawn_blocking(move || snapshot::save(&dir, &stream, &snapshot))
            .await
            .map_err(|e| StoreError::Backend(format!("the snapshot task failed: {e}")))?
    }

    async fn load_snapshot(&self, stream: &str) -> Result<Option<Snapshot>, StoreError> {
        let dir = self.shared.dir.join("snapshots");
        let stream = stream.to_owned();
        tokio::task::spawn_blocking(move || snapshot::load(&dir, &stream))
            .await
            .map_err(|e| StoreError::Backend(format!("the snapshot task failed: {e}")))?
    }

    async fn flush(&self) -> Result<(), StoreError> {
        let queued_up_to = self.shared.lock()?.log.len() as u64;
        self.make_durable(queued_up_to, None).await
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
