//! Group commit: the appends queued while one write and fsync runs share the next one; an
//! append returns once everything up to its last position is durable.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::record::seal_commit;
use super::writer::{CreateError, create_segment};
use super::{SegmentFile, Shared};
use crate::backend::StoreError;

/// Returns once everything up to `position` (queued at `epoch`) is fsynced, writing it if
/// nobody else is; fails if it was taken back instead.
pub(super) async fn make_durable(
    shared: Arc<Shared>,
    position: u64,
    epoch: u64,
    mut writer: Option<tokio::sync::OwnedMutexGuard<()>>,
) -> Result<(), StoreError> {
    loop {
        shared.kept(position, epoch)?;
        if shared.durable.load(Ordering::Acquire) >= position {
            return shared.kept(position, epoch);
        }
        let guard = match writer.take() {
            Some(guard) => guard,
            None => Arc::clone(&shared.writer).lock_owned().await,
        };
        shared.kept(position, epoch)?;
        if shared.durable.load(Ordering::Acquire) >= position {
            return shared.kept(position, epoch);
        }
        let writing = Arc::clone(&shared);
        // The guard travels with the write, so a cancelled append cannot let a second
        // writer in before this write has finished.
        let written = tokio::task::spawn_blocking(move || {
            let _guard = guard;
            writing.write_queued()
        })
        .await
        .map_err(|e| StoreError::Backend(format!("the WAL writer task failed: {e}")))?;
        if let Err(error) = written {
            // Part of the queue may have been written before the failure, this append's
            // records among them.
            let durable = shared.durable.load(Ordering::Acquire) >= position;
            return if durable && shared.kept(position, epoch).is_ok() {
                Ok(())
            } else {
                Err(error)
            };
        }
    }
}

/// [`make_durable`] in a task of its own: records once queued are written and fsynced
/// whether or not the append that queued them is still awaited (a request timeout, a client
/// gone), since their versions are taken.
pub(super) async fn make_durable_detached(
    shared: &Arc<Shared>,
    position: u64,
    epoch: u64,
    writer: Option<tokio::sync::OwnedMutexGuard<()>>,
) -> Result<(), StoreError> {
    tokio::spawn(make_durable(Arc::clone(shared), position, epoch, writer))
        .await
        .map_err(|e| StoreError::Backend(format!("the WAL commit task failed: {e}")))?
}

/// How writing the queue failed.
enum WriteFailure {
    /// The segment of commit `index` could not even be opened (too many open files, say):
    /// the commits before it are durable, and it and every later append can be taken
    /// back, leaving the store usable.
    Untouched { index: usize, error: StoreError },
    /// A write or fsync failed: what the files hold is unknown.
    Unknown(StoreError),
}

impl Shared {
    /// Fails if the append queued at `epoch` whose last position is `position` was taken
    /// back since.
    pub(super) fn kept(&self, position: u64, epoch: u64) -> Result<(), StoreError> {
        if self.epoch.load(Ordering::Acquire) == epoch {
            return Ok(());
        }
        let state = self
            .state
            .lock()
            .map_err(|_| StoreError::Backend("the WAL's lock was poisoned by a panic".into()))?;
        let since = usize::try_from(epoch).unwrap_or(usize::MAX);
        match state
            .taken_back
            .get(since..)
            .unwrap_or_default()
            .iter()
            .find(|(from, _)| *from <= position)
        {
            Some((_, why)) => Err(StoreError::Backend(format!(
                "the append was not written, and its versions are free again: {why}"
            ))),
            None => Ok(()),
        }
    }

    /// Writes and fsyncs everything queued; called with the writer held.
    pub(super) fn write_queued(&self) -> Result<(), StoreError> {
        let (mut queued, mut files, firsts, head) = {
            let mut state = self.lock()?;
            let firsts: Vec<u64> = state.segments.iter().map(|s| s.first_position).collect();
            (
                std::mem::take(&mut state.queued),
                state.files(),
                firsts,
                state.log.len() as u64,
            )
        };
        let mut touched: Vec<Arc<SegmentFile>> = Vec::new();
        let fsync_failed = std::cell::Cell::new(false);
        let sync_touched = |touched: &mut Vec<Arc<SegmentFile>>| -> std::io::Result<()> {
            for segment in touched.drain(..) {
                segment
                    .file
                    .sync()
                    .inspect_err(|_| fsync_failed.set(true))?;
                self.fsyncs.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        };
        let mut write = || -> Result<(), WriteFailure> {
            let failed =
                |e: std::io::Error| WriteFailure::Unknown(StoreError::Backend(e.to_string()));
            for (at, commit) in queued.iter_mut().enumerate() {
                let index = commit.segment as usize;
                let segment = match &files[index] {
                    Some(segment) => Arc::clone(segment),
                    None => {
                        // Everything before a new segment is durable before it exists.
                        sync_touched(&mut touched).map_err(failed)?;
                        let created = create_segment(&*self.disk, &self.dir, firsts[index])
                            .map_err(|error| match error {
                                CreateError::NotCreated(error) => {
                                    WriteFailure::Untouched { index: at, error }
                                }
                                CreateError::Unfinished { error, fsync } => {
                                    fsync_failed.set(fsync_failed.get() || fsync);
                                    WriteFailure::Unknown(error)
                                }
                            })?;
                        if let Ok(mut state) = self.state.lock() {
                            state.segments[index].file = Some(Arc::clone(&created));
                        }
                        files[index] = Some(Arc::clone(&created));
                        created
                    }
                };
                seal_commit(&mut commit.bytes, commit.first_position);
                segment.file.append(&commit.bytes).map_err(failed)?;
                if touched.last().is_none_or(|t| !Arc::ptr_eq(t, &segment)) {
                    touched.push(segment);
                }
            }
            sync_touched(&mut touched).map_err(failed)
        };
        let result = write();
        match result {
            Ok(()) => {
                self.durable.store(head, Ordering::Release);
                Ok(())
            }
            Err(WriteFailure::Untouched { index, error }) => {
                let from = queued[index].first_position;
                self.take_back(from, &error);
                Err(error)
            }
            Err(WriteFailure::Unknown(error)) => {
                if fsync_failed.get() {
                    // The pages of a failed fsync may be lost while reading back as
                    // written: only a new process may open this directory again.
                    self.disk.sync_failed(&self.dir);
                }
                let message = format!("writing to the WAL in {}: {error}", self.dir.display());
                if let Ok(mut state) = self.state.lock() {
                    state.failure = Some(message.clone());
                }
                Err(StoreError::Backend(message))
            }
        }
    }

    /// Forgets every append from position `from` on, none of which was written: their
    /// versions and positions are free again, and the segments planned for them are
    /// created when next needed.
    fn take_back(&self, from: u64, error: &StoreError) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let state = &mut *state;
        // Everything before `from` was fsynced before the failed segment was to exist.
        self.durable.store(from - 1, Ordering::Release);
        state.log.truncate(from as usize - 1);
        for positions in state.streams.values_mut() {
            while positions.last().is_some_and(|&p| p >= from) {
                positions.pop();
            }
        }
        state.streams.retain(|_, positions| !positions.is_empty());
        // Appends queued since went to the planned segments too.
        state.queued.clear();
        state.segments.retain(|segment| segment.file.is_some());
        state.taken_back.push((from, error.to_string()));
        self.epoch
            .store(state.taken_back.len() as u64, Ordering::Release);
    }
}
