//! Client-side group commit: the appends that queue while a batch is in flight go in the
//! next one, one transaction and one commit (one WAL flush) for them all.
//!
//! Every append is still its own statement in that transaction (the `allframe_append`
//! function of `migrations/0003_append_function.sql`), checked against its own expected
//! version, so a conflict fails that append and no other; each is acknowledged only after
//! its batch commits. Appends are serialized across processes by the head row anyway (see
//! the backend's documentation), so a process gains nothing from two batches at once: one
//! commits while the next fills.
//!
//! No task outlives the work: the append that finds no batch in flight spawns one that
//! commits batches until the queue is empty. An append whose caller stops waiting is still
//! committed, like a request already sent.

use std::mem;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use sqlx::PgPool;
use tokio::sync::oneshot;

use crate::backend::{Appended, ExpectedVersion, StoreError};
use crate::codec::Serialized;
use crate::event::now_ms;

use super::{BEGIN_APPEND, STUCK_WRITER_TIMEOUT, bigint, notify};

/// The most appends one transaction takes; the rest wait for the next.
const MAX_BATCH: usize = 512;

/// PostgreSQL's `lock_not_available`: a lock wait passed `lock_timeout`.
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// One append waiting for its batch.
struct Pending {
    stream: String,
    expected: ExpectedVersion,
    timestamp_ms: i64,
    rows: Vec<Serialized>,
    reply: oneshot::Sender<Result<Appended, StoreError>>,
}

#[derive(Default)]
struct Queue {
    pending: Vec<Pending>,
    /// A task is committing batches; it takes whatever is queued when its batch is done.
    committing: bool,
}

/// What the group commit of one backend has done, from
/// [`crate::PostgresBackend::group_commits`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupCommitStats {
    /// Transactions committed (or tried), each holding one or more appends.
    pub batches: u64,
    /// Appends they held.
    pub appends: u64,
}

/// The appends of one backend, queued for their batch.
#[derive(Default)]
pub(super) struct GroupCommit {
    queue: Mutex<Queue>,
    batches: AtomicU64,
    appends: AtomicU64,
}

impl GroupCommit {
    /// Appends `rows` to `stream` in the next batch; done when that batch has committed.
    pub(super) async fn append(
        self: &Arc<Self>,
        pool: &PgPool,
        stream: &str,
        expected: ExpectedVersion,
        rows: Vec<Serialized>,
    ) -> Result<Appended, StoreError> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            stream: stream.to_owned(),
            expected,
            timestamp_ms: now_ms() as i64,
            rows,
            reply,
        };
        let start = {
            let mut queue = self.lock();
            queue.pending.push(pending);
            !mem::replace(&mut queue.committing, true)
        };
        if start {
            tokio::spawn(Arc::clone(self).commit_queued(pool.clone()));
        }
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::Backend(format!(
                "PostgreSQL: appending to `{stream}`: the batch it was queued in was dropped \
                 (its runtime shut down): it may or may not have committed"
            )))
        })
    }

    pub(super) fn stats(&self) -> GroupCommitStats {
        GroupCommitStats {
            batches: self.batches.load(Ordering::Relaxed),
            appends: self.appends.load(Ordering::Relaxed),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Commits batches until nothing is queued.
    async fn commit_queued(self: Arc<Self>, pool: PgPool) {
        // Dropped before the queue ran dry (its runtime shut down): the next append starts
        // a task of its own, and the queued ones hear that theirs is gone.
        struct Abandoned<'a>(Option<&'a GroupCommit>);
        impl Drop for Abandoned<'_> {
            fn drop(&mut self) {
                if let Some(group) = self.0 {
                    let mut queue = group.lock();
                    queue.committing = false;
                    queue.pending.clear();
                }
            }
        }
        let mut abandoned = Abandoned(Some(&self));
        loop {
            let batch = {
                let mut queue = self.lock();
                if queue.pending.is_empty() {
                    queue.committing = false;
                    abandoned.0 = None;
                    return;
                }
                let taken = queue.pending.len().min(MAX_BATCH);
                let rest = queue.pending.split_off(taken);
                mem::replace(&mut queue.pending, rest)
            };
            self.batches.fetch_add(1, Ordering::Relaxed);
            self.appends
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            commit(&pool, batch).await;
        }
    }
}

/// Commits `batch` and answers each append in it.
async fn commit(pool: &PgPool, batch: Vec<Pending>) {
    match run(pool, &batch).await {
        Ok(outcomes) => {
            for (pending, outcome) in batch.into_iter().zip(outcomes) {
                let _ = pending.reply.send(outcome);
            }
        }
        // A writer outside this code broke the unique key under one of them, so the
        // transaction is gone: each append again alone, so only that one fails.
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            for pending in batch {
                let outcome = match run(pool, std::slice::from_ref(&pending)).await {
                    Ok(mut outcomes) => outcomes.remove(0),
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                        overtaken(pool, &pending).await
                    }
                    Err(e) => Err(failure(&pending, &e)),
                };
                let _ = pending.reply.send(outcome);
            }
        }
        Err(e) => {
            for pending in batch {
                let error = failure(&pending, &e);
                let _ = pending.reply.send(Err(error));
            }
        }
    }
}

/// The conflict of an append another writer overtook between its check and its insert.
async fn overtaken(pool: &PgPool, pending: &Pending) -> Result<Appended, StoreError> {
    let (actual,): (i64,) = sqlx::query_as(
        "select coalesce(max(version), 0) from allframe_events where stream_id = $1",
    )
    .bind(&pending.stream)
    .fetch_one(pool)
    .await
    .map_err(|e| failure(pending, &e))?;
    Err(StoreError::Conflict {
        stream: pending.stream.clone(),
        expected: pending.expected,
        actual: actual as u64,
    })
}

/// Why an append failed when its batch did: a lock wait past its timeout is
/// [`StoreError::Unavailable`].
fn failure(pending: &Pending, e: &sqlx::Error) -> StoreError {
    let stream = &pending.stream;
    match e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some(LOCK_NOT_AVAILABLE) => {
            StoreError::Unavailable(format!(
                "PostgreSQL: appending to `{stream}`: the event log's head stayed locked for \
                 {STUCK_WRITER_TIMEOUT:?} (lock_timeout): another writer is stuck in its append"
            ))
        }
        _ => StoreError::Backend(format!("PostgreSQL: appending to `{stream}`: {e}")),
    }
}

/// One transaction for `batch`: each append's outcome, in order.
async fn run(
    pool: &PgPool,
    batch: &[Pending],
) -> Result<Vec<Result<Appended, StoreError>>, sqlx::Error> {
    let events: usize = batch.iter().map(|p| p.rows.len()).sum();
    let mut streams = Vec::with_capacity(batch.len());
    let mut expected = Vec::with_capacity(batch.len());
    let mut counts = Vec::with_capacity(batch.len());
    let mut timestamps = Vec::with_capacity(batch.len());
    let mut event_types = Vec::with_capacity(events);
    let mut schema_versions = Vec::with_capacity(events);
    let mut metadata = Vec::with_capacity(events);
    let mut payloads = Vec::with_capacity(events);
    for pending in batch {
        streams.push(pending.stream.as_str());
        expected.push(match pending.expected {
            ExpectedVersion::Any => None,
            ExpectedVersion::NoStream => Some(0),
            ExpectedVersion::Exactly(version) => Some(bigint(version)),
        });
        counts.push(pending.rows.len() as i32);
        timestamps.push(pending.timestamp_ms);
        for row in &pending.rows {
            event_types.push(row.event_type.as_str());
            // Checked to fit before the append queued.
            schema_versions.push(row.schema_version as i32);
            metadata.push(row.metadata.as_deref());
            payloads.push(row.payload.as_str());
        }
    }
    let mut tx = pool.begin_with(BEGIN_APPEND).await?;
    let rows: Vec<(Option<i64>, Option<i64>, i64)> =
        sqlx::query_as("select * from allframe_append($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(streams)
            .bind(expected)
            .bind(counts)
            .bind(timestamps)
            .bind(event_types)
            .bind(schema_versions)
            .bind(metadata)
            .bind(payloads)
            .bind(notify::CHANNEL)
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(batch
        .iter()
        .zip(rows)
        .map(|(pending, row)| match row {
            (Some(version), Some(last_position), _) => Ok(Appended {
                version: version as u64,
                first_position: (last_position - pending.rows.len() as i64 + 1) as u64,
                last_position: last_position as u64,
            }),
            (_, _, found) => Err(StoreError::Conflict {
                stream: pending.stream.clone(),
                expected: pending.expected,
                actual: found as u64,
            }),
        })
        .collect())
}
