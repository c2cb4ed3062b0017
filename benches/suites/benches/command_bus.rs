//! Commands: the bus's dispatch, and executing a command on an aggregate (load the cached
//! state, decide, append with the expected version) in the in-memory store.

use std::hint::black_box;
use std::time::Instant;

use allframe::cqrs::{Aggregates, CommandBus, EventStore, ExpectedVersion, NewEvent};
use allframe_benches::{Account, Bank, Deposit, account_ids, deposited, runtime};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn dispatch(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("command_bus");
    group.throughput(Throughput::Elements(1));

    // Over 1,000 accounts, each command through the bus to the aggregate. Each sample
    // starts from a fresh store, so the store's growth is the same in every sample.
    let ids = account_ids(1_000);
    group.bench_function("dispatch/1000_streams", |b| {
        b.iter_custom(|iters| {
            let bus = CommandBus::new(Bank {
                accounts: Aggregates::new(EventStore::in_memory()),
            });
            runtime.block_on(async {
                let started = Instant::now();
                for n in 0..iters as usize {
                    let command = Deposit {
                        account: ids[n % ids.len()].clone(),
                        amount: 5,
                    };
                    black_box(bus.dispatch(command).await.ok());
                }
                started.elapsed()
            })
        })
    });

    // Aggregates alone: the seed's "command execution" figure.
    group.bench_function("execute/1000_streams", |b| {
        b.iter_custom(|iters| {
            let accounts = Aggregates::<Account>::new(EventStore::in_memory());
            runtime.block_on(async {
                let started = Instant::now();
                for n in 0..iters as usize {
                    black_box(accounts.execute(&ids[n % ids.len()], 5).await.ok());
                }
                started.elapsed()
            })
        })
    });

    // One stream already 1,000 events long: flat, since the state is cached, not replayed.
    let store = EventStore::in_memory();
    runtime.block_on(async {
        let history = (0..1_000).map(|_| NewEvent::new(deposited(1))).collect();
        store
            .append("long", ExpectedVersion::NoStream, history)
            .await
            .expect("history");
    });
    let accounts = Aggregates::<Account>::new(store);
    group.bench_function("execute/one_stream_of_1000", |b| {
        b.to_async(&runtime).iter(|| accounts.execute("long", 5))
    });
    group.finish();
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
