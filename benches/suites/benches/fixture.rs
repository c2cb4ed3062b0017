//! Not a product benchmark: a fixed amount of work whose cost a knob can raise
//! (`ALLFRAME_BENCH_FIXTURE_SLOWDOWN=30` for 30% more), so the regression gates' tests can
//! check that a real slowdown is caught and that no change raises no alert.

use allframe_benches::fixture_spin;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn fixture(c: &mut Criterion) {
    let mut group = c.benchmark_group("fixture");
    group.throughput(Throughput::Elements(1));
    let mut n = 0;
    group.bench_function("spin", |b| {
        b.iter(|| {
            n += 1;
            fixture_spin(black_box(n))
        })
    });
    group.finish();
}

criterion_group!(benches, fixture);
criterion_main!(benches);
