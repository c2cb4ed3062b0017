//! The event store per backend: append and read in memory, durable appends in the WAL with
//! group commit and with an fsync per append, and PostgreSQL when one is reachable.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use allframe::cqrs::{
    Backend, EventStore, ExpectedVersion, NewEvent, PostgresBackend, SyncMode, WalBackend,
    WalOptions,
};
use allframe_benches::{AccountEvent, account_ids, database_url, deposited, runtime};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn memory(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("event_store");
    let ids = account_ids(1_000);

    // Round-robin over 1,000 streams; each sample starts from a fresh store, so the store's
    // growth is the same in every sample.
    group.throughput(Throughput::Elements(1));
    group.bench_function("append/memory", |b| {
        b.iter_custom(|iters| {
            let store = EventStore::in_memory();
            runtime.block_on(async {
                let started = Instant::now();
                for n in 0..iters as usize {
                    let event = vec![NewEvent::new(deposited(5))];
                    let appended = store.append(&ids[n % ids.len()], ExpectedVersion::Any, event);
                    black_box(appended.await.ok());
                }
                started.elapsed()
            })
        })
    });

    let store = EventStore::in_memory();
    runtime.block_on(fill(&store, &ids, 100));
    group.throughput(Throughput::Elements(100));
    group.bench_function("read_stream/memory", |b| {
        b.to_async(&runtime).iter(|| store.read_stream(&ids[7], 0))
    });
    group.throughput(Throughput::Elements(1_000));
    group.bench_function("read_all/memory", |b| {
        b.to_async(&runtime).iter(|| store.read_all(50_000, 1_000))
    });
    group.finish();
}

/// `events_per_stream` events in each of `ids`, appended in batches of 100.
async fn fill<B: Backend<AccountEvent>>(
    store: &EventStore<AccountEvent, B>,
    ids: &[String],
    events_per_stream: usize,
) {
    for id in ids {
        for _ in 0..events_per_stream / 100 {
            let batch = (0..100).map(|_| NewEvent::new(deposited(1))).collect();
            store
                .append(id, ExpectedVersion::Any, batch)
                .await
                .expect("fill");
        }
    }
}

/// `writers` tasks share `total` single-event appends; returns the time they took.
async fn concurrent_appends<B: Backend<AccountEvent>>(
    store: &Arc<EventStore<AccountEvent, B>>,
    writers: u64,
    total: u64,
) -> Duration {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..writers {
        let store = Arc::clone(store);
        let count = total / writers + u64::from(writer < total % writers);
        tasks.spawn(async move {
            let stream = format!("writer-{writer}");
            for _ in 0..count {
                store
                    .append(
                        &stream,
                        ExpectedVersion::Any,
                        vec![NewEvent::new(deposited(5))],
                    )
                    .await
                    .expect("append");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("writer");
    }
    started.elapsed()
}

/// A backend in an emptied `allframe_bench` schema, so runs do not pile up events.
async fn fresh_postgres() -> Result<PostgresBackend<AccountEvent>, String> {
    use sqlx::Connection;
    let url = database_url();
    let mut connection = sqlx::PgConnection::connect(&url)
        .await
        .map_err(|e| format!("no PostgreSQL at {url}: {e}"))?;
    sqlx::query("drop schema if exists allframe_bench cascade")
        .execute(&mut connection)
        .await
        .map_err(|e| e.to_string())?;
    PostgresBackend::connect_in_schema(&url, "allframe_bench")
        .await
        .map_err(|e| e.to_string())
}

fn multi_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn durable(c: &mut Criterion) {
    let runtime = multi_thread_runtime();
    let mut group = c.benchmark_group("event_store");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));

    for (id, sync, writers) in [
        (
            "append/wal_group_commit/256_writers",
            SyncMode::GroupCommit,
            256,
        ),
        (
            "append/wal_group_commit/1024_writers",
            SyncMode::GroupCommit,
            1024,
        ),
        ("append/wal_fsync_per_append", SyncMode::PerAppend, 1),
    ] {
        let dir = tempfile::TempDir::new().expect("temp dir");
        let options = WalOptions {
            sync,
            ..WalOptions::default()
        };
        let store = Arc::new(EventStore::with_backend(
            WalBackend::open_with(dir.path(), options).expect("open the WAL"),
        ));
        group.bench_function(id, |b| {
            b.iter_custom(|iters| runtime.block_on(concurrent_appends(&store, writers, iters)))
        });
    }

    // One writer at a time (each append its own transaction), then writers whose appends
    // queue behind each other's and commit in batches.
    match runtime.block_on(fresh_postgres()) {
        Ok(backend) => {
            let store = Arc::new(EventStore::with_backend(backend));
            for writers in [1, 16, 64] {
                let id = format!("append/postgres/{writers}_writers");
                group.bench_function(id, |b| {
                    b.iter_custom(|iters| {
                        runtime.block_on(concurrent_appends(&store, writers, iters))
                    })
                });
            }
        }
        Err(error) => eprintln!("SKIPPED: event_store/append/postgres: {error}"),
    }
    group.finish();
}

criterion_group!(benches, memory, durable);
criterion_main!(benches);
