//! Sagas: compensation in reverse order, timeouts, retries, and resuming after a crash.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use allframe_cqrs::{
    Appended, Backend, BackendStats, Envelope, EventStore, ExpectedVersion, InMemoryBackend,
    NewEvent, RawEvent, Saga, SagaError, SagaEvent, SagaOutcome, SagaStep, Snapshot, StepFuture,
    StepPolicy, StoreError,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Order {
    id: u32,
}

type Journal = Arc<Mutex<Vec<String>>>;

/// A step that logs what it does; it fails, hangs or flakes on demand.
struct Step {
    name: &'static str,
    journal: Journal,
    fail: bool,
    hang: Arc<AtomicBool>,
    flaky_failures: Arc<AtomicU32>,
}

impl Step {
    fn new(name: &'static str, journal: &Journal) -> Self {
        Self {
            name,
            journal: Arc::clone(journal),
            fail: false,
            hang: Arc::default(),
            flaky_failures: Arc::default(),
        }
    }
}

impl SagaStep<Order> for Step {
    fn name(&self) -> &'static str {
        self.name
    }

    fn execute<'a>(&'a self, order: &'a Order) -> StepFuture<'a> {
        Box::pin(async move {
            if self.hang.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            if self.fail {
                return Err(format!("{} refused order {}", self.name, order.id));
            }
            if self.flaky_failures.load(Ordering::SeqCst) > 0 {
                self.flaky_failures.fetch_sub(1, Ordering::SeqCst);
                return Err("flaky".into());
            }
            self.journal.lock().unwrap().push(self.name.to_owned());
            Ok(())
        })
    }

    fn compensate<'a>(&'a self, _: &'a Order) -> StepFuture<'a> {
        Box::pin(async move {
            self.journal
                .lock()
                .unwrap()
                .push(format!("undo {}", self.name));
            Ok(())
        })
    }
}

fn quick() -> StepPolicy {
    StepPolicy {
        timeout: Duration::from_secs(5),
        retries: 0,
        backoff: Duration::from_millis(1),
    }
}

fn journal(j: &Journal) -> Vec<String> {
    j.lock().unwrap().clone()
}

/// Waits until the saga's first step is recorded as completed.
async fn until_a_step_completed<B: Backend<SagaEvent>>(
    store: &EventStore<SagaEvent, B>,
    stream: &str,
) {
    while !store
        .read_stream(stream, 0)
        .await
        .unwrap()
        .iter()
        .any(|e| matches!(e.payload, SagaEvent::StepCompleted { .. }))
    {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn a_failing_third_step_compensates_two_then_one() {
    let j = Journal::default();
    let store = EventStore::in_memory();
    let saga = Saga::new("checkout", store.clone())
        .step_with(Step::new("reserve", &j), quick())
        .step_with(Step::new("charge", &j), quick())
        .step_with(
            Step {
                fail: true,
                ..Step::new("ship", &j)
            },
            quick(),
        );
    let outcome = saga.run("o1", Order { id: 1 }).await.unwrap();
    assert_eq!(
        outcome,
        SagaOutcome::Compensated {
            failed_step: "ship",
            error: "ship refused order 1".into()
        }
    );
    assert_eq!(
        journal(&j),
        ["reserve", "charge", "undo charge", "undo reserve"]
    );
    let recorded: Vec<&str> = store
        .read_stream("saga-o1", 0)
        .await
        .unwrap()
        .iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(
        recorded,
        [
            "SagaStarted",
            "SagaStepStarted",
            "SagaStepCompleted",
            "SagaStepStarted",
            "SagaStepCompleted",
            "SagaStepStarted",
            "SagaStepFailed",
            "SagaCompensationStarted",
            "SagaStepCompensated",
            "SagaCompensationStarted",
            "SagaStepCompensated",
            "SagaCompensated"
        ]
    );
}

/// A step that timed out may have done its work (the answer was late, not absent), so it
/// is compensated too, before the ones that completed (issue 18, finding 7).
#[tokio::test]
async fn a_timed_out_step_is_compensated_with_the_ones_before() {
    let j = Journal::default();
    let hang = Step {
        hang: Arc::new(AtomicBool::new(true)),
        ..Step::new("charge", &j)
    };
    let saga = Saga::new("checkout", EventStore::in_memory())
        .step_with(Step::new("reserve", &j), quick())
        .step_with(
            hang,
            StepPolicy {
                timeout: Duration::from_millis(50),
                ..quick()
            },
        );
    match saga.run("o2", Order { id: 2 }).await.unwrap() {
        SagaOutcome::Compensated {
            failed_step: "charge",
            error,
        } => assert!(error.contains("timed out"), "{error}"),
        other => panic!("expected compensation, got {other:?}"),
    }
    assert_eq!(journal(&j), ["reserve", "undo charge", "undo reserve"]);
}

#[tokio::test]
async fn retries_with_backoff_ride_out_a_flaky_step() {
    let j = Journal::default();
    let flaky = Step {
        flaky_failures: Arc::new(AtomicU32::new(2)),
        ..Step::new("charge", &j)
    };
    let saga = Saga::new("checkout", EventStore::in_memory()).step_with(
        flaky,
        StepPolicy {
            retries: 2,
            ..quick()
        },
    );
    assert_eq!(
        saga.run("o3", Order { id: 3 }).await.unwrap(),
        SagaOutcome::Completed
    );
    assert_eq!(journal(&j), ["charge"]);
}

#[tokio::test]
async fn a_saga_killed_mid_way_resumes_from_its_events() {
    let j = Journal::default();
    let store = EventStore::in_memory();
    let hang = Arc::new(AtomicBool::new(true));
    let build = |hang: &Arc<AtomicBool>| {
        Saga::new("checkout", store.clone())
            .step_with(Step::new("reserve", &j), quick())
            .step_with(
                Step {
                    hang: Arc::clone(hang),
                    ..Step::new("charge", &j)
                },
                quick(),
            )
            .step_with(Step::new("ship", &j), quick())
    };
    let first = build(&hang);
    let running = tokio::spawn(async move { first.run("o4", Order { id: 4 }).await });
    // Wait until step one is recorded, then "kill" the process: drop the running saga.
    until_a_step_completed(&store, "saga-o4").await;
    running.abort();
    assert!(running.await.unwrap_err().is_cancelled());
    assert_eq!(journal(&j), ["reserve"]);

    hang.store(false, Ordering::SeqCst);
    let restarted = build(&hang);
    let done = build(&hang);
    done.run("o5", Order { id: 5 }).await.unwrap();
    let other = Saga::<Order, _>::new("refund", store.clone());
    other.run("r1", Order { id: 6 }).await.unwrap();
    assert_eq!(
        restarted.unfinished().await.unwrap(),
        ["o4"],
        "neither a finished saga nor another definition's"
    );
    assert_eq!(
        restarted.resume("o4").await.unwrap(),
        SagaOutcome::Completed
    );
    assert!(restarted.unfinished().await.unwrap().is_empty());
    assert_eq!(
        journal(&j),
        ["reserve", "reserve", "charge", "ship", "charge", "ship"],
        "o5 ran whole; o4's step one is not run again"
    );
    assert_eq!(
        restarted.resume("o4").await.unwrap(),
        SagaOutcome::Completed,
        "resuming a finished saga is harmless"
    );
    assert_eq!(journal(&j).len(), 6);
}

#[tokio::test]
async fn a_crash_during_compensation_finishes_the_compensation_on_resume() {
    let j = Journal::default();
    let store = EventStore::in_memory();
    let recorded = [
        SagaEvent::Started {
            saga: "checkout".into(),
            context: serde_json::json!({"id": 5}),
        },
        // Recorded before step names were: read by index alone.
        SagaEvent::StepCompleted {
            index: 0,
            step: None,
        },
        SagaEvent::StepCompleted {
            index: 1,
            step: None,
        },
        SagaEvent::StepFailed {
            index: 2,
            step: None,
            error: "no stock".into(),
            timed_out: false,
        },
        SagaEvent::StepCompensated {
            index: 1,
            step: None,
        },
    ];
    let events = recorded.into_iter().map(NewEvent::new).collect();
    store
        .append("saga-o5", ExpectedVersion::NoStream, events)
        .await
        .unwrap();
    let saga = Saga::<Order>::new("checkout", store.clone())
        .step_with(Step::new("reserve", &j), quick())
        .step_with(Step::new("charge", &j), quick())
        .step_with(Step::new("ship", &j), quick());
    let outcome = saga.resume("o5").await.unwrap();
    assert_eq!(
        outcome,
        SagaOutcome::Compensated {
            failed_step: "ship",
            error: "no stock".into()
        }
    );
    assert_eq!(
        journal(&j),
        ["undo reserve"],
        "only what was not yet undone"
    );

    let other = Saga::<Order>::new("refund", store);
    assert!(matches!(
        other.resume("o5").await,
        Err(SagaError::Mismatch(_))
    ));
}

/// A saga recorded by a definition with more steps than the one deployed now (or recorded
/// with a damaged index) is refused with a typed error, not a panic (issue 18, finding 5).
#[tokio::test]
async fn a_recorded_step_the_definition_lacks_is_a_mismatch_not_a_panic() {
    let j = Journal::default();
    for (id, index) in [("o6", 2), ("o7", usize::MAX)] {
        let store = EventStore::in_memory();
        let recorded = [
            SagaEvent::Started {
                saga: "checkout".into(),
                context: serde_json::json!({"id": 6}),
            },
            SagaEvent::StepCompleted {
                index: 0,
                step: None,
            },
            SagaEvent::StepCompleted {
                index: 1,
                step: None,
            },
            SagaEvent::StepCompleted { index, step: None },
            SagaEvent::StepFailed {
                index: 3,
                step: None,
                error: "gone".into(),
                timed_out: false,
            },
        ];
        let events = recorded.into_iter().map(NewEvent::new).collect();
        let stream = format!("saga-{id}");
        store
            .append(&stream, ExpectedVersion::NoStream, events)
            .await
            .unwrap();
        let deployed = Saga::<Order>::new("checkout", store)
            .step_with(Step::new("reserve", &j), quick())
            .step_with(Step::new("charge", &j), quick());
        match deployed.resume(id).await {
            Err(SagaError::Mismatch(why)) => assert!(why.contains("step"), "{why}"),
            other => panic!("{id}: expected a mismatch, got {other:?}"),
        }
    }
    assert!(journal(&j).is_empty(), "nothing was run or undone");
}

/// Progress names its steps: a definition whose steps were reordered since the saga started
/// is refused, not resumed at the wrong step (issue 18, finding 6).
#[tokio::test]
async fn a_saga_whose_steps_were_reordered_is_refused_by_name() {
    let j = Journal::default();
    let store = EventStore::in_memory();
    let hang = Arc::new(AtomicBool::new(true));
    let first = Saga::new("checkout", store.clone())
        .step_with(Step::new("reserve", &j), quick())
        .step_with(
            Step {
                hang: Arc::clone(&hang),
                ..Step::new("charge", &j)
            },
            quick(),
        );
    let running = tokio::spawn(async move { first.run("o8", Order { id: 8 }).await });
    until_a_step_completed(&store, "saga-o8").await;
    running.abort();
    let _ = running.await;
    let recorded = store.read_stream("saga-o8", 0).await.unwrap();
    assert_eq!(
        recorded[2].payload,
        SagaEvent::StepCompleted {
            index: 0,
            step: Some("reserve".into())
        }
    );
    let reordered = Saga::<Order, _>::new("checkout", store.clone())
        .step_with(Step::new("charge", &j), quick())
        .step_with(Step::new("reserve", &j), quick());
    match reordered.resume("o8").await {
        Err(SagaError::Mismatch(why)) => {
            assert!(
                why.contains("`reserve`") && why.contains("`charge`"),
                "{why}"
            )
        }
        other => panic!("expected a mismatch, got {other:?}"),
    }
    assert_eq!(journal(&j), ["reserve"], "nothing ran on resume");
}

/// The memory backend, except that reading one stream waits until two readers read it: two
/// resumes of one saga then see the same recorded progress.
struct TwoReadersAtOnce {
    inner: InMemoryBackend<SagaEvent>,
    stream: &'static str,
    readers: tokio::sync::Barrier,
    armed: AtomicBool,
}

impl Backend<SagaEvent> for TwoReadersAtOnce {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent<SagaEvent>>,
    ) -> Result<Appended, StoreError> {
        self.inner.append(stream, expected, events).await
    }

    async fn append_raw(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<RawEvent>,
    ) -> Result<Appended, StoreError> {
        self.inner.append_raw(stream, expected, events).await
    }

    async fn read_stream(
        &self,
        stream: &str,
        after_version: u64,
    ) -> Result<Vec<Envelope<SagaEvent>>, StoreError> {
        let read = self.inner.read_stream(stream, after_version).await;
        if stream == self.stream && self.armed.load(Ordering::SeqCst) {
            self.readers.wait().await;
            self.armed.store(false, Ordering::SeqCst);
        }
        read
    }

    async fn read_all(
        &self,
        after_position: u64,
        limit: usize,
    ) -> Result<Vec<Envelope<SagaEvent>>, StoreError> {
        self.inner.read_all(after_position, limit).await
    }

    async fn save_snapshot(&self, stream: &str, snapshot: Snapshot) -> Result<(), StoreError> {
        self.inner.save_snapshot(stream, snapshot).await
    }

    async fn load_snapshot(&self, stream: &str) -> Result<Option<Snapshot>, StoreError> {
        self.inner.load_snapshot(stream).await
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush().await
    }

    async fn stats(&self) -> Result<BackendStats, StoreError> {
        self.inner.stats().await
    }
}

/// Two resumes of one saga at once (two processes restarting, say) must not both run its
/// next step: each claims the step at the version it read, and the second claim loses
/// (issue 18, finding 7).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_resumes_at_once_run_the_next_step_once() {
    let j = Journal::default();
    let backend = TwoReadersAtOnce {
        inner: InMemoryBackend::new(),
        stream: "saga-o9",
        readers: tokio::sync::Barrier::new(2),
        armed: AtomicBool::new(false),
    };
    let store = EventStore::with_backend(backend);
    let recorded = [
        SagaEvent::Started {
            saga: "checkout".into(),
            context: serde_json::json!({"id": 9}),
        },
        SagaEvent::StepCompleted {
            index: 0,
            step: Some("reserve".into()),
        },
    ];
    let events = recorded.into_iter().map(NewEvent::new).collect();
    store
        .append("saga-o9", ExpectedVersion::NoStream, events)
        .await
        .unwrap();
    store.backend().armed.store(true, Ordering::SeqCst);
    let saga = || {
        Saga::<Order, _>::new("checkout", store.clone())
            .step_with(Step::new("reserve", &j), quick())
            .step_with(Step::new("charge", &j), quick())
    };
    let (one, two) = (saga(), saga());
    let (a, b) = tokio::join!(one.resume("o9"), two.resume("o9"));
    let (won, lost) = match (a, b) {
        (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => (won, lost),
        other => panic!("expected one resume to win and one to lose, got {other:?}"),
    };
    assert_eq!(won, SagaOutcome::Completed);
    match lost {
        SagaError::Claimed { id, step } => {
            assert_eq!((id.as_str(), step.as_str()), ("o9", "charge"))
        }
        other => panic!("expected Claimed, got {other:?}"),
    }
    assert_eq!(journal(&j), ["charge"], "the step ran once");
}
