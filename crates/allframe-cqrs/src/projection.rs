//! Projections: read models folded from the store's events, each with its own checkpoint,
//! caught up on demand or continuously, rebuilt from scratch when their code changes.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use crate::backend::{Backend, StoreError};
use crate::event::{Envelope, Event};
use crate::memory::InMemoryBackend;
use crate::store::EventStore;

/// How many events a projection reads per round trip.
const BATCH: usize = 1024;

/// A read model built from events of type `E`.
pub trait Projection<E: Event>: Default + Send + Sync + 'static {
    /// The projection's name, for status reports.
    const NAME: &'static str;

    /// Folds one event in.
    fn apply(&mut self, event: &Envelope<E>);
}

/// Where a projection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProjectionStatus {
    /// [`Projection::NAME`].
    pub name: &'static str,
    /// The position of the last event applied (its checkpoint).
    pub position: u64,
    /// Events in the store it has not applied yet.
    pub lag: u64,
    /// A rebuild is replaying the store.
    pub rebuilding: bool,
}

struct Slot<P> {
    state: P,
    position: u64,
    rebuilding: bool,
    /// Bumped by each rebuild: a follower that saw another generation catches up by
    /// reading the store, since live events it skipped meanwhile are not in the state.
    generation: u64,
}

/// What the registry needs of a projection, whatever its type.
trait Registered<E: Event>: Send + Sync {
    fn position(&self) -> u64;
    /// Starts a rebuild (from nothing, in a new generation, which it returns) or ends one.
    fn set_rebuilding(&self, rebuilding: bool) -> u64;
    /// The generation, or `None` while a rebuild runs (only the rebuild applies events then).
    fn generation(&self) -> Option<u64>;
    /// Applies the events past the checkpoint if the projection is still of `generation`,
    /// under one lock, so a rebuild cannot start in between; else the current generation
    /// (`None` while rebuilding). Events read or heard before a rebuild never land in it.
    fn apply(&self, events: &[Envelope<E>], generation: u64) -> Result<(), Option<u64>>;
    fn status(&self, head: u64) -> ProjectionStatus;
    fn as_any(&self) -> &dyn Any;
}

struct Entry<P> {
    slot: RwLock<Slot<P>>,
}

impl<P> Entry<P> {
    fn read(&self) -> RwLockReadGuard<'_, Slot<P>> {
        self.slot.read().unwrap_or_else(|p| p.into_inner())
    }
}

impl<E: Event, P: Projection<E>> Registered<E> for Entry<P> {
    fn position(&self) -> u64 {
        self.read().position
    }

    fn set_rebuilding(&self, rebuilding: bool) -> u64 {
        let mut slot = self.slot.write().unwrap_or_else(|p| p.into_inner());
        if rebuilding {
            // A rebuild starts from nothing.
            slot.state = P::default();
            slot.position = 0;
            slot.generation += 1;
        }
        slot.rebuilding = rebuilding;
        slot.generation
    }

    fn generation(&self) -> Option<u64> {
        let slot = self.read();
        (!slot.rebuilding).then_some(slot.generation)
    }

    fn apply(&self, events: &[Envelope<E>], generation: u64) -> Result<(), Option<u64>> {
        let mut slot = self.slot.write().unwrap_or_else(|p| p.into_inner());
        if slot.generation != generation {
            return Err((!slot.rebuilding).then_some(slot.generation));
        }
        for event in events {
            // A checkpoint past this event: it was applied already.
            if event.position > slot.position {
                slot.state.apply(event);
                slot.position = event.position;
            }
        }
        Ok(())
    }

    fn status(&self, head: u64) -> ProjectionStatus {
        let slot = self.read();
        ProjectionStatus {
            name: P::NAME,
            position: slot.position,
            lag: head.saturating_sub(slot.position),
            rebuilding: slot.rebuilding,
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The projections over one store.
pub struct Projections<E: Event, B = InMemoryBackend<E>> {
    store: EventStore<E, B>,
    entries: Vec<Arc<dyn Registered<E>>>,
    by_type: HashMap<TypeId, usize>,
}

impl<E: Event, B> fmt::Debug for Projections<E, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Projections")
            .field("count", &self.entries.len())
            .finish()
    }
}

impl<E: Event, B: Backend<E>> Projections<E, B> {
    /// No projections yet, over `store`.
    pub fn new(store: EventStore<E, B>) -> Self {
        Self {
            store,
            entries: Vec::new(),
            by_type: HashMap::new(),
        }
    }

    /// Registers projection `P`, starting from position 0. Registering a type twice panics.
    #[track_caller]
    pub fn register<P: Projection<E>>(mut self) -> Self {
        let entry: Arc<dyn Registered<E>> = Arc::new(Entry {
            slot: RwLock::new(Slot {
                state: P::default(),
                position: 0,
                rebuilding: false,
                generation: 0,
            }),
        });
        let previous = self.by_type.insert(TypeId::of::<P>(), self.entries.len());
        assert!(
            previous.is_none(),
            "projection `{}` is registered twice",
            P::NAME
        );
        self.entries.push(entry);
        self
    }

    fn entry<P: Projection<E>>(&self) -> Option<&Entry<P>> {
        let index = *self.by_type.get(&TypeId::of::<P>())?;
        self.entries[index].as_any().downcast_ref::<Entry<P>>()
    }

    /// Reads projection `P`'s state (`None` if it is not registered).
    pub fn with<P: Projection<E>, R>(&self, read: impl FnOnce(&P) -> R) -> Option<R> {
        self.entry::<P>().map(|entry| read(&entry.read().state))
    }

    /// Reads projection `P` once every projection has caught up with the events stored so
    /// far, so a caller reads its own writes (`None` if `P` is not registered).
    pub async fn query<P: Projection<E>, R>(
        &self,
        read: impl FnOnce(&P) -> R,
    ) -> Result<Option<R>, StoreError> {
        self.catch_up().await?;
        Ok(self.with(read))
    }

    /// Applies every stored event each projection has not seen; returns how many events
    /// were applied in all.
    pub async fn catch_up(&self) -> Result<u64, StoreError> {
        let mut applied = 0;
        for entry in &self.entries {
            applied += self.replay(&**entry).await?;
        }
        Ok(applied)
    }

    /// Applies the stored events after `entry`'s checkpoint; returns how many. A rebuild
    /// replays in its own generation; any other replay stops when a rebuild starts (which
    /// replays everything itself).
    async fn replay(&self, entry: &dyn Registered<E>) -> Result<u64, StoreError> {
        match entry.generation() {
            Some(generation) => self.replay_in(entry, generation).await,
            None => Ok(0),
        }
    }

    async fn replay_in(
        &self,
        entry: &dyn Registered<E>,
        generation: u64,
    ) -> Result<u64, StoreError> {
        let mut applied = 0;
        loop {
            let batch = self.store.read_all(entry.position(), BATCH).await?;
            if batch.is_empty() || entry.apply(&batch, generation).is_err() {
                return Ok(applied);
            }
            applied += batch.len() as u64;
        }
    }

    /// Resets projection `P` to its default state and replays the whole store into it.
    pub async fn rebuild<P: Projection<E>>(&self) -> Result<(), StoreError> {
        let index = *self.by_type.get(&TypeId::of::<P>()).ok_or_else(|| {
            StoreError::Backend(format!("projection `{}` is not registered", P::NAME))
        })?;
        let entry = &*self.entries[index];
        let generation = entry.set_rebuilding(true);
        let replayed = self.replay_in(entry, generation).await;
        entry.set_rebuilding(false);
        replayed?;
        // Live events a follower skipped while the replay ran are in the store: read them.
        self.replay(entry).await.map(drop)
    }

    /// Where each projection stands against the store's head.
    pub async fn status(&self) -> Result<Vec<ProjectionStatus>, StoreError> {
        let head = self.store.stats().await?.head_position;
        Ok(self
            .entries
            .iter()
            .map(|entry| entry.status(head))
            .collect())
    }

    /// Keeps every projection up to date, forever: catches up, then applies each new event
    /// as its append returns. Run it in a task; it ends only on a store error.
    pub async fn follow(&self) -> Result<(), StoreError> {
        self.catch_up().await?;
        let from = self.entries.iter().map(|e| e.position()).min().unwrap_or(0);
        let mut subscription = self.store.subscribe(from);
        let mut seen: Vec<Option<u64>> = self.entries.iter().map(|e| e.generation()).collect();
        loop {
            let event = subscription.next().await?;
            for (entry, seen) in self.entries.iter().zip(&mut seen) {
                let outcome = match *seen {
                    Some(generation) => entry.apply(std::slice::from_ref(&event), generation),
                    None => Err(entry.generation()),
                };
                match outcome {
                    Ok(()) => {}
                    // Rebuilding: the rebuild's replay reads this event from the store.
                    Err(None) => *seen = None,
                    // Rebuilt since: what was skipped meanwhile comes from the store.
                    Err(Some(generation)) => {
                        self.replay(&**entry).await?;
                        *seen = Some(generation);
                    }
                }
            }
        }
    }
}
