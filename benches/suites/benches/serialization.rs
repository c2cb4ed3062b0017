//! JSON in and out of a typical event: what every durable append and read pays.

use allframe_benches::{AccountEvent, deposited};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn serialization(c: &mut Criterion) {
    let mut group = c.benchmark_group("serialization");
    group.throughput(Throughput::Elements(1));
    let event = deposited(12_345);
    let json = serde_json::to_vec(&event).expect("serialize");
    group.bench_function("event_to_json", |b| {
        b.iter(|| serde_json::to_vec(black_box(&event)).expect("serialize"))
    });
    group.bench_function("event_from_json", |b| {
        b.iter(|| serde_json::from_slice::<AccountEvent>(black_box(&json)).expect("deserialize"))
    });
    group.finish();
}

criterion_group!(benches, serialization);
criterion_main!(benches);
