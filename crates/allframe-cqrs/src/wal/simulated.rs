//! A disk in memory that can lose power, as redb's and fjall's crash tests have: what was
//! written since a file's last fsync (and entries made since its directory's) is kept apart,
//! and a power loss keeps, drops or tears it (whole, a prefix, sectors or pages in any order
//! with holes between). SIGKILL keeps the page cache, so only this catches a missing fsync
//! or a recovery that trusts unsynced bytes.
//!
//! The tests below run the WAL on it up to a random operation, cut the power there, and
//! reopen what is left.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::disk::{DirLock, Disk, DiskFile};

#[derive(Debug, Default, Clone)]
struct SimFile {
    /// What reads see: the page cache.
    data: Vec<u8>,
    /// What the disk holds for certain: the data as of the last fsync.
    durable: Vec<u8>,
    /// The file's length at each fsync, in order.
    synced: Vec<u64>,
}

#[derive(Debug, Default)]
struct World {
    files: Vec<SimFile>,
    /// The directory entries reads and listings see.
    entries: BTreeMap<PathBuf, usize>,
    /// The entries as of each directory's last fsync.
    durable_entries: BTreeMap<PathBuf, usize>,
    locks: HashSet<PathBuf>,
    /// Operations that change something, so far.
    operations: u64,
    /// From this operation on every change fails: the power is off.
    power_off_at: Option<u64>,
    /// The next fsync fails, and the world goes on.
    fail_next_sync: bool,
    /// The next file creation fails as with too many open files.
    fail_next_create: bool,
    sync_failed: HashSet<PathBuf>,
    /// While set, fsyncs wait (to catch a writer in the middle of one).
    hold_syncs: bool,
    syncs_waiting: usize,
    /// The most bytes one read asked for.
    largest_read: usize,
}

/// The simulated disk; clones share it.
#[derive(Debug, Clone, Default)]
pub(super) struct SimDisk {
    world: Arc<(Mutex<World>, Condvar)>,
}

/// A small deterministic generator: a failing seed reproduces.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A number in `0..n` (splitmix64).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n.max(1)
    }

    fn coin(&mut self) -> bool {
        self.below(2) == 0
    }
}

impl World {
    /// A new empty file at `path`, not yet in its directory for certain.
    fn add_file(&mut self, path: &Path) -> usize {
        self.files.push(SimFile::default());
        let id = self.files.len() - 1;
        self.entries.insert(path.to_owned(), id);
        id
    }
}

fn power_off() -> io::Error {
    io::Error::other("the power is off (simulated)")
}

impl SimDisk {
    fn world(&self) -> MutexGuard<'_, World> {
        self.world.0.lock().expect("the simulated disk's lock")
    }

    /// Counts a change, failing it once the power is off.
    fn change(world: &mut World) -> io::Result<()> {
        world.operations += 1;
        match world.power_off_at {
            Some(at) if world.operations >= at => Err(power_off()),
            _ => Ok(()),
        }
    }

    fn handle(&self, id: usize) -> Box<dyn DiskFile> {
        Box::new(SimHandle {
            disk: self.clone(),
            id,
        })
    }

    /// Changes so far.
    pub(super) fn operations(&self) -> u64 {
        self.world().operations
    }

    /// Cuts the power at the `at`-th change from the start: it and every later one fail.
    pub(super) fn power_off_at(&self, at: u64) {
        self.world().power_off_at = Some(at);
    }

    pub(super) fn fail_next_sync(&self) {
        self.world().fail_next_sync = true;
    }

    pub(super) fn fail_next_create(&self) {
        self.world().fail_next_create = true;
    }

    pub(super) fn hold_syncs(&self, hold: bool) {
        self.world().hold_syncs = hold;
        self.world.1.notify_all();
    }

    pub(super) fn syncs_waiting(&self) -> usize {
        self.world().syncs_waiting
    }

    pub(super) fn largest_read(&self) -> usize {
        self.world().largest_read
    }

    /// The bytes of every file whose name ends in `extension`, by path.
    pub(super) fn files_ending(&self, extension: &str) -> Vec<(PathBuf, Vec<u8>)> {
        let world = self.world();
        world
            .entries
            .iter()
            .filter(|(path, _)| path.extension().is_some_and(|e| e == extension))
            .map(|(path, &id)| (path.clone(), world.files[id].data.clone()))
            .collect()
    }

    /// A disk holding these files, durably.
    pub(super) fn holding(files: &[(PathBuf, Vec<u8>)]) -> SimDisk {
        let disk = SimDisk::default();
        {
            let mut world = disk.world();
            for (path, data) in files {
                let id = world.files.len();
                world.entries.insert(path.clone(), id);
                world.durable_entries.insert(path.clone(), id);
                world.files.push(SimFile {
                    data: data.clone(),
                    durable: data.clone(),
                    synced: vec![data.len() as u64],
                });
            }
        }
        disk
    }

    /// The disk as the next boot finds it: each file's synced bytes, and of the rest
    /// whatever `rng` decides reached the platters; entries made since their directory's
    /// last fsync survive or vanish.
    pub(super) fn after_power_loss(&self, rng: &mut Rng) -> SimDisk {
        let world = self.world();
        let mut survivors = world.durable_entries.clone();
        for (path, &id) in &world.entries {
            if world.durable_entries.get(path) != Some(&id) && rng.coin() {
                survivors.insert(path.clone(), id);
            }
        }
        let mut next = World::default();
        for (path, id) in survivors {
            let file = &world.files[id];
            let data = torn(file, rng);
            next.entries.insert(path.clone(), next.files.len());
            next.durable_entries.insert(path, next.files.len());
            next.files.push(SimFile {
                durable: data.clone(),
                data,
                synced: file.synced.clone(),
            });
        }
        SimDisk {
            world: Arc::new((Mutex::new(next), Condvar::new())),
        }
    }

    /// Flips one byte that was fsynced in a commit some later fsynced commit follows (or
    /// in a segment a later one follows): damage recovery must refuse, not cut. Returns the
    /// file and offset, if any such byte exists.
    pub(super) fn damage_synced(&self, rng: &mut Rng) -> Option<(PathBuf, u64)> {
        let mut world = self.world();
        let segments: Vec<(PathBuf, usize)> = world
            .entries
            .iter()
            .filter(|(path, _)| path.extension().is_some_and(|e| e == "wal"))
            .map(|(path, &id)| (path.clone(), id))
            .collect();
        let (last_path, _) = segments.last()?.clone();
        let candidates: Vec<(PathBuf, usize, u64)> = segments
            .into_iter()
            .filter_map(|(path, id)| {
                let file = &world.files[id];
                let mut lengths = file.synced.clone();
                lengths.dedup();
                let limit = if path == last_path {
                    // Before the last fsynced commit: a later fsynced one follows it.
                    *lengths.iter().rev().nth(1)?
                } else {
                    *lengths.last()?
                };
                (limit > 0).then_some((path, id, limit.min(file.data.len() as u64)))
            })
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let (path, id, limit) = candidates[rng.below(candidates.len() as u64) as usize].clone();
        let offset = rng.below(limit);
        let file = &mut world.files[id];
        file.data[offset as usize] ^= 1 << rng.below(8);
        file.durable = file.data.clone();
        Some((path, offset))
    }
}

/// What of a file's unsynced bytes a power loss leaves: none, all, a prefix, or sectors or
/// pages at random up to some length (later bytes present with holes of zeros before them).
fn torn(file: &SimFile, rng: &mut Rng) -> Vec<u8> {
    let (durable, data) = (&file.durable, &file.data);
    if !data.starts_with(durable) {
        // Cut or rewritten since the last fsync: the change happened or it did not.
        return if rng.coin() { durable } else { data }.clone();
    }
    let base = durable.len();
    let pending = data.len() - base;
    let mut out = durable.clone();
    let kept = rng.below(pending as u64 + 1) as usize;
    match rng.below(5) {
        0 => {}
        1 => out.extend_from_slice(&data[base..]),
        2 => out.extend_from_slice(&data[base..base + kept]),
        3 => {
            let unit = if rng.coin() { 512 } else { 4096 };
            out.resize(base + kept, 0);
            let mut at = base;
            while at < base + kept {
                let end = ((at / unit + 1) * unit).min(base + kept);
                if rng.coin() {
                    out[at..end].copy_from_slice(&data[at..end]);
                }
                at = end;
            }
        }
        _ => {
            out.extend_from_slice(&data[base..base + kept]);
            let from = base + rng.below(kept as u64 + 1) as usize;
            let to = from + rng.below((base + kept - from) as u64 + 1) as usize;
            out[from..to].fill(0);
        }
    }
    out
}

#[derive(Debug)]
struct SimHandle {
    disk: SimDisk,
    id: usize,
}

impl DiskFile for SimHandle {
    fn append(&self, bytes: &[u8]) -> io::Result<()> {
        let mut world = self.disk.world();
        SimDisk::change(&mut world)?;
        world.files[self.id].data.extend_from_slice(bytes);
        Ok(())
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let mut world = self.disk.world();
        world.largest_read = world.largest_read.max(buf.len());
        let data = &world.files[self.id].data;
        let source = usize::try_from(offset)
            .ok()
            .and_then(|at| data.get(at..at.checked_add(buf.len())?))
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(source);
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.disk.world().files[self.id].data.len() as u64)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut world = self.disk.world();
        SimDisk::change(&mut world)?;
        world.files[self.id].data.resize(len as usize, 0);
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        let (lock, held) = &*self.disk.world;
        let mut world = lock.lock().expect("the simulated disk's lock");
        SimDisk::change(&mut world)?;
        while world.hold_syncs {
            world.syncs_waiting += 1;
            world = held.wait(world).expect("the simulated disk's lock");
            world.syncs_waiting -= 1;
        }
        if std::mem::take(&mut world.fail_next_sync) {
            return Err(io::Error::other("the fsync failed (simulated)"));
        }
        let file = &mut world.files[self.id];
        file.durable = file.data.clone();
        file.synced.push(file.data.len() as u64);
        Ok(())
    }
}

/// Releases a [`Disk::lock`] when dropped.
struct SimLock {
    disk: SimDisk,
    path: PathBuf,
}

impl Drop for SimLock {
    fn drop(&mut self) {
        self.disk.world().locks.remove(&self.path);
    }
}

impl Disk for SimDisk {
    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        // Directories are implied by the paths of their entries.
        Ok(())
    }

    fn lock(&self, path: &Path) -> io::Result<Option<DirLock>> {
        if !self.world().locks.insert(path.to_owned()) {
            return Ok(None);
        }
        Ok(Some(DirLock::new(SimLock {
            disk: self.clone(),
            path: path.to_owned(),
        })))
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        Ok(self
            .world()
            .entries
            .keys()
            .filter(|path| path.parent() == Some(dir))
            .cloned()
            .collect())
    }

    fn open(&self, path: &Path, new: bool) -> io::Result<Box<dyn DiskFile>> {
        let mut world = self.world();
        let id = match (world.entries.get(path).copied(), new) {
            (Some(id), false) => id,
            (None, false) => return Err(io::ErrorKind::NotFound.into()),
            (Some(_), true) => return Err(io::ErrorKind::AlreadyExists.into()),
            (None, true) => {
                SimDisk::change(&mut world)?;
                if std::mem::take(&mut world.fail_next_create) {
                    const EMFILE: i32 = 24;
                    return Err(io::Error::from_raw_os_error(EMFILE));
                }
                world.add_file(path)
            }
        };
        Ok(self.handle(id))
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let mut world = self.world();
        SimDisk::change(&mut world)?;
        let id = match world.entries.get(path).copied() {
            Some(id) => {
                world.files[id].data.clear();
                id
            }
            None => world.add_file(path),
        };
        Ok(self.handle(id))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let world = self.world();
        let id = *world.entries.get(path).ok_or(io::ErrorKind::NotFound)?;
        Ok(world.files[id].data.clone())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut world = self.world();
        SimDisk::change(&mut world)?;
        let id = world.entries.remove(from).ok_or(io::ErrorKind::NotFound)?;
        world.entries.insert(to.to_owned(), id);
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut world = self.world();
        SimDisk::change(&mut world)?;
        let world = &mut *world;
        world
            .durable_entries
            .retain(|path, _| path.parent() != Some(dir));
        for (path, &id) in &world.entries {
            if path.parent() == Some(dir) {
                world.durable_entries.insert(path.clone(), id);
            }
        }
        Ok(())
    }

    fn sync_failed(&self, dir: &Path) {
        self.world().sync_failed.insert(dir.to_owned());
    }

    fn has_sync_failed(&self, dir: &Path) -> bool {
        self.world().sync_failed.contains(dir)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use super::*;
    use crate::backend::{Backend, ExpectedVersion, StoreError};
    use crate::conformance::TestEvent;
    use crate::event::NewEvent;
    use crate::wal::{SyncMode, TruncationCause, WalBackend, WalOptions};

    const DIR: &str = "/simulated/wal";
    const WRITERS: u64 = 3;
    const APPENDS: u64 = 6;
    /// Crash points per `cargo xtask test`; `ALLFRAME_POWER_LOSS_CASES` asks for more.
    const CASES: u64 = 2_000;

    fn options() -> WalOptions {
        WalOptions {
            sync: SyncMode::GroupCommit,
            // Small, so a run rolls over into new segments.
            segment_bytes: 6 * 1024,
        }
    }

    fn open(disk: &SimDisk) -> Result<WalBackend<TestEvent>, StoreError> {
        WalBackend::open_on(Arc::new(disk.clone()), Path::new(DIR), options())
    }

    /// Segments so small that every second append needs a new one.
    fn open_tiny(disk: &SimDisk) -> Result<WalBackend<TestEvent>, StoreError> {
        let tiny = WalOptions {
            segment_bytes: 64,
            ..options()
        };
        WalBackend::open_on(Arc::new(disk.clone()), Path::new(DIR), tiny)
    }

    /// `variable`'s number, else `default`: how many cases a test runs.
    fn cases(variable: &str, default: u64) -> u64 {
        std::env::var(variable)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    fn stream(writer: u64) -> String {
        format!("writer-{writer}")
    }

    /// The event a writer appends at a version: its size varies so commits cross pages.
    fn event(rng: &mut Rng, writer: u64, version: u64) -> TestEvent {
        let size = 1 + rng.below(1500) as usize;
        TestEvent::Renamed {
            name: format!("{writer}.{version}.{}", "x".repeat(size)),
        }
    }

    /// What the writers were told: each stream's acknowledged version, and every event
    /// they tried to append at each version.
    #[derive(Default)]
    struct Told {
        acknowledged: HashMap<String, u64>,
        attempted: HashMap<(String, u64), TestEvent>,
    }

    /// Writers appending concurrently (sharing commits) until an append fails.
    async fn run_writers(store: Arc<WalBackend<TestEvent>>, seed: u64) -> Told {
        let told = Arc::new(Mutex::new(Told::default()));
        let mut tasks = Vec::new();
        for writer in 0..WRITERS {
            let (store, told) = (Arc::clone(&store), Arc::clone(&told));
            tasks.push(tokio::spawn(async move {
                let mut rng = Rng::new(seed * 31 + writer);
                let mut version = 0;
                for _ in 0..APPENDS {
                    let count = 1 + rng.below(3);
                    let events: Vec<TestEvent> = (1..=count)
                        .map(|i| event(&mut rng, writer, version + i))
                        .collect();
                    {
                        let mut told = told.lock().expect("told");
                        for (i, e) in events.iter().enumerate() {
                            told.attempted
                                .insert((stream(writer), version + 1 + i as u64), e.clone());
                        }
                    }
                    let appended = store
                        .append(
                            &stream(writer),
                            ExpectedVersion::Exactly(version),
                            events.into_iter().map(NewEvent::new).collect(),
                        )
                        .await;
                    match appended {
                        Ok(appended) => {
                            version = appended.version;
                            told.lock()
                                .expect("told")
                                .acknowledged
                                .insert(stream(writer), version);
                        }
                        Err(_) => break,
                    }
                }
            }));
        }
        for task in tasks {
            task.await.expect("a writer panicked");
        }
        Arc::into_inner(told)
            .expect("the writers are done")
            .into_inner()
            .expect("told")
    }

    /// Every acknowledged event is there, and every event there is one a writer sent.
    async fn check_recovered(store: &WalBackend<TestEvent>, told: &Told, case: &str) {
        for writer in 0..WRITERS {
            let stream = stream(writer);
            let events = store.read_stream(&stream, 0).await.expect("read");
            let acknowledged = told.acknowledged.get(&stream).copied().unwrap_or(0);
            assert!(
                events.len() as u64 >= acknowledged,
                "{case}: {stream} has {} events after recovery, {acknowledged} were acknowledged",
                events.len()
            );
            for event in &events {
                assert_eq!(
                    Some(&event.payload),
                    told.attempted.get(&(stream.clone(), event.version)),
                    "{case}: {stream} version {} is not what was appended",
                    event.version
                );
            }
        }
    }

    /// One crash point: writers run until the power goes at a random change, then the disk
    /// as the next boot finds it must open with every acknowledged event, take appends and
    /// keep them; with one synced byte flipped it must refuse, naming file and offset.
    async fn power_loss_case(seed: u64) {
        let mut rng = Rng::new(seed);
        // How many changes a whole run makes, to cut the power somewhere inside it.
        let dry = SimDisk::default();
        run_writers(Arc::new(open(&dry).expect("open")), seed).await;
        let disk = SimDisk::default();
        let cut = 1 + rng.below(dry.operations() + 1);
        disk.power_off_at(cut);
        let told = match open(&disk) {
            Ok(store) => run_writers(Arc::new(store), seed).await,
            Err(_) => Told::default(),
        };
        let case = format!("seed {seed}, power off at change {cut}");
        let image = disk.after_power_loss(&mut rng);
        let damaged = SimDisk::default();
        *damaged.world() = clone_world(&image);

        let store = open(&image).unwrap_or_else(|e| {
            panic!("{case}: recovery refused a log damaged only in unsynced bytes: {e}")
        });
        check_recovered(&store, &told, &case).await;
        let head = store.stats().await.expect("stats").head_position;
        let appended = store
            .append(
                "after",
                ExpectedVersion::Any,
                vec![NewEvent::new(TestEvent::Numbered(1))],
            )
            .await
            .unwrap_or_else(|e| panic!("{case}: an append after recovery failed: {e}"));
        assert_eq!(appended.last_position, head + 1, "{case}");
        drop(store);
        let reopened = open(&image).unwrap_or_else(|e| panic!("{case}: second open: {e}"));
        check_recovered(&reopened, &told, &case).await;
        assert_eq!(
            reopened.read_stream("after", 0).await.expect("read").len(),
            1,
            "{case}: the append after recovery survived"
        );

        if let Some((path, offset)) = damaged.damage_synced(&mut rng) {
            match open(&damaged) {
                Err(StoreError::Corrupt {
                    path: named,
                    offset: at,
                    ..
                }) => assert!(
                    named == path && at <= offset,
                    "{case}: byte {offset} of {} flipped, refused at {} offset {at}",
                    path.display(),
                    named.display()
                ),
                Err(other) => panic!("{case}: flipped byte {offset}: {other}"),
                Ok(store) => panic!(
                    "{case}: byte {offset} of {} flipped in an fsynced commit, yet the log \
                     opened (truncation: {:?})",
                    path.display(),
                    store.truncation()
                ),
            }
        }
    }

    fn clone_world(disk: &SimDisk) -> World {
        let world = disk.world();
        World {
            files: world.files.clone(),
            entries: world.entries.clone(),
            durable_entries: world.durable_entries.clone(),
            ..World::default()
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    #[test]
    fn power_loss_at_any_change_keeps_every_acknowledged_append() {
        let cases = cases("ALLFRAME_POWER_LOSS_CASES", CASES);
        let runtime = runtime();
        for seed in 0..cases {
            runtime.block_on(power_loss_case(seed));
        }
    }

    #[test]
    fn after_a_failed_fsync_the_store_will_not_reopen_in_this_process() {
        runtime().block_on(async {
            let disk = SimDisk::default();
            let store = open(&disk).expect("open");
            let event = || vec![NewEvent::new(TestEvent::Numbered(1))];
            store
                .append("a", ExpectedVersion::Any, event())
                .await
                .expect("append");
            disk.fail_next_sync();
            let failed = store.append("a", ExpectedVersion::Any, event()).await;
            assert!(failed.is_err(), "the append whose fsync failed fails");
            let later = store.append("a", ExpectedVersion::Any, event()).await;
            assert!(
                later
                    .expect_err("poisoned")
                    .to_string()
                    .contains("new process"),
                "later appends say how to recover"
            );
            drop(store);
            let refused = open(&disk).expect_err("refused in this process");
            assert!(
                refused.to_string().contains("restart the process"),
                "{refused}"
            );
            // The next boot (a new process) reads what reached the disk.
            let store =
                open(&disk.after_power_loss(&mut Rng::new(7))).expect("a new process opens");
            assert!(!store.read_stream("a", 0).await.expect("read").is_empty());
        });
    }

    /// A segment the WAL cannot create (no file descriptor left, say) fails the appends
    /// meant for it, which are taken back, and not the store (issue 18, finding 13).
    #[test]
    fn a_segment_that_cannot_be_created_fails_its_appends_and_not_the_store() {
        runtime().block_on(async {
            let disk = SimDisk::default();
            let store = open_tiny(&disk).expect("open");
            let one = |n| vec![NewEvent::new(TestEvent::Numbered(n))];
            store
                .append("a", ExpectedVersion::Exactly(0), one(1))
                .await
                .expect("the first append");
            disk.fail_next_create();
            let failed = store
                .append("a", ExpectedVersion::Exactly(1), one(2))
                .await
                .expect_err("no segment for it");
            assert!(
                failed.to_string().contains("cannot create the segment"),
                "{failed}"
            );
            let again = store
                .append("a", ExpectedVersion::Exactly(1), one(3))
                .await
                .expect("the store goes on, version 2 free again");
            assert_eq!((again.version, again.last_position), (2, 2));
            let numbers = |events: Vec<crate::event::Envelope<TestEvent>>| -> Vec<TestEvent> {
                events.into_iter().map(|e| e.payload).collect()
            };
            let expected = [TestEvent::Numbered(1), TestEvent::Numbered(3)];
            assert_eq!(
                numbers(store.read_stream("a", 0).await.expect("read")),
                expected
            );
            drop(store);
            let store = open_tiny(&disk).expect("reopen");
            assert_eq!(
                numbers(store.read_all(0, 10).await.expect("read")),
                expected
            );
        });
    }

    /// A segment made but whose header fsync failed is no clean failure: the store stops
    /// as after any failed fsync, and the file left behind is a torn last segment to the
    /// next process (not one that blocks every later segment under its name).
    #[test]
    fn a_segment_made_but_not_synced_stops_the_store() {
        runtime().block_on(async {
            let disk = SimDisk::default();
            let store = open_tiny(&disk).expect("open");
            let one = |n| vec![NewEvent::new(TestEvent::Numbered(n))];
            store
                .append("a", ExpectedVersion::Any, one(1))
                .await
                .expect("the first append");
            disk.fail_next_sync();
            store
                .append("a", ExpectedVersion::Any, one(2))
                .await
                .expect_err("its segment's header was not fsynced");
            let later = store
                .append("a", ExpectedVersion::Any, one(3))
                .await
                .expect_err("the store stopped");
            assert!(
                later.to_string().contains("an earlier write failed"),
                "{later}"
            );
            drop(store);
            let next_boot = disk.after_power_loss(&mut Rng::new(3));
            let store = open_tiny(&next_boot).expect("the next process opens");
            let events = store.read_all(0, 10).await.expect("read");
            assert_eq!(events.len(), 1);
            store
                .append("a", ExpectedVersion::Exactly(1), one(4))
                .await
                .expect("and goes on in a new segment");
        });
    }

    #[test]
    fn the_directory_stays_locked_while_an_abandoned_write_runs() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let disk = SimDisk::default();
            let store = open(&disk).expect("open");
            disk.hold_syncs(true);
            let append = tokio::spawn(async move {
                store
                    .append(
                        "a",
                        ExpectedVersion::Any,
                        vec![NewEvent::new(TestEvent::Numbered(1))],
                    )
                    .await
            });
            while disk.syncs_waiting() == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            // The caller gives up and the backend is dropped while its fsync still runs.
            append.abort();
            let _ = append.await;
            let refused = open(&disk).expect_err("still locked");
            assert!(refused.to_string().contains("still running"), "{refused}");
            disk.hold_syncs(false);
            let store = loop {
                match open(&disk) {
                    Ok(store) => break store,
                    Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
                }
            };
            assert_eq!(store.read_stream("a", 0).await.expect("read").len(), 1);
        });
    }

    #[test]
    fn recovery_reads_a_big_segment_a_chunk_at_a_time() {
        runtime().block_on(async {
            let disk = SimDisk::default();
            let store = WalBackend::<TestEvent>::open_on(
                Arc::new(disk.clone()),
                Path::new(DIR),
                WalOptions::default(),
            )
            .expect("open");
            // One append of 8 MiB: one commit, one segment.
            let events = (0..2048)
                .map(|i| {
                    NewEvent::new(TestEvent::Renamed {
                        name: format!("{i}{}", "y".repeat(4096)),
                    })
                })
                .collect();
            store
                .append("big", ExpectedVersion::Any, events)
                .await
                .expect("append");
            drop(store);
            let store = WalBackend::<TestEvent>::open_on(
                Arc::new(disk.clone()),
                Path::new(DIR),
                WalOptions::default(),
            )
            .expect("reopen");
            assert!(
                disk.largest_read() <= super::super::recovery::CHUNK,
                "recovery read {} bytes at once",
                disk.largest_read()
            );
            assert_eq!(store.read_stream("big", 0).await.expect("read").len(), 2048);
        });
    }

    #[test]
    fn a_damaged_last_commit_is_cut_and_says_so() {
        runtime().block_on(async {
            let disk = SimDisk::default();
            let store = open(&disk).expect("open");
            for i in 0..2 {
                store
                    .append("a", ExpectedVersion::Any, vec![NewEvent::new(TestEvent::Numbered(i))])
                    .await
                    .expect("append");
            }
            drop(store);
            {
                let mut world = disk.world();
                let file = world.files.iter_mut().find(|f| !f.data.is_empty()).expect("segment");
                let last = file.data.len() - 3;
                file.data[last] ^= 0x40;
            }
            let store = open(&disk).expect("a damaged last commit is cut, not refused");
            let truncation = store.truncation().expect("cut");
            assert!(
                matches!(&truncation.cause, TruncationCause::Damaged { reason } if reason.contains("checksum")),
                "{truncation:?}"
            );
            assert_eq!(store.read_stream("a", 0).await.expect("read").len(), 1);
        });
    }

    /// A log of a few appends, then bytes flipped, cut, inserted or repeated anywhere in
    /// it: opening never panics, and refuses only with `Corrupt`; what opens reads back.
    #[test]
    fn mutated_segments_open_or_are_refused_as_corrupt() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};

        let runtime = runtime();
        let source = SimDisk::default();
        runtime.block_on(async {
            let store = WalBackend::<TestEvent>::open_on(
                Arc::new(source.clone()),
                Path::new(DIR),
                WalOptions {
                    segment_bytes: 512,
                    ..options()
                },
            )
            .expect("open");
            for i in 0..12u64 {
                let events = (0..1 + i % 3).map(|n| NewEvent::new(TestEvent::Numbered(i * 10 + n)));
                store
                    .append(
                        &format!("s{}", i % 4),
                        ExpectedVersion::Any,
                        events.collect(),
                    )
                    .await
                    .expect("append");
            }
        });
        let segments = source.files_ending("wal");
        assert!(segments.len() > 1, "the log spans segments");
        let edits = prop::collection::vec(
            (0..segments.len(), any::<usize>(), any::<u8>(), 0..4u8),
            1..5,
        );
        let cases = cases("ALLFRAME_PROPERTY_CASES", 3_000) as u32;
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&edits, |edits| {
                let mut files = segments.clone();
                for (file, at, byte, kind) in edits {
                    let bytes = &mut files[file].1;
                    let at = at % (bytes.len() + 1);
                    match kind {
                        0 if at < bytes.len() => bytes[at] ^= byte | 1,
                        1 => bytes.truncate(at),
                        2 => bytes.insert(at, byte),
                        _ => {
                            let tail = bytes[at..].to_vec();
                            bytes.extend_from_slice(&tail);
                        }
                    }
                }
                let disk = SimDisk::holding(&files);
                match open(&disk) {
                    Ok(store) => runtime.block_on(async {
                        let all = store.read_all(0, usize::MAX).await;
                        prop_assert!(all.is_ok(), "an opened log reads back: {:?}", all.err());
                        Ok(())
                    }),
                    Err(StoreError::Corrupt { .. }) => Ok(()),
                    Err(other) => Err(TestCaseError::fail(format!("refused untyped: {other}"))),
                }
            })
            .unwrap();
    }
}
