//! Sagas: steps run in order, each with a timeout and retries; when one fails for good, the
//! steps already done are compensated in reverse order (and the failed one too when it timed
//! out: it may have done its work). Progress is recorded as events, so a saga whose process
//! died mid-way resumes (or compensates) from the store on restart.
//!
//! Before a step or a compensation runs, it is claimed: an event appended at the version
//! the run last saw, so of two runs that resume one saga from the same progress only one
//! goes on (the other gets [`SagaError::Claimed`]). A claim is no lease: a run that reads a
//! live claim (its owner still running the step) claims again, and both run it. Steps are still at-least-once: a retry, or a resume after a
//! process died inside a claimed step, runs it again, so steps and compensations must be
//! idempotent.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::backend::{Backend, ExpectedVersion, StoreError};
use crate::event::{Event, NewEvent};
use crate::memory::InMemoryBackend;
use crate::store::EventStore;

/// A boxed, sendable future borrowing the saga's context.
pub type StepFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// One step: an action and the action that undoes it.
pub trait SagaStep<C>: Send + Sync + 'static {
    /// The step's name, recorded in the saga's events.
    fn name(&self) -> &'static str;
    /// Does the work; an `Err` says why it failed.
    fn execute<'a>(&'a self, context: &'a C) -> StepFuture<'a>;
    /// Undoes the work of a completed `execute`.
    fn compensate<'a>(&'a self, context: &'a C) -> StepFuture<'a>;
}

/// What a saga records, in the stream `saga-<id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SagaEvent {
    /// The saga began with this context.
    Started {
        /// The saga definition's name.
        saga: String,
        /// The context, serialized.
        context: serde_json::Value,
    },
    /// Step `index` was claimed by a run about to execute it.
    StepStarted {
        /// The step's index.
        index: usize,
        /// Its name.
        step: String,
    },
    /// Step `index` completed.
    StepCompleted {
        /// The step's index.
        index: usize,
        /// Its name (absent in records older than names), checked on resume.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
    },
    /// Step `index` failed for good (after its retries); compensation begins.
    StepFailed {
        /// The step's index.
        index: usize,
        /// Its name, as above.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        /// Why.
        error: String,
        /// Its last attempt timed out: it may have done its work, so it is compensated too.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        timed_out: bool,
    },
    /// The compensation of step `index` was claimed by a run about to run it.
    CompensationStarted {
        /// The step's index.
        index: usize,
        /// Its name.
        step: String,
    },
    /// Step `index` was compensated.
    StepCompensated {
        /// The step's index.
        index: usize,
        /// Its name, as above.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
    },
    /// Every step completed.
    Completed,
    /// Every completed step was compensated after a failure.
    Compensated,
}

impl Event for SagaEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Started { .. } => "SagaStarted",
            Self::StepStarted { .. } => "SagaStepStarted",
            Self::CompensationStarted { .. } => "SagaCompensationStarted",
            Self::StepCompleted { .. } => "SagaStepCompleted",
            Self::StepFailed { .. } => "SagaStepFailed",
            Self::StepCompensated { .. } => "SagaStepCompensated",
            Self::Completed => "SagaCompleted",
            Self::Compensated => "SagaCompensated",
        }
    }
}

/// How a saga ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SagaOutcome {
    /// Every step completed.
    Completed,
    /// A step failed; the steps before it were compensated.
    Compensated {
        /// The failed step's name.
        failed_step: &'static str,
        /// Why it failed.
        error: String,
    },
}

/// Why a saga could not be run or resumed.
#[derive(Debug)]
pub enum SagaError {
    /// The store failed.
    Store(StoreError),
    /// A compensation failed: the saga is stuck and needs a person.
    CompensationFailed {
        /// The step whose compensation failed.
        step: &'static str,
        /// Why.
        error: String,
    },
    /// The recorded saga does not match this definition (another saga, bad context).
    Mismatch(String),
    /// Another run of the saga recorded progress first (two resumes at once): this run
    /// stopped before running `step`, which the other run owns.
    Claimed {
        /// The saga's id.
        id: String,
        /// The step (or `compensate <step>`) the other run claimed or recorded.
        step: String,
    },
}

impl fmt::Display for SagaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Store(err) => err.fmt(f),
            Self::CompensationFailed { step, error } => {
                write!(
                    f,
                    "compensating step `{step}` failed: {error}; the saga needs attention"
                )
            }
            Self::Mismatch(msg) => write!(f, "recorded saga does not match: {msg}"),
            Self::Claimed { id, step } => write!(
                f,
                "saga `{id}` is being run by another caller, which recorded progress first; \
                 this run stopped at `{step}`"
            ),
        }
    }
}

impl std::error::Error for SagaError {}

impl From<StoreError> for SagaError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

/// Per-step limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepPolicy {
    /// How long one attempt may take.
    pub timeout: Duration,
    /// Attempts after the first.
    pub retries: u32,
    /// The wait before the first retry; doubled before each next one.
    pub backoff: Duration,
}

impl Default for StepPolicy {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            retries: 2,
            backoff: Duration::from_millis(50),
        }
    }
}

/// A saga definition: named steps over a context `C`, and the store its progress goes to.
pub struct Saga<C, B = InMemoryBackend<SagaEvent>> {
    name: &'static str,
    steps: Vec<(Box<dyn SagaStep<C>>, StepPolicy)>,
    store: EventStore<SagaEvent, B>,
}

impl<C: 'static, B> fmt::Debug for Saga<C, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let steps: Vec<&str> = self.steps.iter().map(|(s, _)| s.name()).collect();
        f.debug_struct("Saga")
            .field("name", &self.name)
            .field("steps", &steps)
            .finish()
    }
}

/// Where a recorded saga stands.
#[derive(Debug, Default)]
struct Progress {
    context: Option<serde_json::Value>,
    completed: usize,
    /// The failed step, why, and whether it timed out (then it is compensated too).
    failed: Option<(usize, String, bool)>,
    compensated: Vec<usize>,
    finished: bool,
    version: u64,
}

impl<C, B> Saga<C, B>
where
    C: Serialize + DeserializeOwned + Send + Sync + 'static,
    B: Backend<SagaEvent>,
{
    /// A saga named `name` recording to `store`.
    pub fn new(name: &'static str, store: EventStore<SagaEvent, B>) -> Self {
        Self {
            name,
            steps: Vec::new(),
            store,
        }
    }

    /// Adds a step with the default policy.
    pub fn step(self, step: impl SagaStep<C>) -> Self {
        self.step_with(step, StepPolicy::default())
    }

    /// Adds a step with its own timeout and retries.
    pub fn step_with(mut self, step: impl SagaStep<C>, policy: StepPolicy) -> Self {
        self.steps.push((Box::new(step), policy));
        self
    }

    fn stream(id: &str) -> String {
        format!("saga-{id}")
    }

    /// Starts saga `id` with `context` and runs it to its end.
    pub async fn run(&self, id: &str, context: C) -> Result<SagaOutcome, SagaError> {
        let value = serde_json::to_value(&context)
            .map_err(|err| SagaError::Mismatch(format!("the context does not serialize: {err}")))?;
        let started = SagaEvent::Started {
            saga: self.name.to_owned(),
            context: value,
        };
        let appended = self
            .store
            .append(
                &Self::stream(id),
                ExpectedVersion::NoStream,
                vec![NewEvent::new(started)],
            )
            .await?;
        let progress = Progress {
            version: appended.version,
            ..Progress::default()
        };
        self.drive(id, &context, progress).await
    }

    /// Continues saga `id` from its recorded progress: the next step if none failed, else
    /// the remaining compensations. A finished saga returns its outcome again.
    pub async fn resume(&self, id: &str) -> Result<SagaOutcome, SagaError> {
        let progress = self.progress(id).await?;
        let value = progress
            .context
            .clone()
            .ok_or_else(|| SagaError::Mismatch(format!("saga `{id}` was never started")))?;
        let context: C = serde_json::from_value(value).map_err(|err| {
            SagaError::Mismatch(format!("the recorded context does not parse: {err}"))
        })?;
        self.drive(id, &context, progress).await
    }

    /// The ids of this definition's sagas that started and have not finished (a process
    /// stopped in the middle of them), oldest first: what to [`resume`](Self::resume) when
    /// a process starts.
    pub async fn unfinished(&self) -> Result<Vec<String>, SagaError> {
        let mut open: Vec<(u64, String)> = Vec::new();
        let mut after = 0;
        loop {
            let batch = self.store.read_all(after, 1024).await?;
            let Some(last) = batch.last() else { break };
            after = last.position;
            for envelope in batch {
                let id = envelope.stream_id.strip_prefix("saga-").unwrap_or_default();
                match envelope.payload {
                    SagaEvent::Started { saga, .. } if saga == self.name => {
                        open.push((envelope.position, id.to_owned()));
                    }
                    SagaEvent::Completed | SagaEvent::Compensated => open.retain(|(_, o)| o != id),
                    _ => {}
                }
            }
        }
        Ok(open.into_iter().map(|(_, id)| id).collect())
    }

    async fn progress(&self, id: &str) -> Result<Progress, SagaError> {
        let mut progress = Progress::default();
        for envelope in self.store.read_stream(&Self::stream(id), 0).await? {
            progress.version = envelope.version;
            match &envelope.payload {
                SagaEvent::StepCompleted { index, step }
                | SagaEvent::StepFailed { index, step, .. }
                | SagaEvent::StepCompensated { index, step } => {
                    self.check_recorded(id, *index, step.as_deref())?;
                }
                SagaEvent::StepStarted { index, step }
                | SagaEvent::CompensationStarted { index, step } => {
                    self.check_recorded(id, *index, Some(step))?;
                }
                _ => {}
            }
            match envelope.payload {
                SagaEvent::Started { saga, context } => {
                    if saga != self.name {
                        return Err(SagaError::Mismatch(format!(
                            "`{id}` is a `{saga}` saga, not `{}`",
                            self.name
                        )));
                    }
                    progress.context = Some(context);
                }
                SagaEvent::StepCompleted { index, .. } => progress.completed = index + 1,
                SagaEvent::StepFailed {
                    index,
                    error,
                    timed_out,
                    ..
                } => progress.failed = Some((index, error, timed_out)),
                SagaEvent::StepCompensated { index, .. } => progress.compensated.push(index),
                SagaEvent::Completed | SagaEvent::Compensated => progress.finished = true,
                // A claim whose run never recorded its end: the step runs again.
                SagaEvent::StepStarted { .. } | SagaEvent::CompensationStarted { .. } => {}
            }
        }
        Ok(progress)
    }

    /// A recorded step must be one of this definition's, under the same name: a saga whose
    /// steps were removed or reordered since it started is not resumed at the wrong step.
    fn check_recorded(&self, id: &str, index: usize, step: Option<&str>) -> Result<(), SagaError> {
        let Some((defined, _)) = self.steps.get(index) else {
            return Err(SagaError::Mismatch(format!(
                "`{id}` recorded step {index}, but the `{}` saga has {} steps: was a step \
                 removed since it started?",
                self.name,
                self.steps.len()
            )));
        };
        match step {
            Some(recorded) if recorded != defined.name() => Err(SagaError::Mismatch(format!(
                "`{id}` recorded step {index} as `{recorded}`, but the `{}` saga's step {index} \
                 is `{}`: were its steps reordered since it started?",
                self.name,
                defined.name()
            ))),
            _ => Ok(()),
        }
    }

    /// Appends `events` at the version this run last saw: if another run recorded anything
    /// since, this one stops with [`SagaError::Claimed`]. A step's end and the next one's
    /// claim go in one append.
    async fn record(
        &self,
        id: &str,
        progress: &mut Progress,
        events: Vec<SagaEvent>,
    ) -> Result<(), SagaError> {
        if events.is_empty() {
            return Ok(());
        }
        let expected = ExpectedVersion::Exactly(progress.version);
        let step = match events.last() {
            Some(
                SagaEvent::StepStarted { step, .. }
                | SagaEvent::StepCompleted {
                    step: Some(step), ..
                }
                | SagaEvent::StepFailed {
                    step: Some(step), ..
                },
            ) => step.clone(),
            Some(
                SagaEvent::CompensationStarted { step, .. }
                | SagaEvent::StepCompensated {
                    step: Some(step), ..
                },
            ) => format!("compensate {step}"),
            Some(other) => other.event_type().to_owned(),
            None => String::new(),
        };
        let appended = self
            .store
            .append(
                &Self::stream(id),
                expected,
                events.into_iter().map(NewEvent::new).collect(),
            )
            .await
            .map_err(|error| match error {
                StoreError::Conflict { .. } => SagaError::Claimed {
                    id: id.to_owned(),
                    step,
                },
                other => SagaError::Store(other),
            })?;
        progress.version = appended.version;
        Ok(())
    }

    async fn drive(
        &self,
        id: &str,
        context: &C,
        mut progress: Progress,
    ) -> Result<SagaOutcome, SagaError> {
        // What this run has done but not yet recorded: appended with the next claim.
        let mut done: Vec<SagaEvent> = Vec::new();
        if progress.failed.is_none() {
            while progress.completed < self.steps.len() {
                let index = progress.completed;
                let (step, policy) = &self.steps[index];
                done.push(SagaEvent::StepStarted {
                    index,
                    step: step.name().to_owned(),
                });
                self.record(id, &mut progress, std::mem::take(&mut done))
                    .await?;
                match attempt(*policy, || step.execute(context)).await {
                    Ok(()) => {
                        done.push(SagaEvent::StepCompleted {
                            index,
                            step: Some(step.name().to_owned()),
                        });
                        progress.completed += 1;
                    }
                    Err(Failure { error, timed_out }) => {
                        done.push(SagaEvent::StepFailed {
                            index,
                            step: Some(step.name().to_owned()),
                            error: error.clone(),
                            timed_out,
                        });
                        progress.failed = Some((index, error, timed_out));
                        break;
                    }
                }
            }
            if progress.failed.is_none() {
                if !progress.finished {
                    done.push(SagaEvent::Completed);
                }
                self.record(id, &mut progress, done).await?;
                return Ok(SagaOutcome::Completed);
            }
        }
        let (failed_index, error, timed_out) =
            progress.failed.clone().expect("a failure was recorded");
        // Compensate what completed (and a step that timed out: it may have done its work),
        // newest first, skipping what is already undone.
        let undo = if timed_out {
            failed_index + 1
        } else {
            progress.completed
        };
        for index in (0..undo).rev() {
            if progress.compensated.contains(&index) {
                continue;
            }
            let (step, policy) = &self.steps[index];
            done.push(SagaEvent::CompensationStarted {
                index,
                step: step.name().to_owned(),
            });
            self.record(id, &mut progress, std::mem::take(&mut done))
                .await?;
            if let Err(Failure { error, .. }) = attempt(*policy, || step.compensate(context)).await
            {
                return Err(SagaError::CompensationFailed {
                    step: step.name(),
                    error,
                });
            }
            done.push(SagaEvent::StepCompensated {
                index,
                step: Some(step.name().to_owned()),
            });
            progress.compensated.push(index);
        }
        if !progress.finished {
            done.push(SagaEvent::Compensated);
        }
        self.record(id, &mut progress, done).await?;
        let failed_step = self
            .steps
            .get(failed_index)
            .map_or("(unknown)", |(s, _)| s.name());
        Ok(SagaOutcome::Compensated { failed_step, error })
    }
}

/// Why an action failed for good: its last error, and whether that was a timeout.
struct Failure {
    error: String,
    timed_out: bool,
}

/// Runs `action` under the policy's timeout, retrying with doubling backoff.
async fn attempt<'a, F>(policy: StepPolicy, action: F) -> Result<(), Failure>
where
    F: Fn() -> StepFuture<'a>,
{
    let mut backoff = policy.backoff;
    let mut tries = 0;
    loop {
        let failure = match tokio::time::timeout(policy.timeout, action()).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(error)) => Failure {
                error,
                timed_out: false,
            },
            Err(_) => Failure {
                error: format!("timed out after {:?}", policy.timeout),
                timed_out: true,
            },
        };
        if tries >= policy.retries {
            return Err(failure);
        }
        tries += 1;
        tokio::time::sleep(backoff).await;
        backoff = backoff.saturating_mul(2);
    }
}
