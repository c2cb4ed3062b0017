//! Snapshots on disk: one file per stream, replaced atomically (write a temporary file,
//! fsync it, rename it over the old one, fsync the directory).
//!
//! ```text
//! u32 crc32(rest) | u64 version | u16 + stream id | data
//! ```

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::disk::Disk;
use super::io;
use crate::backend::{Snapshot, StoreError};

/// Where `stream`'s snapshot lives: its name in hex, so any stream id is a safe file name;
/// ids too long for a file name are hashed, and the id stored inside tells them apart.
fn path_for(dir: &Path, stream: &str) -> PathBuf {
    let name = if stream.len() <= 100 {
        stream
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    } else {
        format!("h{:08x}", crc32fast::hash(stream.as_bytes()))
    };
    dir.join(format!("{name}.snap"))
}

/// Stores `snapshot` durably, replacing the stream's previous one.
pub(super) fn save(
    disk: &dyn Disk,
    dir: &Path,
    stream: &str,
    snapshot: &Snapshot,
) -> Result<(), StoreError> {
    let path = path_for(dir, stream);
    let mut body = Vec::with_capacity(10 + stream.len() + snapshot.data.len());
    body.extend_from_slice(&snapshot.version.to_le_bytes());
    body.extend_from_slice(&(stream.len() as u16).to_le_bytes());
    body.extend_from_slice(stream.as_bytes());
    body.extend_from_slice(&snapshot.data);
    // A name of its own per save: two saves of one stream at once must not share a file.
    static SAVES: AtomicU64 = AtomicU64::new(0);
    let save = SAVES.fetch_add(1, Ordering::Relaxed);
    let temporary = path.with_extension(format!("snap.{}.{save}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let file = disk.create(&temporary)?;
        file.append(&crc32fast::hash(&body).to_le_bytes())?;
        file.append(&body)?;
        file.sync()?;
        disk.rename(&temporary, &path)?;
        disk.sync_dir(dir)
    };
    write().map_err(|e| io("cannot write the snapshot", &path, e))
}

/// The stream's snapshot, if it has one.
pub(super) fn load(
    disk: &dyn Disk,
    dir: &Path,
    stream: &str,
) -> Result<Option<Snapshot>, StoreError> {
    let path = path_for(dir, stream);
    let bytes = match disk.read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("cannot read the snapshot", &path, e)),
    };
    let corrupt = |reason: &str| StoreError::Corrupt {
        path: path.clone(),
        offset: 0,
        reason: reason.into(),
    };
    let (crc, body) = bytes
        .split_first_chunk::<4>()
        .ok_or_else(|| corrupt("too short"))?;
    if crc32fast::hash(body) != u32::from_le_bytes(*crc) {
        return Err(corrupt("snapshot checksum mismatch"));
    }
    let (version, rest) = body
        .split_first_chunk::<8>()
        .ok_or_else(|| corrupt("too short"))?;
    let (id_len, rest) = rest
        .split_first_chunk::<2>()
        .ok_or_else(|| corrupt("too short"))?;
    let id_len = u16::from_le_bytes(*id_len) as usize;
    if rest.len() < id_len {
        return Err(corrupt("too short"));
    }
    let (id, data) = rest.split_at(id_len);
    // A hashed name shared with another stream: this stream has no snapshot of its own.
    if id != stream.as_bytes() {
        return Ok(None);
    }
    Ok(Some(Snapshot {
        version: u64::from_le_bytes(*version),
        data: data.to_vec(),
    }))
}
