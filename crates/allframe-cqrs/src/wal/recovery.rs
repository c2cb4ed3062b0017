//! Opening a log: every segment is read and checked, the indexes are rebuilt, and a torn
//! tail (an append that reached the disk only in part when the process died) is cut off.
//! Damage anywhere else refuses to open: the events after it were acknowledged.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::io;
use super::record::{self, HEADER, Parsed, SEGMENT_MAGIC};
use super::{Location, SEGMENT_EXTENSION};
use crate::backend::StoreError;
use crate::map::FastMap;

/// A segment found on disk.
#[derive(Debug)]
pub(super) struct FoundSegment {
    pub(super) path: PathBuf,
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
    /// Where the torn append began; the file now ends here.
    pub offset: u64,
    /// How many bytes were dropped.
    pub bytes: u64,
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
pub(super) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io("cannot list", dir, e))? {
        let path = entry.map_err(|e| io("cannot list", dir, e))?.path();
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

/// One append being read back: its records are indexed only once all are there.
struct PendingAppend {
    start: u64,
    stream: Arc<str>,
    len: u32,
    locations: Vec<Location>,
}

/// Reads every segment of `dir`.
pub(super) fn recover(dir: &Path) -> Result<Recovered, StoreError> {
    let mut recovered = Recovered::default();
    let segments = list_segments(dir)?;
    let count = segments.len();
    for (index, (first_position, path)) in segments.into_iter().enumerate() {
        let is_last = index + 1 == count;
        let data = fs::read(&path).map_err(|e| io("cannot read", &path, e))?;
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
        let torn_at = scan_segment(&path, &data, segment, is_last, &mut recovered)?;
        let len = match torn_at {
            Some(offset) => {
                truncate(&path, offset)?;
                recovered.truncation = Some(Truncation {
                    path: path.clone(),
                    offset: offset as u64,
                    bytes: (data.len() - offset) as u64,
                });
                offset.max(SEGMENT_MAGIC.len())
            }
            None => data.len(),
        };
        recovered.segments.push(FoundSegment {
            path,
            first_position,
            len: len as u64,
        });
    }
    Ok(recovered)
}

/// Indexes the segment's records; returns where a torn tail begins, if there is one.
fn scan_segment(
    path: &Path,
    data: &[u8],
    segment: u32,
    is_last: bool,
    recovered: &mut Recovered,
) -> Result<Option<usize>, StoreError> {
    if data.len() < SEGMENT_MAGIC.len() {
        // Killed between creating the file and writing its header.
        return if is_last && SEGMENT_MAGIC.starts_with(data) {
            Ok(Some(0))
        } else {
            Err(corrupt(path, 0, "too short for a segment header"))
        };
    }
    if &data[..SEGMENT_MAGIC.len()] != SEGMENT_MAGIC {
        return Err(corrupt(path, 0, "not an AllFrame WAL segment"));
    }
    let mut offset = SEGMENT_MAGIC.len();
    let mut pending: Option<PendingAppend> = None;
    while offset < data.len() {
        let rest = &data[offset..];
        let (record, len) = match record::parse(rest) {
            Parsed::Record(record, len) => (record, len),
            Parsed::Incomplete if is_last => {
                return Ok(Some(pending.map_or(offset, |p| p.start as usize)));
            }
            Parsed::Incomplete => {
                return Err(corrupt(
                    path,
                    offset as u64,
                    "the segment ends inside a record, and later segments follow",
                ));
            }
            Parsed::Corrupt(reason) => {
                let declared = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes"));
                let is_final_record = HEADER + declared as usize == rest.len();
                // A damaged final record of the log is a write the crash interrupted.
                if is_last && is_final_record {
                    return Ok(Some(pending.map_or(offset, |p| p.start as usize)));
                }
                return Err(corrupt(path, offset as u64, reason));
            }
        };
        let position = recovered.log.len() as u64 + 1;
        let expected_position = position + pending.as_ref().map_or(0, |p| p.locations.len() as u64);
        if record.position != expected_position {
            return Err(corrupt(
                path,
                offset as u64,
                format!(
                    "position {} where {expected_position} was expected",
                    record.position
                ),
            ));
        }
        let append = match pending.take() {
            None if record.batch_index == 0 => PendingAppend {
                start: offset as u64,
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
                    offset as u64,
                    "an append's records are out of order or interleaved",
                ));
            }
        };
        let stream_version = recovered.streams.get(record.stream).map_or(0, Vec::len) as u64;
        let expected_version = stream_version + append.locations.len() as u64 + 1;
        if record.version != expected_version {
            return Err(corrupt(
                path,
                offset as u64,
                format!(
                    "stream `{}` has version {} where {expected_version} was expected",
                    record.stream, record.version
                ),
            ));
        }
        let mut append = append;
        append.locations.push(Location {
            segment,
            offset: offset as u64,
            len: len as u32,
        });
        if append.locations.len() == append.len as usize {
            let positions = recovered.streams.entry(append.stream).or_default();
            for location in append.locations {
                recovered.log.push(location);
                positions.push(recovered.log.len() as u64);
            }
        } else {
            pending = Some(append);
        }
        offset += len;
    }
    match pending {
        None => Ok(None),
        Some(append) if is_last => Ok(Some(append.start as usize)),
        Some(append) => Err(corrupt(
            path,
            append.start,
            "an append is cut off at the end of a segment that is not the last",
        )),
    }
}

/// Cuts a torn tail off, durably; an empty segment gets its header back.
fn truncate(path: &Path, offset: usize) -> Result<(), StoreError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| io("cannot open", path, e))?;
    let result = if offset < SEGMENT_MAGIC.len() {
        use std::io::Write;
        file.set_len(0)
            .and_then(|()| (&file).write_all(SEGMENT_MAGIC))
    } else {
        file.set_len(offset as u64)
    };
    result
        .and_then(|()| file.sync_all())
        .map_err(|e| io("cannot truncate the torn tail of", path, e))
}
