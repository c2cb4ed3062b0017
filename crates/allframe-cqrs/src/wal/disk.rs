//! The file operations the WAL makes, behind a trait: the operating system's files in use,
//! and in the crate's tests a simulated disk that can lose power at any operation
//! (`simulated.rs`), so what a crash does to unsynced bytes is tested, not assumed.

use std::collections::HashSet;
use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A file the WAL appends to and reads from.
pub(super) trait DiskFile: Send + Sync + fmt::Debug {
    /// Writes all of `bytes` at the end of the file.
    fn append(&self, bytes: &[u8]) -> io::Result<()>;
    /// Fills `buf` from `offset`; an error if the file ends first.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    fn len(&self) -> io::Result<u64>;
    /// Cuts the file at `len` (or extends it with zeros).
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Makes the file's data and length durable.
    fn sync(&self) -> io::Result<()>;
}

/// Where the WAL keeps its files.
pub(super) trait Disk: Send + Sync + fmt::Debug + 'static {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Locks `path` (creating it) for as long as the returned guard lives; `Ok(None)` when
    /// someone else holds it.
    fn lock(&self, path: &Path) -> io::Result<Option<DirLock>>;
    /// The paths of the entries of `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>>;
    /// Opens `path` for reading and appending; `new` creates it and fails if it exists,
    /// otherwise it must exist.
    fn open(&self, path: &Path, new: bool) -> io::Result<Box<dyn DiskFile>>;
    /// Creates `path` empty, or empties it.
    fn create(&self, path: &Path) -> io::Result<Box<dyn DiskFile>>;
    /// The whole of `path`.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Replaces `to` with `from`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes the entries of `dir` (files created or renamed in it) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Remembers that an fsync in `dir` failed.
    fn sync_failed(&self, dir: &Path);
    /// Whether an fsync in `dir` failed since this disk was mounted (for the operating
    /// system's: since the process started).
    fn has_sync_failed(&self, dir: &Path) -> bool;
}

/// A held [`Disk::lock`], released when dropped.
pub(super) struct DirLock {
    _held: Box<dyn Send + Sync>,
}

impl DirLock {
    pub(super) fn new(held: impl Send + Sync + 'static) -> Self {
        Self {
            _held: Box::new(held),
        }
    }
}

impl fmt::Debug for DirLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DirLock")
    }
}

/// The operating system's files.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct OsDisk;

/// Directories in which an fsync failed in this process. After a failed fsync Linux may
/// have dropped the dirty pages and marked them clean ("fsyncgate"): what this process reads
/// back is no longer what the disk holds, so only a new process may open the store again.
static SYNC_FAILED: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

impl DiskFile for File {
    fn append(&self, bytes: &[u8]) -> io::Result<()> {
        // Opened with `append`, or created empty and only appended to: every write goes
        // to the end.
        let mut file = self;
        file.write_all(bytes)
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.read_exact_at(buf, offset)
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }

    fn sync(&self) -> io::Result<()> {
        // fdatasync also writes the length, which reading the data back needs.
        self.sync_data()
    }
}

impl Disk for OsDisk {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn lock(&self, path: &Path) -> io::Result<Option<DirLock>> {
        let file = File::create(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(DirLock::new(file))),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        fs::read_dir(dir)?
            .map(|entry| entry.map(|e| e.path()))
            .collect()
    }

    fn open(&self, path: &Path, new: bool) -> io::Result<Box<dyn DiskFile>> {
        let file = OpenOptions::new()
            .create_new(new)
            .read(true)
            .append(true)
            .open(path)?;
        Ok(Box::new(file))
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        // Written from its start on, so each `append` lands at the end.
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(path)?;
        Ok(Box::new(file))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn sync_failed(&self, dir: &Path) {
        let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
        if let Ok(mut failed) = SYNC_FAILED.lock() {
            failed.get_or_insert_with(HashSet::new).insert(dir);
        }
    }

    fn has_sync_failed(&self, dir: &Path) -> bool {
        let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
        SYNC_FAILED
            .lock()
            .map(|failed| failed.as_ref().is_some_and(|f| f.contains(&dir)))
            .unwrap_or(true)
    }
}
