//! Group commit: the appends queued while one write and fsync runs share the next one; an
//! append returns once everything up to its last position is durable.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::record::seal_commit;
use super::writer::create_segment;
use super::{SegmentFile, Shared};
use crate::backend::StoreError;

/// Returns once everything up to `position` is fsynced, writing it if nobody else is.
pub(super) async fn make_durable(
    shared: Arc<Shared>,
    position: u64,
    mut writer: Option<tokio::sync::OwnedMutexGuard<()>>,
) -> Result<(), StoreError> {
    loop {
        if shared.durable.load(Ordering::Acquire) >= position {
            return Ok(());
        }
        let guard = match writer.take() {
            Some(guard) => guard,
            None => Arc::clone(&shared.writer).lock_owned().await,
        };
        if shared.durable.load(Ordering::Acquire) >= position {
            return Ok(());
        }
        let shared = Arc::clone(&shared);
        // The guard travels with the write, so a cancelled append cannot let a second
        // writer in before this write has finished.
        tokio::task::spawn_blocking(move || {
            let _guard = guard;
            shared.write_queued()
        })
        .await
        .map_err(|e| StoreError::Backend(format!("the WAL writer task failed: {e}")))??;
    }
}

/// [`make_durable`] in a task of its own: records once queued are written and fsynced
/// whether or not the append that queued them is still awaited (a request timeout, a client
/// gone), since their versions are taken.
pub(super) async fn make_durable_detached(
    shared: &Arc<Shared>,
    position: u64,
    writer: Option<tokio::sync::OwnedMutexGuard<()>>,
) -> Result<(), StoreError> {
    tokio::spawn(make_durable(Arc::clone(shared), position, writer))
        .await
        .map_err(|e| StoreError::Backend(format!("the WAL commit task failed: {e}")))?
}

impl Shared {
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
        let mut write = || -> Result<(), StoreError> {
            let failed = |e: std::io::Error| StoreError::Backend(e.to_string());
            for commit in &mut queued {
                let index = commit.segment as usize;
                let segment = match &files[index] {
                    Some(segment) => Arc::clone(segment),
                    None => {
                        // Everything before a new segment is durable before it exists.
                        sync_touched(&mut touched).map_err(failed)?;
                        let created = create_segment(&*self.disk, &self.dir, firsts[index])?;
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
        match write() {
            Ok(()) => {
                self.durable.store(head, Ordering::Release);
                Ok(())
            }
            Err(error) => {
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
}
