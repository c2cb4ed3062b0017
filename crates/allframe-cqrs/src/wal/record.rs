//! The on-disk form of one event: a length, a CRC-32 of the body, then the body.
//!
//! ```text
//! u32 body length | u32 crc32(length, body) | body:
//!   u64 position | u64 version | u64 timestamp_ms | u32 schema_version
//!   u32 index in its append | u32 events in its append
//!   u16 + stream id | u16 + event type | u32 + metadata JSON (0: none) | payload JSON
//! ```
//! All integers little-endian. An append of several events is several records; the last
//! two counters let recovery drop an append that reached the disk only in part.
//!
//! Records are written in commits, one per write and fsync (group commit puts several
//! appends in one), each behind a header of its own:
//!
//! ```text
//! u32 crc32(rest of header) | u32 0 | u64 bytes of records | u64 first position
//! ```
//! The length says where a commit ends, so recovery can tell the last commit (the one a
//! crash may have torn, in any page) from an earlier one (fsynced before the next was
//! written, so damage there is damage to acknowledged events).

use crate::event::Metadata;

/// Bytes before the body.
pub(super) const HEADER: usize = 8;

/// The largest body a record may have: a length beyond it is corruption, not a torn write.
pub(super) const MAX_BODY: usize = 64 << 20;

/// Bytes at the start of every segment file; the last is the format's version.
pub(super) const SEGMENT_MAGIC: &[u8; 8] = b"AFWAL\x00\x00\x02";

/// Bytes of a commit's header.
pub(super) const COMMIT_HEADER: usize = 24;

/// Fills a commit's header, the first `COMMIT_HEADER` bytes of `commit`, for the records
/// after it.
pub(super) fn seal_commit(commit: &mut [u8], first_position: u64) {
    let len = (commit.len() - COMMIT_HEADER) as u64;
    commit[4..8].fill(0);
    commit[8..16].copy_from_slice(&len.to_le_bytes());
    commit[16..24].copy_from_slice(&first_position.to_le_bytes());
    let crc = crc32fast::hash(&commit[4..COMMIT_HEADER]);
    commit[..4].copy_from_slice(&crc.to_le_bytes());
}

/// A commit header's (bytes of records, first position), if `header` is an intact one.
pub(super) fn parse_commit(header: &[u8]) -> Option<(u64, u64)> {
    let header = header.get(..COMMIT_HEADER)?;
    let intact = crc32fast::hash(&header[4..]) == u32_at(header, 0) && u32_at(header, 4) == 0;
    intact.then(|| (u64_at(header, 8), u64_at(header, 16)))
}

/// One event's record, borrowed from a buffer.
#[derive(Debug)]
pub(super) struct Record<'a> {
    pub(super) position: u64,
    pub(super) version: u64,
    pub(super) timestamp_ms: u64,
    pub(super) schema_version: u32,
    pub(super) batch_index: u32,
    pub(super) batch_len: u32,
    pub(super) stream: &'a str,
    pub(super) event_type: &'a str,
    pub(super) metadata: &'a [u8],
    pub(super) payload: &'a [u8],
}

impl Record<'_> {
    /// Appends the record's bytes to `out`.
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; HEADER]);
        out.extend_from_slice(&self.position.to_le_bytes());
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.timestamp_ms.to_le_bytes());
        out.extend_from_slice(&self.schema_version.to_le_bytes());
        out.extend_from_slice(&self.batch_index.to_le_bytes());
        out.extend_from_slice(&self.batch_len.to_le_bytes());
        // Lengths are checked by the append before encoding.
        out.extend_from_slice(&(self.stream.len() as u16).to_le_bytes());
        out.extend_from_slice(self.stream.as_bytes());
        out.extend_from_slice(&(self.event_type.len() as u16).to_le_bytes());
        out.extend_from_slice(self.event_type.as_bytes());
        out.extend_from_slice(&(self.metadata.len() as u32).to_le_bytes());
        out.extend_from_slice(self.metadata);
        out.extend_from_slice(self.payload);
        let body_len = (out.len() - start - HEADER) as u32;
        let crc = checksum(body_len, &out[start + HEADER..]);
        out[start..start + 4].copy_from_slice(&body_len.to_le_bytes());
        out[start + 4..start + HEADER].copy_from_slice(&crc.to_le_bytes());
    }

    /// The metadata, decoded.
    pub(super) fn metadata(&self) -> Result<Metadata, String> {
        if self.metadata.is_empty() {
            return Ok(Metadata::default());
        }
        serde_json::from_slice(self.metadata).map_err(|e| format!("undecodable metadata: {e}"))
    }
}

/// What is at some offset of a buffer.
#[derive(Debug)]
pub(super) enum Parsed<'a> {
    /// A whole, intact record of `len` bytes in all.
    Record(Record<'a>, usize),
    /// The buffer ends inside a record (or holds only zeros from here).
    Incomplete,
    /// A whole record whose checksum or layout is wrong.
    Corrupt(String),
}

/// Reads the record at the start of `buf`.
pub(super) fn parse(buf: &[u8]) -> Parsed<'_> {
    if buf.len() < HEADER {
        return Parsed::Incomplete;
    }
    let body_len = u32_at(buf, 0);
    let crc = u32_at(buf, 4);
    if body_len == 0 && crc == 0 {
        // A file extended by the kernel but not yet written reads back as zeros.
        return if buf.iter().all(|&b| b == 0) {
            Parsed::Incomplete
        } else {
            Parsed::Corrupt("a zeroed record header with data after it".into())
        };
    }
    if body_len as usize > MAX_BODY {
        return Parsed::Corrupt(format!("a record length of {body_len} bytes"));
    }
    let Some(body) = buf.get(HEADER..HEADER + body_len as usize) else {
        return Parsed::Incomplete;
    };
    if checksum(body_len, body) != crc {
        return Parsed::Corrupt(format!("checksum mismatch in a {body_len}-byte record"));
    }
    match parse_body(body) {
        Some(record) => Parsed::Record(record, HEADER + body_len as usize),
        None => Parsed::Corrupt("record layout is invalid despite a valid checksum".into()),
    }
}

fn parse_body(body: &[u8]) -> Option<Record<'_>> {
    let mut cursor = Cursor { buf: body, at: 0 };
    let position = cursor.u64()?;
    let version = cursor.u64()?;
    let timestamp_ms = cursor.u64()?;
    let schema_version = cursor.u32()?;
    let batch_index = cursor.u32()?;
    let batch_len = cursor.u32()?;
    let stream_len = cursor.u16()? as usize;
    let stream = std::str::from_utf8(cursor.take(stream_len)?).ok()?;
    let type_len = cursor.u16()? as usize;
    let event_type = std::str::from_utf8(cursor.take(type_len)?).ok()?;
    let metadata_len = cursor.u32()? as usize;
    let metadata = cursor.take(metadata_len)?;
    let payload = &body[cursor.at..];
    (batch_index < batch_len).then_some(Record {
        position,
        version,
        timestamp_ms,
        schema_version,
        batch_index,
        batch_len,
        stream,
        event_type,
        metadata,
        payload,
    })
}

/// Covers the length too, so a damaged length is caught wherever the body it points at is.
fn checksum(body_len: u32, body: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&body_len.to_le_bytes());
    hasher.update(body);
    hasher.finalize()
}

fn u32_at(buf: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(buf[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(buf: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(buf[at..at + 8].try_into().expect("8 bytes"))
}

struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let bytes = self.buf.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(bytes)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut out = Vec::new();
        Record {
            position: 7,
            version: 3,
            timestamp_ms: 99,
            schema_version: 2,
            batch_index: 1,
            batch_len: 2,
            stream: "order-1",
            event_type: "Placed",
            metadata: b"",
            payload: b"{\"Placed\":1}",
        }
        .encode(&mut out);
        out
    }

    #[test]
    fn a_record_round_trips() {
        let bytes = sample();
        let Parsed::Record(record, len) = parse(&bytes) else {
            panic!("intact record")
        };
        assert_eq!(len, bytes.len());
        assert_eq!(
            (
                record.position,
                record.version,
                record.stream,
                record.payload
            ),
            (7, 3, "order-1", &b"{\"Placed\":1}"[..])
        );
        assert_eq!((record.batch_index, record.batch_len), (1, 2));
    }

    #[test]
    fn a_cut_record_is_incomplete_and_a_flipped_bit_is_corrupt() {
        let bytes = sample();
        for cut in [0, 3, HEADER, bytes.len() - 1] {
            assert!(
                matches!(parse(&bytes[..cut]), Parsed::Incomplete),
                "cut at {cut}"
            );
        }
        assert!(matches!(parse(&[0; 64]), Parsed::Incomplete), "zeros");
        let mut zeros_then_data = vec![0; 64];
        zeros_then_data[40] = 1;
        assert!(matches!(parse(&zeros_then_data), Parsed::Corrupt(_)));
        let mut huge = bytes.clone();
        huge[3] = 0x7f;
        assert!(matches!(parse(&huge), Parsed::Corrupt(_)), "absurd length");
        let mut flipped = bytes;
        flipped[HEADER + 20] ^= 0x10;
        assert!(matches!(parse(&flipped), Parsed::Corrupt(_)));
    }
}
