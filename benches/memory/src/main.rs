//! Heap scenarios under dhat, one per process so each starts from an empty heap:
//! `allframe-memory <scenario> [--events N] [--dhat-file PATH]` prints one JSON line of
//! figures (and with `--dhat-file`, writes the heap profile there for DHAT's viewer).
//! `cargo xtask memory` runs them all and judges the figures.
//!
//! Set `ALLFRAME_MEMORY_INJECT_BYTES=n` to leak `n` extra bytes per event: the gate's own
//! test uses it to check that a regression is caught.

use std::io::Write;
use std::sync::Arc;

use allframe::cqrs::{
    Command, CommandBus, CommandHandler, Envelope, EventStore, ExpectedVersion, NewEvent,
    Projection, Projections, ValidationError, WalBackend,
};
use allframe_benches::{AccountEvent, account_ids, deposited};
use serde::Serialize;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// What one scenario measured.
#[derive(Debug, Serialize)]
struct Figures {
    scenario: String,
    /// Events (or commands) the scenario handled.
    events: u64,
    /// Heap at the start of the measured part.
    start_bytes: u64,
    /// Heap at the end, with everything the scenario keeps still alive.
    end_bytes: u64,
    /// The most heap in use at once in the whole process, set-up included (dhat cannot
    /// restart its peak): for a scenario whose set-up is large, `end_bytes - start_bytes`
    /// is its own figure.
    peak_bytes: u64,
    /// Everything allocated over the run.
    total_bytes: u64,
    /// Allocations over the run.
    total_blocks: u64,
    /// Heap kept per event: (end - start) / events.
    bytes_per_event: f64,
    /// The same, less the payload's own size (inline and heap): the store's overhead.
    overhead_per_event: f64,
    /// The process's peak resident set, from /proc/self/status.
    peak_rss_bytes: u64,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let scenario = args.next().unwrap_or_default();
    let mut events: u64 = 1_000_000;
    let mut dhat_file: Option<String> = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--events" => {
                events = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| fail("--events needs a number"));
            }
            // Instead of testing mode: dhat writes a profile for DHAT's viewer on exit.
            "--dhat-file" => {
                dhat_file = Some(
                    args.next()
                        .unwrap_or_else(|| fail("--dhat-file needs a path")),
                );
            }
            other => fail(&format!("unknown argument `{other}`")),
        }
    }
    let profiler = match &dhat_file {
        Some(file) => dhat::Profiler::builder().file_name(file).build(),
        None => dhat::Profiler::builder().testing().build(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let figures = runtime.block_on(async {
        match scenario.as_str() {
            "memory_store" => memory_store(events).await,
            "projection" => projection(events).await,
            "command_dispatch" => command_dispatch(events).await,
            "wal_replay" => wal_replay(events).await,
            _ => fail(&format!(
                "unknown scenario `{scenario}`; scenarios: memory_store, projection, \
                 command_dispatch, wal_replay"
            )),
        }
    });
    // The one line `cargo xtask memory` reads.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", serde_json::to_string(&figures).expect("JSON")).expect("stdout");
    drop(profiler);
}

fn fail(message: &str) -> ! {
    eprintln!("allframe-memory: {message}");
    std::process::exit(2);
}

/// The leak the gate's test injects, if asked to.
fn injected(events: u64) -> Vec<Vec<u8>> {
    let bytes: usize = std::env::var("ALLFRAME_MEMORY_INJECT_BYTES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if bytes == 0 {
        return Vec::new();
    }
    (0..events).map(|_| vec![1u8; bytes]).collect()
}

/// Measures what `run` keeps and peaks at, from the moment it starts.
async fn measure<F, T>(scenario: &str, events: u64, payload_bytes: f64, run: F) -> Figures
where
    F: AsyncFnOnce() -> T,
{
    let start = dhat::HeapStats::get();
    let kept = run().await;
    let leak = injected(events);
    let end = dhat::HeapStats::get();
    let end_bytes = end.curr_bytes as u64;
    let start_bytes = start.curr_bytes as u64;
    let per_event = (end_bytes.saturating_sub(start_bytes)) as f64 / events as f64;
    let figures = Figures {
        scenario: scenario.to_owned(),
        events,
        start_bytes,
        end_bytes,
        peak_bytes: end.max_bytes as u64,
        total_bytes: (end.total_bytes - start.total_bytes),
        total_blocks: (end.total_blocks - start.total_blocks),
        bytes_per_event: per_event,
        overhead_per_event: per_event - payload_bytes,
        peak_rss_bytes: peak_rss(),
    };
    drop((kept, leak));
    figures
}

/// VmHWM of this process.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// An event's own size: inline in whatever holds it, plus its reference string's heap.
fn payload_bytes() -> f64 {
    let AccountEvent::Deposited { reference, .. } = deposited(1) else {
        unreachable!()
    };
    (size_of::<AccountEvent>() + reference.len()) as f64
}

/// `events` appends of one event each, round-robin over 1,000 streams.
async fn fill(
    store: &EventStore<AccountEvent, impl allframe::cqrs::Backend<AccountEvent>>,
    events: u64,
) {
    let ids = account_ids(1_000);
    for n in 0..events {
        store
            .append(
                &ids[n as usize % ids.len()],
                ExpectedVersion::Any,
                vec![NewEvent::new(deposited(n))],
            )
            .await
            .expect("append");
    }
}

/// 1M events over 1,000 streams in the memory backend: what the store keeps per event.
async fn memory_store(events: u64) -> Figures {
    measure("memory_store", events, payload_bytes(), async || {
        let store = EventStore::<AccountEvent>::in_memory();
        fill(&store, events).await;
        store
    })
    .await
}

#[derive(Default)]
struct Balances(std::collections::HashMap<Arc<str>, u64>);

impl Projection<AccountEvent> for Balances {
    const NAME: &'static str = "balances";

    fn apply(&mut self, event: &Envelope<AccountEvent>) {
        if let AccountEvent::Deposited { amount, .. } = &event.payload {
            *self.0.entry(Arc::clone(&event.stream_id)).or_default() += amount;
        }
    }
}

/// A projection caught up over 1M stored events: its state and the catch-up's peak, with
/// the store itself outside the measurement.
async fn projection(events: u64) -> Figures {
    let store = EventStore::<AccountEvent>::in_memory();
    fill(&store, events).await;
    measure("projection", events, 0.0, async || {
        let projections = Projections::new(store.clone()).register::<Balances>();
        projections.catch_up().await.expect("catch up");
        projections
    })
    .await
}

struct Ping {
    key: String,
}

impl Command for Ping {
    fn validate(&self) -> Result<(), ValidationError> {
        Ok(())
    }

    fn idempotency_key(&self) -> Option<&str> {
        Some(&self.key)
    }
}

struct Pong;

impl CommandHandler<Ping> for Pong {
    type Output = u64;
    type Error = ValidationError;

    async fn handle(&self, command: Ping) -> Result<u64, ValidationError> {
        Ok(command.key.len() as u64)
    }
}

/// 1M dispatches with idempotency keys: the remembered keys are bounded, so the heap must
/// end close to where it started once the bus's memory is full.
async fn command_dispatch(events: u64) -> Figures {
    let bus = CommandBus::new(Pong);
    // Fill the idempotency memory first: what follows must not grow it.
    for n in 0..allframe::cqrs::DEFAULT_IDEMPOTENCY_CAPACITY as u64 {
        let _ = bus
            .dispatch(Ping {
                key: format!("warm-{n}"),
            })
            .await;
    }
    measure("command_dispatch", events, 0.0, async || {
        for n in 0..events {
            let _ = bus
                .dispatch(Ping {
                    key: format!("k-{n}"),
                })
                .await;
        }
    })
    .await
}

/// Opening a durable store of `events` events: what its rebuilt indexes keep per event.
async fn wal_replay(events: u64) -> Figures {
    let dir = tempfile::TempDir::new().expect("temp dir");
    {
        let store =
            EventStore::with_backend(WalBackend::<AccountEvent>::open(dir.path()).expect("open"));
        let ids = account_ids(1_000);
        for chunk in 0..events / 100 {
            let batch = (0..100).map(|n| NewEvent::new(deposited(n))).collect();
            store
                .append(
                    &ids[chunk as usize % ids.len()],
                    ExpectedVersion::Any,
                    batch,
                )
                .await
                .expect("append");
        }
    }
    measure("wal_replay", events, 0.0, async || {
        WalBackend::<AccountEvent>::open(dir.path()).expect("reopen")
    })
    .await
}
