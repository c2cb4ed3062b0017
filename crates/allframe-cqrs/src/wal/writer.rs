//! The append path: an append's expected version checked, its versions and positions
//! assigned and its records encoded into the queue, all under the state lock; and the
//! segment files the writer creates.

use std::path::Path;
use std::sync::Arc;

use super::disk::Disk;
use super::record::{COMMIT_HEADER, MAX_BODY, Record, SEGMENT_MAGIC};
use super::{Commit, Location, SEGMENT_EXTENSION, Segment, SegmentFile, WalBackend, io};
use crate::backend::{Appended, ExpectedVersion, StoreError, check_stream_id};
use crate::codec::Serialized;
use crate::event::{Event, now_ms};

/// Why a segment could not be created.
#[derive(Debug)]
pub(super) enum CreateError {
    /// No file was made (too many open files, say): nothing changed on disk.
    NotCreated(StoreError),
    /// The file exists but its header or directory entry may not be durable; `fsync`
    /// says whether an fsync failed.
    Unfinished { error: StoreError, fsync: bool },
}

impl From<CreateError> for StoreError {
    fn from(error: CreateError) -> Self {
        match error {
            CreateError::NotCreated(error) | CreateError::Unfinished { error, .. } => error,
        }
    }
}

/// Creates a segment file durably: the file, its header, and its entry in the directory.
pub(super) fn create_segment(
    disk: &dyn Disk,
    dir: &Path,
    first_position: u64,
) -> Result<Arc<SegmentFile>, CreateError> {
    let path = dir.join(format!("{first_position:020}.{SEGMENT_EXTENSION}"));
    let failed = |e| io("cannot create the segment", &path, e);
    let file = disk
        .open(&path, true)
        .map_err(|e| CreateError::NotCreated(failed(e)))?;
    let unfinished = |fsync: bool| {
        move |e| CreateError::Unfinished {
            error: failed(e),
            fsync,
        }
    };
    file.append(SEGMENT_MAGIC).map_err(unfinished(false))?;
    file.sync().map_err(unfinished(true))?;
    disk.sync_dir(dir).map_err(unfinished(true))?;
    Ok(Arc::new(SegmentFile { file, path }))
}

impl Segment {
    /// A segment starting at `first_position` whose file the writer will create.
    pub(super) fn planned(first_position: u64) -> Self {
        Self {
            file: None,
            first_position,
            len: SEGMENT_MAGIC.len() as u64,
            empty: true,
        }
    }
}

impl<E: Event> WalBackend<E> {
    /// Checks the expected version, assigns versions and positions, and queues the records;
    /// returns where they are and the epoch they were queued in.
    pub(super) fn queue(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: &[Serialized],
    ) -> Result<(Appended, u64), StoreError> {
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
        // Appends queued for one segment share one commit: one write for the whole group.
        if state
            .queued
            .last()
            .is_none_or(|c| c.segment != segment_index)
        {
            state.queued.push(Commit {
                segment: segment_index,
                first_position,
                bytes: vec![0; COMMIT_HEADER],
            });
            segment.len += COMMIT_HEADER as u64;
        }
        let bytes = &mut state.queued.last_mut().expect("pushed above").bytes;
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
        let appended = Appended {
            version: positions.len() as u64,
            first_position,
            last_position: state.log.len() as u64,
        };
        Ok((appended, state.taken_back.len() as u64))
    }
}

/// Checks the stream id and the limits of the record format before anything is queued.
pub(super) fn check_sizes(stream: &str, events: &[Serialized]) -> Result<(), StoreError> {
    check_stream_id(stream)?;
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
