//! The durable file backend: conformance, reopening, group commit, torn tails, corruption,
//! and a child process killed with SIGKILL at random points.

use std::collections::HashMap;
use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use allframe_cqrs::conformance::{self, TestEvent};
use allframe_cqrs::{
    EventStore, ExpectedVersion, NewEvent, Snapshot, StoreError, SyncMode, WalBackend, WalOptions,
};
use tempfile::TempDir;

type Store = EventStore<TestEvent, WalBackend<TestEvent>>;

fn numbered(range: std::ops::Range<u64>) -> Vec<NewEvent<TestEvent>> {
    range
        .map(|n| NewEvent::new(TestEvent::Numbered(n)))
        .collect()
}

fn open(dir: &Path) -> Store {
    EventStore::with_backend(WalBackend::open(dir).expect("open the WAL"))
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    paths.sort();
    paths
}

fn positions(events: &[allframe_cqrs::Envelope<TestEvent>]) -> Vec<u64> {
    events.iter().map(|e| e.position).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_backend_conforms() {
    let dirs = Mutex::new(Vec::new());
    conformance::run(|| async {
        let dir = TempDir::new().expect("temp dir");
        let backend = WalBackend::open(dir.path()).expect("open");
        dirs.lock().unwrap().push(dir);
        backend
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reopened_store_has_every_event_and_snapshot_and_goes_on() {
    let dir = TempDir::new().expect("temp dir");
    {
        let store = open(dir.path());
        store
            .append("a", ExpectedVersion::NoStream, numbered(0..3))
            .await
            .expect("append");
        store
            .append("b", ExpectedVersion::NoStream, numbered(3..4))
            .await
            .expect("append");
        let snapshot = Snapshot {
            version: 3,
            data: b"state".to_vec(),
        };
        store.save_snapshot("a", snapshot).await.expect("snapshot");
    }
    let store = open(dir.path());
    assert_eq!(
        store.backend().truncation(),
        None,
        "a clean close cuts nothing"
    );
    let all = store.read_all(0, 100).await.expect("read all");
    assert_eq!(positions(&all), [1, 2, 3, 4]);
    assert_eq!(all[3].payload, TestEvent::Numbered(3));
    assert_eq!(
        store
            .load_snapshot("a")
            .await
            .expect("load")
            .map(|s| s.data),
        Some(b"state".to_vec())
    );
    match store
        .append("a", ExpectedVersion::Exactly(2), numbered(9..10))
        .await
    {
        Err(StoreError::Conflict { actual: 3, .. }) => {}
        other => panic!("versions survive a reopen, got {other:?}"),
    }
    let appended = store
        .append("a", ExpectedVersion::Exactly(3), numbered(4..5))
        .await
        .expect("append after reopening");
    assert_eq!((appended.version, appended.last_position), (4, 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_open_of_the_same_directory_is_refused() {
    let dir = TempDir::new().expect("temp dir");
    let _first = WalBackend::<TestEvent>::open(dir.path()).expect("open");
    let error = WalBackend::<TestEvent>::open(dir.path()).expect_err("second open");
    assert!(error.to_string().contains("open in another"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_roll_over_and_a_missing_one_is_named() {
    let dir = TempDir::new().expect("temp dir");
    let options = WalOptions {
        segment_bytes: 300,
        ..WalOptions::default()
    };
    {
        let store = EventStore::with_backend(
            WalBackend::<TestEvent>::open_with(dir.path(), options).expect("open"),
        );
        for n in 0..20 {
            store
                .append("s", ExpectedVersion::Exactly(n), numbered(n..n + 1))
                .await
                .expect("append");
        }
    }
    let files = segments(dir.path());
    assert!(files.len() > 3, "300-byte segments roll over: {files:?}");
    let store = open(dir.path());
    let stream = store.read_stream("s", 0).await.expect("read");
    assert_eq!(stream.len(), 20);
    assert!(
        stream
            .iter()
            .enumerate()
            .all(|(i, e)| e.version == i as u64 + 1)
    );
    drop(store);

    std::fs::remove_file(&files[1]).expect("remove a segment");
    match WalBackend::<TestEvent>::open(dir.path()) {
        Err(StoreError::Corrupt { path, reason, .. }) => {
            assert_eq!(path, files[2], "the segment after the gap");
            assert!(reason.contains("missing"), "{reason}");
        }
        other => panic!("a missing segment must refuse to open, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_share_fsyncs_and_per_append_sync_does_not() {
    for sync in [SyncMode::GroupCommit, SyncMode::PerAppend] {
        let dir = TempDir::new().expect("temp dir");
        let options = WalOptions {
            sync,
            ..WalOptions::default()
        };
        let store = Arc::new(EventStore::with_backend(
            WalBackend::<TestEvent>::open_with(dir.path(), options).expect("open"),
        ));
        let mut tasks = tokio::task::JoinSet::new();
        for task in 0..64u64 {
            let store = Arc::clone(&store);
            tasks.spawn(async move {
                store
                    .append(
                        &format!("s{task}"),
                        ExpectedVersion::NoStream,
                        numbered(task..task + 1),
                    )
                    .await
                    .expect("append")
            });
        }
        while let Some(result) = tasks.join_next().await {
            result.expect("task");
        }
        let fsyncs = store.backend().fsyncs();
        match sync {
            SyncMode::GroupCommit => assert!(fsyncs < 64, "64 appends took {fsyncs} fsyncs"),
            SyncMode::PerAppend => assert_eq!(fsyncs, 64, "one fsync per append"),
        }
        assert_eq!(store.read_all(0, 100).await.expect("read").len(), 64);
    }
}

/// Writes three appends (1, 3 and 2 events) and returns the offsets where each record of
/// the segment ends.
async fn three_appends(dir: &Path) -> Vec<u64> {
    let store = open(dir);
    let mut ends = Vec::new();
    for (stream, range) in [("a", 0..1), ("b", 1..4), ("a", 4..6)] {
        store
            .append(stream, ExpectedVersion::Any, numbered(range))
            .await
            .expect("append");
        ends.push(std::fs::metadata(&segments(dir)[0]).expect("size").len());
    }
    ends
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_last_append_is_cut_off_whole() {
    let dir = TempDir::new().expect("temp dir");
    let ends = three_appends(dir.path()).await;
    let segment = segments(dir.path())[0].clone();
    // The crash left the last append half-written: its first record whole, the second cut.
    let torn_at = ends[2] - 10;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .and_then(|f| f.set_len(torn_at))
        .expect("tear");
    let store = open(dir.path());
    let truncation = store.backend().truncation().cloned().expect("a truncation");
    assert_eq!(
        (
            truncation.path.as_path(),
            truncation.offset,
            truncation.bytes
        ),
        (segment.as_path(), ends[1], torn_at - ends[1]),
        "cut at the start of the torn append"
    );
    let all = store.read_all(0, 100).await.expect("read");
    assert_eq!(
        positions(&all),
        [1, 2, 3, 4],
        "the whole torn append is gone"
    );
    let appended = store
        .append("a", ExpectedVersion::Exactly(1), numbered(7..8))
        .await
        .expect("append after recovery");
    assert_eq!((appended.version, appended.last_position), (2, 5));
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.backend().truncation(), None, "recovery was durable");
    assert_eq!(store.read_all(0, 100).await.expect("read").len(), 5);
}

/// A crash can leave any prefix of the unsynced bytes on disk: cut the log at every byte of
/// its last three appends and check each reopens to exactly the whole appends before the cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_at_every_byte_of_the_tail_recovers_whole_appends() {
    let source = TempDir::new().expect("temp dir");
    let ends = three_appends(source.path()).await;
    let bytes = std::fs::read(&segments(source.path())[0]).expect("read");
    let events_before = [0usize, 1, 4, 6];
    let first_cut = 8; // after the segment header
    for cut in first_cut..=bytes.len() {
        let dir = TempDir::new().expect("temp dir");
        let segment = dir
            .path()
            .join(segments(source.path())[0].file_name().unwrap());
        std::fs::write(&segment, &bytes[..cut]).expect("write the cut log");
        let store = open(dir.path());
        let whole = ends.iter().filter(|&&end| end <= cut as u64).count();
        let events = store.read_all(0, 100).await.expect("read");
        assert_eq!(events.len(), events_before[whole], "cut at byte {cut}");
        let torn = cut as u64 > ends.get(whole.wrapping_sub(1)).copied().unwrap_or(8);
        assert_eq!(
            store.backend().truncation().is_some(),
            torn,
            "cut at byte {cut}: a truncation exactly when an append was torn"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_at_the_tail_is_cut_off_and_zeros_too() {
    for tail in [
        &b"\x05\x00\x00\x00\xde\xad\xbe\xef\x01\x02\x03\x04\x05"[..],
        &[0u8; 4096][..],
    ] {
        let dir = TempDir::new().expect("temp dir");
        let ends = three_appends(dir.path()).await;
        let segment = segments(dir.path())[0].clone();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&segment)
            .and_then(|mut f| f.write_all(tail))
            .expect("append garbage");
        let store = open(dir.path());
        let truncation = store.backend().truncation().cloned().expect("a truncation");
        assert_eq!(
            (truncation.offset, truncation.bytes),
            (ends[2], tail.len() as u64)
        );
        assert_eq!(store.read_all(0, 100).await.expect("read").len(), 6);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damage_before_the_tail_refuses_to_open_naming_file_and_offset() {
    let dir = TempDir::new().expect("temp dir");
    let ends = three_appends(dir.path()).await;
    let segment = segments(dir.path())[0].clone();
    let mut bytes = std::fs::read(&segment).expect("read");
    // A bit flips inside the second append's second record (its commit: a 24-byte header
    // and three records of one size).
    let record = (ends[1] - ends[0] - 24) as usize / 3;
    let second_record_start = ends[0] as usize + 24 + record;
    bytes[second_record_start + 20] ^= 0x01;
    std::fs::write(&segment, &bytes).expect("write");
    let error = WalBackend::<TestEvent>::open(dir.path()).expect_err("refused");
    match &error {
        StoreError::Corrupt { path, offset, .. } => {
            assert_eq!(path, &segment);
            assert_eq!(*offset, second_record_start as u64);
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.contains(&segment.display().to_string())
            && message.contains(&format!("offset {second_record_start}")),
        "{message}"
    );
    assert_eq!(
        std::fs::read(&segment).expect("read"),
        bytes,
        "nothing was cut"
    );
}

// --- SIGKILL ---------------------------------------------------------------------------

const CHILD_ENV: &str = "ALLFRAME_WAL_CRASH_CHILD";
const WRITERS: u64 = 4;

/// The payload of a stream's event at a version, so the parent can check every byte. The
/// last writer's events are large, so its writes span pages and a kill can tear them.
fn crash_payload(writer: u64, version: u64) -> TestEvent {
    if writer == WRITERS - 1 {
        let name = format!("{version:>width$}", width = 48 << 10);
        return TestEvent::Renamed { name };
    }
    TestEvent::Numbered(writer * 1_000_000_000 + version)
}

/// The child: four writers append batches of 1-3 events with expected versions, printing
/// each acknowledgement, until the parent kills the process.
fn crash_child(dir: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    runtime.block_on(async {
        // Small segments: the kills also land while segments roll over.
        let options = WalOptions {
            segment_bytes: 64 << 10,
            ..WalOptions::default()
        };
        let backend = WalBackend::open_with(Path::new(dir), options).expect("open");
        let store = Arc::new(EventStore::with_backend(backend));
        let mut tasks = tokio::task::JoinSet::new();
        for writer in 0..WRITERS {
            let store = Arc::clone(&store);
            tasks.spawn(async move {
                let stream = format!("w{writer}");
                let mut version = store.read_stream(&stream, 0).await.expect("read").len() as u64;
                loop {
                    let batch = 1 + version % 3;
                    let events = (version + 1..=version + batch)
                        .map(|v| NewEvent::new(crash_payload(writer, v)))
                        .collect();
                    let appended = store
                        .append(&stream, ExpectedVersion::Exactly(version), events)
                        .await
                        .expect("append");
                    version = appended.version;
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {writer} {version}").expect("stdout");
                    out.flush().expect("stdout");
                }
            });
        }
        tasks.join_next().await;
    });
}

/// A small xorshift: kill points vary between runs, and the seed is printed to replay one.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn sigkill_at_random_points_loses_no_acknowledged_event() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        crash_child(&dir);
        return;
    }
    let seed = std::env::var("ALLFRAME_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash seed {seed} (replay with ALLFRAME_CRASH_SEED={seed})");
    let mut random = Random(seed);
    let dir = TempDir::new().expect("temp dir");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut acknowledged = [0u64; WRITERS as usize];
    let mut truncations = 0;
    for round in 0..20 {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "sigkill_at_random_points_loses_no_acknowledged_event",
                "--nocapture",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the child");
        let stdout = child.stdout.take().expect("stdout");
        let acks: Arc<Mutex<HashMap<u64, u64>>> = Arc::default();
        let reader = {
            let acks = Arc::clone(&acks);
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let mut words = line.split_whitespace();
                    if words.next() != Some("ack") {
                        continue;
                    }
                    let writer: u64 = words.next().and_then(|w| w.parse().ok()).expect("writer");
                    let version: u64 = words.next().and_then(|w| w.parse().ok()).expect("version");
                    let mut acks = acks.lock().unwrap();
                    let max = acks.entry(writer).or_default();
                    *max = (*max).max(version);
                }
            })
        };
        // Wait for the child to be writing, then kill it somewhere in the next 0-40 ms.
        let started = Instant::now();
        while acks.lock().unwrap().is_empty() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "round {round}: the child never acknowledged an append"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_micros(random.below(40_000)));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        reader.join().expect("reader");
        for (&writer, &version) in acks.lock().unwrap().iter() {
            acknowledged[writer as usize] = acknowledged[writer as usize].max(version);
        }

        let backend = WalBackend::<TestEvent>::open(dir.path())
            .unwrap_or_else(|e| panic!("round {round}: reopening after SIGKILL: {e}"));
        truncations += usize::from(backend.truncation().is_some());
        let store = EventStore::with_backend(backend);
        runtime.block_on(async {
            for writer in 0..WRITERS {
                let events = store
                    .read_stream(&format!("w{writer}"), 0)
                    .await
                    .expect("read");
                assert!(
                    events.len() as u64 >= acknowledged[writer as usize],
                    "round {round}: writer {writer} had {} acknowledged, {} survived",
                    acknowledged[writer as usize],
                    events.len()
                );
                for (i, event) in events.iter().enumerate() {
                    let version = i as u64 + 1;
                    assert_eq!(event.version, version, "round {round}: gapless versions");
                    assert_eq!(
                        event.payload,
                        crash_payload(writer, version),
                        "round {round}"
                    );
                }
            }
            let all = store.read_all(0, usize::MAX).await.expect("read all");
            assert!(
                all.iter()
                    .enumerate()
                    .all(|(i, e)| e.position == i as u64 + 1),
                "round {round}: gapless positions"
            );
        });
    }
    let total: u64 = acknowledged.iter().sum();
    eprintln!(
        "20 SIGKILLs: {total} acknowledged events all survived; {truncations} torn tails cut"
    );
    assert!(total > 20, "the children made progress: {total} events");
}

/// Appends whose callers give up after their records are queued (a request timeout, a
/// client gone) are still written: their versions are taken, so an unwritten one would make
/// every later `Exactly` append to the stream conflict (issue 18, finding 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_abandoned_after_queueing_are_written_anyway() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path());
    let abandoned = 2_000u64;
    let mut given_up = 0;
    for n in 0..abandoned {
        // Polled once and dropped: queued, then given up while it waits for its fsync. The
        // background writer runs on the other worker meanwhile, so now and then one append
        // finds its group already written and is done at once: it is not abandoned.
        let stream = format!("s{n}");
        let append =
            std::pin::pin!(store.append(&stream, ExpectedVersion::NoStream, numbered(0..1)));
        let once = append.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
        match once {
            std::task::Poll::Pending => given_up += 1,
            std::task::Poll::Ready(done) => {
                done.unwrap_or_else(|e| panic!("{stream}: {e}"));
            }
        }
    }
    assert!(
        given_up > abandoned / 2,
        "most appends wait for their fsync: {given_up} of {abandoned} did"
    );
    // Written in the background: visible within moments, with no other append or flush
    // (which would write them as a side effect).
    let deadline = Instant::now() + Duration::from_secs(5);
    while store.stats().await.unwrap().events < abandoned {
        assert!(
            Instant::now() < deadline,
            "{} of {abandoned} queued events were written",
            store.stats().await.unwrap().events
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for n in 0..abandoned {
        let stream = format!("s{n}");
        assert_eq!(store.read_stream(&stream, 0).await.unwrap().len(), 1);
        store
            .append(&stream, ExpectedVersion::Exactly(1), numbered(0..1))
            .await
            .unwrap_or_else(|e| panic!("{stream}: {e}"));
    }
}

/// An append that loses to one still on its way to disk reports the conflict once the
/// winner is readable: otherwise a retry reloads the old state, decides on it again and
/// loses again, and a hot aggregate's callers burned their retries in microseconds while
/// one fsync ran (CI saw `Conflict { expected: Exactly(0), actual: 1 }` on the last retry).
#[tokio::test(flavor = "current_thread")]
async fn a_conflict_is_reported_once_the_version_it_lost_to_is_readable() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path());
    // Polled once: queued as version 1, its fsync not yet run (this runtime has one thread
    // and nothing has yielded to the commit task).
    let mut winner = std::pin::pin!(store.append("s", ExpectedVersion::NoStream, numbered(0..1)));
    let once = winner
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
    assert!(once.is_pending(), "the winner waits for its fsync");
    let lost = store
        .append("s", ExpectedVersion::Exactly(0), numbered(1..2))
        .await;
    assert!(
        matches!(lost, Err(StoreError::Conflict { actual: 1, .. })),
        "{lost:?}"
    );
    assert_eq!(
        store.read_stream("s", 0).await.unwrap().len(),
        1,
        "the version the append lost to is readable when the conflict is reported"
    );
    winner.await.unwrap();
}

/// A live subscription hears of an append whose caller gave up after queueing it: the
/// event is stored, so it must be delivered (issue 18, finding 2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_hears_of_an_abandoned_append() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path());
    let mut subscription = store.subscribe(0);
    let listening = tokio::spawn(async move { subscription.next().await.map(|e| e.position) });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let append = std::pin::pin!(store.append("s", ExpectedVersion::NoStream, numbered(0..1)));
    let once = append.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
    assert!(once.is_pending());
    let heard = tokio::time::timeout(Duration::from_secs(5), listening).await;
    assert_eq!(
        heard
            .expect("the subscription heard within 5 s")
            .unwrap()
            .unwrap(),
        1
    );
}
