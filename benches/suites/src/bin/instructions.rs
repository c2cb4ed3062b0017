//! One hot operation, run many times, for the instruction-count gate:
//! `instructions <id> <iterations>`. `cargo xtask bench --instructions` runs it under
//! callgrind, counting only inside `measured` (set-up excluded), at N and 2N iterations.
//!
//! `ALLFRAME_BENCH_FIXTURE_SLOWDOWN=<percent>` makes `fixture/spin` do that much more work:
//! the gates' own tests use it to check that a regression is caught.

use std::hint::black_box;

use allframe::cqrs::{
    Aggregates, Envelope, EventStore, ExpectedVersion, NewEvent, Projection, Projections, Saga,
    SagaStep, StepFuture, StepPolicy,
};
use allframe_benches::{Account, AccountEvent, account_ids, deposited, fixture_spin};

/// The ids this binary knows, as quality.toml names them.
const IDS: &[&str] = &[
    "command_bus/execute",
    "event_store/append_memory",
    "projections/catch_up",
    "sagas/two_steps",
    "serialization/event_to_json",
    "serialization/event_from_json",
    "fixture/spin",
];

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(id), Some(iterations)) = (args.next(), args.next().and_then(|n| n.parse().ok()))
    else {
        eprintln!(
            "usage: instructions <id> <iterations>; ids: {}",
            IDS.join(", ")
        );
        std::process::exit(2);
    };
    if !IDS.contains(&id.as_str()) {
        eprintln!("unknown id `{id}`; ids: {}", IDS.join(", "));
        std::process::exit(2);
    }
    let runtime = allframe_benches::runtime();
    run(&runtime, &id, iterations);
}

/// Sets up what `id` needs, then runs it `n` times inside `measured`.
fn run(runtime: &tokio::runtime::Runtime, id: &str, n: u64) {
    match id {
        "command_bus/execute" => {
            let accounts = Aggregates::<Account>::new(EventStore::in_memory());
            let ids = account_ids(1_000);
            measured_blocking(runtime, n, async |i| {
                black_box(accounts.execute(&ids[i as usize % ids.len()], 5).await.ok());
            });
        }
        "event_store/append_memory" => {
            let store = EventStore::in_memory();
            let ids = account_ids(1_000);
            measured_blocking(runtime, n, async |i| {
                let events = vec![NewEvent::new(deposited(5))];
                let stream = &ids[i as usize % ids.len()];
                black_box(
                    store
                        .append(stream, ExpectedVersion::Any, events)
                        .await
                        .ok(),
                );
            });
        }
        "projections/catch_up" => {
            let store = EventStore::in_memory();
            runtime.block_on(async {
                for _ in 0..n {
                    let events = vec![NewEvent::new(deposited(5))];
                    store
                        .append("account", ExpectedVersion::Any, events)
                        .await
                        .expect("append");
                }
            });
            let projections = Projections::new(store).register::<Total>();
            // One catch-up over all n events: the per-event cost is what scales.
            measured_blocking(runtime, 1, async |_| {
                black_box(projections.catch_up().await.ok());
            });
        }
        "sagas/two_steps" => {
            let policy = StepPolicy {
                retries: 0,
                ..StepPolicy::default()
            };
            let saga = Saga::new("transfer", EventStore::in_memory())
                .step_with(Nothing("debit"), policy)
                .step_with(Nothing("credit"), policy);
            let ids = account_ids(n as usize);
            measured_blocking(runtime, n, async |i| {
                black_box(saga.run(&ids[i as usize], 5u64).await.ok());
            });
        }
        "serialization/event_to_json" => {
            let event = deposited(12_345);
            measured_blocking(runtime, n, async |_| {
                black_box(serde_json::to_vec(black_box(&event)).ok());
            });
        }
        "serialization/event_from_json" => {
            let json = serde_json::to_vec(&deposited(12_345)).expect("serialize");
            measured_blocking(runtime, n, async |_| {
                black_box(serde_json::from_slice::<AccountEvent>(black_box(&json)).ok());
            });
        }
        "fixture/spin" => {
            measured_blocking(runtime, n, async |i| {
                black_box(fixture_spin(i));
            });
        }
        _ => unreachable!("checked in main"),
    }
}

/// Everything callgrind counts happens in here: a plain function that drives the loop to
/// completion, since an async function's body would run (and be counted) elsewhere.
#[inline(never)]
fn measured_blocking(runtime: &tokio::runtime::Runtime, n: u64, mut op: impl AsyncFnMut(u64)) {
    let done = runtime.block_on(async {
        for i in 0..n {
            op(i).await;
        }
        n
    });
    // Work after the call keeps it from being a tail call (a jump), which callgrind would
    // take for leaving this function and stop counting.
    black_box(done);
}

#[derive(Default)]
struct Total(u64);

impl Projection<AccountEvent> for Total {
    const NAME: &'static str = "total";

    fn apply(&mut self, event: &Envelope<AccountEvent>) {
        if let AccountEvent::Deposited { amount, .. } = event.payload {
            self.0 += amount;
        }
    }
}

struct Nothing(&'static str);

impl SagaStep<u64> for Nothing {
    fn name(&self) -> &'static str {
        self.0
    }

    fn execute<'a>(&'a self, _: &'a u64) -> StepFuture<'a> {
        Box::pin(async { Ok(()) })
    }

    fn compensate<'a>(&'a self, _: &'a u64) -> StepFuture<'a> {
        Box::pin(async { Ok(()) })
    }
}
