//! Opening a log: every segment is read and checked commit by commit, the indexes are
//! rebuilt, and a torn last commit (one the process died writing, or whose fsync never
//! finished, whichever of its pages reached the disk) is cut off. Damage anywhere else
//! refuses to open: every commit before the last was fsynced, its events acknowledged.
//!
//! Segments are read in chunks, so recovery holds one chunk (or one record, if larger) in
//! memory, not a segment.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::disk::{Disk, DiskFile};
use super::io;
use super::record::{self, COMMIT_HEADER, HEADER, MAX_BODY, Parsed, SEGMENT_MAGIC};
use super::{Location, SEGMENT_EXTENSION};
use crate::backend::StoreError;
use crate::map::FastMap;

/// Bytes read from a segment at a time.
pub(super) const CHUNK: usize = 1 << 20;

/// A segment found on disk.
#[derive(Debug)]
pub(super) struct FoundSegment {
    pub(super) path: PathBuf,
    /// Open for reading and appending.
    pub(super) file: Box<dyn DiskFile>,
    /// The position of its first event (its name).
    pub(super) first_position: u64,
    /// Its length after recovery.
    pub(super) len: u64,
}

/// What was cut off the end of the last segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// The segment file.
    pub path: PathBuf,
    /// Where the torn commit began; the file now ends here.
    pub offset: u64,
    /// How many bytes were dropped.
    pub bytes: u64,
    /// Why the commit counted as torn.
    pub cause: TruncationCause,
}

/// Why the last commit of a log was cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TruncationCause {
    /// The log ends before the commit does: its write never finished.
    Incomplete,
    /// The commit has its full length but part of it fails its checksum. A crash during its
    /// write does this (a page that never reached the disk) and so does damage to the last
    /// acknowledged commit, which no reader can tell apart: recovery cuts it, and logs a
    /// warning naming file and offset.
    Damaged {
        /// What failed.
        reason: String,
    },
}

/// The rebuilt state of a log.
#[derive(Debug, Default)]
pub(super) struct Recovered {
    pub(super) segments: Vec<FoundSegment>,
    /// Position `p` is `log[p - 1]`.
    pub(super) log: Vec<Location>,
    /// The positions of each stream's events, version `v` at index `v - 1`.
    pub(super) streams: FastMap<Arc<str>, Vec<u64>>,
    pub(super) truncation: Option<Truncation>,
}

fn corrupt(path: &Path, offset: u64, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        path: path.to_owned(),
        offset,
        reason: reason.into(),
    }
}

/// The segment files of `dir`, in position order, with the position each starts at.
pub(super) fn list_segments(
    disk: &dyn Disk,
    dir: &Path,
) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let mut segments = Vec::new();
    for path in disk.list(dir).map_err(|e| io("cannot list", dir, e))? {
        if path.extension().and_then(|e| e.to_str()) != Some(SEGMENT_EXTENSION) {
            continue;
        }
        let first = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| corrupt(&path, 0, "a segment's name must be its first position"))?;
        segments.push((first, path));
    }
    segments.sort();
    Ok(segments)
}

/// Reads every segment of `dir`.
pub(super) fn recover(disk: &dyn Disk, dir: &Path) -> Result<Recovered, StoreError> {
    let mut recovered = Recovered::default();
    let segments = list_segments(disk, dir)?;
    let count = segments.len();
    for (index, (first_position, path)) in segments.into_iter().enumerate() {
        let is_last = index + 1 == count;
        let file = disk
            .open(&path, false)
            .map_err(|e| io("cannot open", &path, e))?;
        let file_len = file.len().map_err(|e| io("cannot read", &path, e))?;
        let next_position = recovered.log.len() as u64 + 1;
        if first_position != next_position {
            return Err(corrupt(
                &path,
                0,
                format!(
                    "the segment starts at position {first_position} but the log before it \
                     ends at {} (a segment is missing)",
                    next_position - 1
                ),
            ));
        }
        let segment = u32::try_from(index).map_err(|_| corrupt(&path, 0, "too many segments"))?;
        let mut scan = Scan {
            path: &path,
            chunks: Chunks::new(&*file, file_len),
            segment,
            is_last,
            recovered: &mut recovered,
        };
        let len = match scan.segment()? {
            Some((offset, cause)) => {
                truncate(&*file, &path, offset)?;
                let truncation = Truncation {
                    path: path.clone(),
                    offset,
                    bytes: file_len - offset,
                    cause,
                };
                announce(&truncation);
                recovered.truncation = Some(truncation);
                offset.max(SEGMENT_MAGIC.len() as u64)
            }
            None => file_len,
        };
        recovered.segments.push(FoundSegment {
            path,
            file,
            first_position,
            len,
        });
    }
    Ok(recovered)
}

fn announce(truncation: &Truncation) {
    let Truncation {
        path,
        offset,
        bytes,
        cause,
    } = truncation;
    let path = path.display();
    match cause {
        TruncationCause::Incomplete => tracing::info!(
            "the WAL's last commit was cut off at {path} offset {offset} ({bytes} bytes): its \
             write never finished, so none of its appends was acknowledged"
        ),
        TruncationCause::Damaged { reason } => tracing::warn!(
            "the WAL's last commit was cut off at {path} offset {offset} ({bytes} bytes): \
             {reason}. A crash during its write does this; so does damage to the disk, and \
             then acknowledged events were lost"
        ),
    }
}

/// Reads a segment front to back, a chunk at a time.
struct Chunks<'a> {
    file: &'a dyn DiskFile,
    len: u64,
    /// The bytes from `start`.
    buffer: Vec<u8>,
    start: u64,
}

impl<'a> Chunks<'a> {
    fn new(file: &'a dyn DiskFile, len: u64) -> Self {
        Self {
            file,
            len,
            buffer: Vec::new(),
            start: 0,
        }
    }

    /// The `len` bytes at `offset`, which the caller checked lie within the file.
    fn get(&mut self, offset: u64, len: usize) -> std::io::Result<&[u8]> {
        let end = offset + len as u64;
        let buffered = self.start + self.buffer.len() as u64;
        if offset < self.start || end > buffered {
            let size = (len.max(CHUNK) as u64).min(self.len - offset) as usize;
            self.buffer.resize(size, 0);
            self.file.read_at(&mut self.buffer, offset)?;
            self.start = offset;
        }
        let at = (offset - self.start) as usize;
        Ok(&self.buffer[at..at + len])
    }
}

/// One segment being scanned.
struct Scan<'a> {
    path: &'a Path,
    chunks: Chunks<'a>,
    segment: u32,
    is_last: bool,
    recovered: &'a mut Recovered,
}

/// Where a torn last commit starts and why it counts as torn.
type Torn = Option<(u64, TruncationCause)>;

impl Scan<'_> {
    fn read(&mut self, offset: u64, len: usize) -> Result<&[u8], StoreError> {
        let path = self.path;
        self.chunks
            .get(offset, len)
            .map_err(|e| io("cannot read", path, e))
    }

    /// Indexes the segment's commits; returns the torn tail, if there is one.
    fn segment(&mut self) -> Result<Torn, StoreError> {
        let file_len = self.chunks.len;
        let magic = SEGMENT_MAGIC.len();
        if file_len <= magic as u64 {
            // Killed while creating the file: its header not yet fsynced (the header is
            // synced before any commit goes in), so any part of it may be missing.
            let is_last = self.is_last;
            let head = self.read(0, file_len as usize)?;
            let torn = head
                .iter()
                .zip(SEGMENT_MAGIC)
                .all(|(&b, &m)| b == m || b == 0);
            if head == SEGMENT_MAGIC {
                return Ok(None);
            }
            return if is_last && torn {
                Ok(Some((0, TruncationCause::Incomplete)))
            } else {
                Err(corrupt(self.path, 0, "too short for a segment header"))
            };
        }
        let head = self.read(0, magic)?;
        if head != SEGMENT_MAGIC {
            let reason = if head[..magic - 1] == SEGMENT_MAGIC[..magic - 1] {
                format!(
                    "a segment of format {}, which this version of AllFrame does not read \
                     (it reads format {})",
                    head[magic - 1],
                    SEGMENT_MAGIC[magic - 1]
                )
            } else {
                "not an AllFrame WAL segment".to_owned()
            };
            return Err(corrupt(self.path, 0, reason));
        }
        let mut offset = magic as u64;
        while offset < file_len {
            match self.commit(offset)? {
                Ok(end) => offset = end,
                Err(torn) => return Ok(Some(torn)),
            }
        }
        Ok(None)
    }

    /// Indexes the commit at `offset` and returns where it ends, or says it is torn.
    fn commit(&mut self, offset: u64) -> Result<Result<u64, (u64, TruncationCause)>, StoreError> {
        let file_len = self.chunks.len;
        let expected = self.recovered.log.len() as u64 + 1;
        let header = if file_len - offset >= COMMIT_HEADER as u64 {
            record::parse_commit(self.read(offset, COMMIT_HEADER)?)
        } else {
            None
        };
        let Some((len, first_position)) = header else {
            // The header's page may not have reached the disk: torn, unless an intact commit
            // follows, which was written after this one was fsynced.
            if self.is_last && !self.intact_commit_after(offset, expected)? {
                let cause = if self.zeros_from(offset)? || file_len - offset < COMMIT_HEADER as u64
                {
                    TruncationCause::Incomplete
                } else {
                    TruncationCause::Damaged {
                        reason: "its header fails its checksum".into(),
                    }
                };
                return Ok(Err((offset, cause)));
            }
            return Err(corrupt(
                self.path,
                offset,
                "a commit header fails its checksum",
            ));
        };
        if first_position != expected {
            return Err(corrupt(
                self.path,
                offset,
                format!(
                    "a commit starts at position {first_position} where {expected} was expected"
                ),
            ));
        }
        let end = (offset + COMMIT_HEADER as u64).saturating_add(len);
        if end > file_len {
            return if self.is_last {
                Ok(Err((offset, TruncationCause::Incomplete)))
            } else {
                Err(corrupt(
                    self.path,
                    offset,
                    "the segment ends inside a commit, and later segments follow",
                ))
            };
        }
        let rollback = self.recovered.log.len();
        let mut touched: Vec<Arc<str>> = Vec::new();
        match self.records(offset + COMMIT_HEADER as u64, end, &mut touched)? {
            Ok(()) => Ok(Ok(end)),
            Err((at, reason)) => {
                // Nothing follows the last commit of the log: it is the one a crash may
                // have torn. Before it, every commit was fsynced.
                if self.is_last && end == file_len {
                    self.undo(rollback, &touched);
                    Ok(Err((offset, TruncationCause::Damaged { reason })))
                } else {
                    Err(corrupt(self.path, at, reason))
                }
            }
        }
    }

    /// Indexes the records in `[start, end)`; returns the offset and the reason of the first
    /// one that is not intact.
    fn records(
        &mut self,
        start: u64,
        end: u64,
        touched: &mut Vec<Arc<str>>,
    ) -> Result<Result<(), (u64, String)>, StoreError> {
        let mut offset = start;
        let mut pending: Option<PendingAppend> = None;
        while offset < end {
            if end - offset < HEADER as u64 {
                return Ok(Err((
                    offset,
                    "a record runs past the end of its commit".into(),
                )));
            }
            let body_len =
                u32::from_le_bytes(self.read(offset, 4)?.try_into().expect("4 bytes")) as usize;
            if body_len > MAX_BODY || (HEADER + body_len) as u64 > end - offset {
                return Ok(Err((
                    offset,
                    format!("a record of {body_len} bytes runs past the end of its commit"),
                )));
            }
            let path = self.path;
            let bytes = self
                .chunks
                .get(offset, HEADER + body_len)
                .map_err(|e| io("cannot read", path, e))?;
            let (record, len) = match record::parse(bytes) {
                Parsed::Record(record, len) => (record, len),
                Parsed::Incomplete => {
                    return Ok(Err((offset, "a record reads as zeros".into())));
                }
                Parsed::Corrupt(reason) => return Ok(Err((offset, reason))),
            };
            // An intact record that does not follow its predecessor is no torn write.
            let recovered = &mut *self.recovered;
            let position = recovered.log.len() as u64 + 1;
            let expected_position =
                position + pending.as_ref().map_or(0, |p| p.locations.len() as u64);
            if record.position != expected_position {
                return Err(corrupt(
                    path,
                    offset,
                    format!(
                        "position {} where {expected_position} was expected",
                        record.position
                    ),
                ));
            }
            let mut append = match pending.take() {
                None if record.batch_index == 0 => PendingAppend {
                    stream: recovered
                        .streams
                        .get_key_value(record.stream)
                        .map_or_else(|| Arc::from(record.stream), |(k, _)| Arc::clone(k)),
                    len: record.batch_len,
                    locations: Vec::new(),
                },
                Some(append)
                    if record.batch_index as usize == append.locations.len()
                        && record.batch_len == append.len
                        && *append.stream == *record.stream =>
                {
                    append
                }
                _ => {
                    return Err(corrupt(
                        path,
                        offset,
                        "an append's records are out of order or interleaved",
                    ));
                }
            };
            let stream_version = recovered.streams.get(record.stream).map_or(0, Vec::len) as u64;
            let expected_version = stream_version + append.locations.len() as u64 + 1;
            if record.version != expected_version {
                return Err(corrupt(
                    path,
                    offset,
                    format!(
                        "stream `{}` has version {} where {expected_version} was expected",
                        record.stream, record.version
                    ),
                ));
            }
            append.locations.push(Location {
                segment: self.segment,
                offset,
                len: len as u32,
            });
            if append.locations.len() == append.len as usize {
                let positions = recovered
                    .streams
                    .entry(Arc::clone(&append.stream))
                    .or_default();
                for location in append.locations {
                    recovered.log.push(location);
                    positions.push(recovered.log.len() as u64);
                }
                touched.push(append.stream);
            } else {
                pending = Some(append);
            }
            offset += len as u64;
        }
        match pending {
            None => Ok(Ok(())),
            Some(_) => Err(corrupt(
                self.path,
                end,
                "an append is cut off at the end of its commit",
            )),
        }
    }

    /// Forgets the events indexed from position `rollback + 1` on.
    fn undo(&mut self, rollback: usize, touched: &[Arc<str>]) {
        let recovered = &mut *self.recovered;
        recovered.log.truncate(rollback);
        for stream in touched {
            if let Some(positions) = recovered.streams.get_mut(stream) {
                positions.retain(|&p| p <= rollback as u64);
                if positions.is_empty() {
                    recovered.streams.remove(stream);
                }
            }
        }
    }

    /// Whether an intact commit starting at a later position begins anywhere after `offset`:
    /// its header checks out and so does its first record.
    fn intact_commit_after(&mut self, offset: u64, position: u64) -> Result<bool, StoreError> {
        let file_len = self.chunks.len;
        let mut at = offset + 1;
        while at + (COMMIT_HEADER + HEADER) as u64 <= file_len {
            let header = record::parse_commit(self.read(at, COMMIT_HEADER)?);
            if let Some((len, first)) = header
                && first > position
            {
                let start = at + COMMIT_HEADER as u64;
                let room = len.min(file_len - start).min((HEADER + MAX_BODY) as u64) as usize;
                if let Parsed::Record(record, _) = record::parse(self.read(start, room)?)
                    && record.position == first
                {
                    return Ok(true);
                }
            }
            at += 1;
        }
        Ok(false)
    }

    /// Whether the segment holds only zeros from `offset` (a length the file system wrote
    /// before the data).
    fn zeros_from(&mut self, offset: u64) -> Result<bool, StoreError> {
        let file_len = self.chunks.len;
        let mut at = offset;
        while at < file_len {
            let len = (file_len - at).min(CHUNK as u64) as usize;
            if self.read(at, len)?.iter().any(|&b| b != 0) {
                return Ok(false);
            }
            at += len as u64;
        }
        Ok(true)
    }
}

/// One append being read back: its records are indexed only once all are there.
struct PendingAppend {
    stream: Arc<str>,
    len: u32,
    locations: Vec<Location>,
}

/// Cuts a torn tail off, durably; an empty segment gets its header back.
fn truncate(file: &dyn DiskFile, path: &Path, offset: u64) -> Result<(), StoreError> {
    let result = if offset < SEGMENT_MAGIC.len() as u64 {
        file.set_len(0).and_then(|()| file.append(SEGMENT_MAGIC))
    } else {
        file.set_len(offset)
    };
    result
        .and_then(|()| file.sync())
        .map_err(|e| io("cannot truncate the torn tail of", path, e))
}
