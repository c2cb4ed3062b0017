//! A saga whose process is killed with SIGKILL mid-way resumes (or finishes compensating)
//! when a new process opens the same durable store.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use allframe_cqrs::{
    EventStore, Saga, SagaEvent, SagaOutcome, SagaStep, StepFuture, StepPolicy, WalBackend,
};
use serde::{Deserialize, Serialize};
use tempfile::TempDir;

const CHILD_ENV: &str = "ALLFRAME_SAGA_CRASH_CHILD";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Order {
    id: u32,
}

/// What the steps may do; the child and the restarted parent differ only here.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Behaviour {
    Normal,
    /// Announces itself on stdout, then never finishes.
    Hang,
    Fail,
}

/// A step that appends what it did to a journal file, so what ran in the killed process
/// is still known.
struct Step {
    name: &'static str,
    journal: std::path::PathBuf,
    execute: Behaviour,
    compensate: Behaviour,
}

impl Step {
    fn act(&self, what: String, behaviour: Behaviour) -> StepFuture<'_> {
        Box::pin(async move {
            match behaviour {
                Behaviour::Hang => {
                    // The parent reads this line on our stdout to know when to kill us.
                    {
                        let mut stdout = std::io::stdout().lock();
                        writeln!(stdout, "hanging in {what}").expect("stdout");
                        stdout.flush().expect("stdout");
                    }
                    std::future::pending::<()>().await;
                    unreachable!()
                }
                Behaviour::Fail => Err(format!("{what} refused")),
                Behaviour::Normal => {
                    let mut journal = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&self.journal)
                        .map_err(|e| e.to_string())?;
                    writeln!(journal, "{what}").map_err(|e| e.to_string())
                }
            }
        })
    }
}

impl SagaStep<Order> for Step {
    fn name(&self) -> &'static str {
        self.name
    }

    fn execute<'a>(&'a self, _: &'a Order) -> StepFuture<'a> {
        self.act(self.name.to_owned(), self.execute)
    }

    fn compensate<'a>(&'a self, _: &'a Order) -> StepFuture<'a> {
        self.act(format!("undo {}", self.name), self.compensate)
    }
}

/// The checkout saga over the store in `dir`, each step behaving as `plan` says:
/// (step, execute, compensate).
fn checkout(
    dir: &Path,
    plan: [(&'static str, Behaviour, Behaviour); 3],
) -> Saga<Order, WalBackend<SagaEvent>> {
    let store = EventStore::with_backend(WalBackend::open(dir.join("store")).expect("open"));
    let policy = StepPolicy {
        timeout: Duration::from_secs(3600),
        retries: 0,
        backoff: Duration::from_millis(1),
    };
    plan.into_iter().fold(
        Saga::new("checkout", store),
        |saga, (name, execute, compensate)| {
            let step = Step {
                name,
                journal: dir.join("journal"),
                execute,
                compensate,
            };
            saga.step_with(step, policy)
        },
    )
}

fn journal(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("journal"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

use Behaviour::{Fail, Hang, Normal};

/// The plans the child runs, by name.
fn child_plan(mode: &str) -> [(&'static str, Behaviour, Behaviour); 3] {
    match mode {
        "hang-in-charge" => [
            ("reserve", Normal, Normal),
            ("charge", Hang, Normal),
            ("ship", Normal, Normal),
        ],
        "hang-undoing-charge" => [
            ("reserve", Normal, Normal),
            ("charge", Normal, Hang),
            ("ship", Fail, Normal),
        ],
        other => panic!("unknown child mode {other}"),
    }
}

/// When run as the child: runs the saga until a step hangs (and the parent kills us).
fn maybe_be_the_child() -> bool {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return false;
    };
    let (dir, mode) = spec.split_once('|').expect("dir|mode");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let saga = checkout(Path::new(dir), child_plan(mode));
    let outcome = runtime.block_on(saga.run("order-1", Order { id: 1 }));
    panic!("the child's saga was meant to hang, it ended: {outcome:?}");
}

/// Runs this test's own binary as the child in `mode`, waits until a step hangs, and kills
/// it with SIGKILL.
fn run_child_and_kill(test: &str, dir: &Path, mode: &str) -> String {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", test, "--nocapture"])
        .env(CHILD_ENV, format!("{}|{mode}", dir.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the child");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let hanging = stdout
        .lines()
        .map(|line| line.expect("child stdout"))
        .find(|line| line.starts_with("hanging in"))
        .expect("the child exited before a step hung");
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    hanging
}

#[test]
fn a_saga_killed_during_a_step_resumes_in_a_new_process() {
    if maybe_be_the_child() {
        return;
    }
    let dir = TempDir::new().expect("temp dir");
    let hung = run_child_and_kill(
        "a_saga_killed_during_a_step_resumes_in_a_new_process",
        dir.path(),
        "hang-in-charge",
    );
    assert_eq!(hung, "hanging in charge");
    assert_eq!(journal(dir.path()), ["reserve"]);

    let saga = checkout(
        dir.path(),
        [
            ("reserve", Normal, Normal),
            ("charge", Normal, Normal),
            ("ship", Normal, Normal),
        ],
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let outcome = runtime.block_on(saga.resume("order-1")).expect("resume");
    assert_eq!(outcome, SagaOutcome::Completed);
    assert_eq!(
        journal(dir.path()),
        ["reserve", "charge", "ship"],
        "the step recorded as done is not run again"
    );
}

#[test]
fn a_saga_killed_while_compensating_finishes_compensating_in_a_new_process() {
    if maybe_be_the_child() {
        return;
    }
    let dir = TempDir::new().expect("temp dir");
    let hung = run_child_and_kill(
        "a_saga_killed_while_compensating_finishes_compensating_in_a_new_process",
        dir.path(),
        "hang-undoing-charge",
    );
    assert_eq!(hung, "hanging in undo charge");
    assert_eq!(journal(dir.path()), ["reserve", "charge"]);

    let saga = checkout(
        dir.path(),
        [
            ("reserve", Normal, Normal),
            ("charge", Normal, Normal),
            ("ship", Fail, Normal),
        ],
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let outcome = runtime.block_on(saga.resume("order-1")).expect("resume");
    assert!(
        matches!(outcome, SagaOutcome::Compensated { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        journal(dir.path()),
        ["reserve", "charge", "undo charge", "undo reserve"],
        "compensation goes on in reverse order, the failed step is not run again"
    );
}
