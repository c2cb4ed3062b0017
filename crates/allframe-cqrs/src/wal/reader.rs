//! The read path: durable records read back from the segment files (adjacent ones in one
//! read), checked and decoded into envelopes, upcast on the way.

use std::sync::Arc;

use super::record::{self, Parsed, Record};
use super::{Location, SegmentFile, WalBackend, io};
use crate::backend::StoreError;
use crate::codec::decode;
use crate::event::{Envelope, Event};
use crate::upcast::Upcasters;

impl<E: Event> WalBackend<E> {
    /// Reads the records at `locations` (in position order) and decodes them.
    pub(super) async fn read_locations(
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

/// Merges locations that are adjacent in one file into one read each.
pub(super) fn read_records<E: Event>(
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
            .read_at(&mut buffer, first.offset)
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
