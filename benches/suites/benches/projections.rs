//! Projections: catching up on new events, and rebuilding (reset, then replay) from the
//! in-memory store.

use std::collections::HashMap;
use std::sync::Arc;

use allframe::cqrs::{Envelope, EventStore, ExpectedVersion, NewEvent, Projection, Projections};
use allframe_benches::{AccountEvent, account_ids, deposited, runtime};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

/// Each account's balance: one map update per event.
#[derive(Default)]
struct Balances(HashMap<Arc<str>, u64>);

impl Projection<AccountEvent> for Balances {
    const NAME: &'static str = "balances";

    fn apply(&mut self, event: &Envelope<AccountEvent>) {
        let balance = match self.0.get_mut(&event.stream_id) {
            Some(balance) => balance,
            None => self.0.entry(Arc::clone(&event.stream_id)).or_default(),
        };
        match &event.payload {
            AccountEvent::Deposited { amount, .. } => *balance += amount,
            AccountEvent::Withdrawn { amount } => *balance -= amount,
        }
    }
}

/// A store with `events` deposits spread over 1,000 accounts.
async fn store_with(events: usize) -> EventStore<AccountEvent> {
    let store = EventStore::in_memory();
    let ids = account_ids(1_000);
    for (i, chunk) in (0..events).collect::<Vec<_>>().chunks(10).enumerate() {
        let batch = chunk.iter().map(|_| NewEvent::new(deposited(1))).collect();
        store
            .append(&ids[i % ids.len()], ExpectedVersion::Any, batch)
            .await
            .expect("append");
    }
    store
}

fn projections(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("projections");

    const NEW: usize = 10_000;
    let store = runtime.block_on(store_with(NEW));
    group.throughput(Throughput::Elements(NEW as u64));
    group.bench_function("catch_up/10000_events", |b| {
        b.iter_batched(
            || Projections::new(store.clone()).register::<Balances>(),
            |projections| runtime.block_on(projections.catch_up()).expect("catch up"),
            BatchSize::LargeInput,
        )
    });

    const ALL: usize = 100_000;
    let store = runtime.block_on(store_with(ALL));
    let projections = Projections::new(store).register::<Balances>();
    runtime.block_on(projections.catch_up()).expect("catch up");
    group.throughput(Throughput::Elements(ALL as u64));
    group.sample_size(20);
    group.bench_function("rebuild/100000_events", |b| {
        b.to_async(&runtime)
            .iter(|| async { projections.rebuild::<Balances>().await.expect("rebuild") })
    });
    group.finish();
}

criterion_group!(benches, projections);
criterion_main!(benches);
