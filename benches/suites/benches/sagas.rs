//! Sagas on the in-memory store: a two-step saga that completes, and one whose second step
//! fails so the first is compensated. Every run records its progress as events.

use std::time::Duration;

use allframe::cqrs::{EventStore, Saga, SagaOutcome, SagaStep, StepFuture, StepPolicy};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Transfer {
    amount: u64,
}

/// A step that does nothing but succeed or fail: the saga machinery is what is measured.
struct Step {
    name: &'static str,
    fails: bool,
}

impl SagaStep<Transfer> for Step {
    fn name(&self) -> &'static str {
        self.name
    }

    fn execute<'a>(&'a self, _: &'a Transfer) -> StepFuture<'a> {
        Box::pin(async move {
            if self.fails {
                Err("declined".to_owned())
            } else {
                Ok(())
            }
        })
    }

    fn compensate<'a>(&'a self, _: &'a Transfer) -> StepFuture<'a> {
        Box::pin(async { Ok(()) })
    }
}

fn sagas(c: &mut Criterion) {
    let runtime = allframe_benches::runtime();
    let mut group = c.benchmark_group("sagas");
    group.throughput(Throughput::Elements(1));

    // No retries: a failure compensates at once, so the machinery is what is timed.
    let policy = StepPolicy {
        timeout: Duration::from_secs(10),
        retries: 0,
        backoff: Duration::ZERO,
    };
    for (id, second_fails) in [("two_steps", false), ("compensation", true)] {
        let saga = Saga::new("transfer", EventStore::in_memory())
            .step_with(
                Step {
                    name: "debit",
                    fails: false,
                },
                policy,
            )
            .step_with(
                Step {
                    name: "credit",
                    fails: second_fails,
                },
                policy,
            );
        let mut n = 0u64;
        group.bench_function(id, |b| {
            b.to_async(&runtime).iter(|| {
                n += 1;
                let saga = &saga;
                async move {
                    let outcome = saga
                        .run(&format!("t{n}"), Transfer { amount: 5 })
                        .await
                        .expect("saga");
                    assert_eq!(matches!(outcome, SagaOutcome::Completed), !second_fails);
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, sagas);
criterion_main!(benches);
