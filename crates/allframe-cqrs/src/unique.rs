//! Unique values in an event-sourced application (a username, an email, a slug): each is a
//! stream `unique-<kind>:<value>` of its own, so two instances racing for one value append
//! at the same version and the store lets exactly one win. Its events live in a store of
//! their own, beside the application's.
//!
//! ```
//! use allframe_cqrs::{EventStore, UniqueError, UniqueValues};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let unique = UniqueValues::new(EventStore::in_memory());
//! let ann = [("username", "ann"), ("email", "ann@example.com")];
//! unique.claim(&ann, "user-1").await.unwrap();
//! let again = unique.claim(&[("username", "bob"), ("email", "ann@example.com")], "user-2");
//! assert!(matches!(again.await, Err(UniqueError::Taken { kind: "email" })));
//! // Refused as a whole: `bob` was given back.
//! unique.claim(&[("username", "bob")], "user-2").await.unwrap();
//! # });
//! ```

use std::fmt;
use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, Aggregates, ExecuteError};
use crate::backend::{Backend, StoreError};
use crate::event::Event;
use crate::memory::InMemoryBackend;
use crate::store::EventStore;

/// What a value's stream records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum UniqueEvent {
    /// The value now belongs to `owner`.
    Claimed {
        /// Who holds it (a user's id, say).
        owner: String,
    },
    /// The value is free again.
    Released,
}

impl Event for UniqueEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Claimed { .. } => "UniqueClaimed",
            Self::Released => "UniqueReleased",
        }
    }
}

/// Why a claim failed.
#[derive(Debug)]
pub enum UniqueError {
    /// Another owner holds a value of this kind (`"username"`).
    Taken {
        /// The kind the caller named.
        kind: &'static str,
    },
    /// The store failed.
    Store(StoreError),
}

impl fmt::Display for UniqueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Taken { kind } => write!(f, "the {kind} has already been taken"),
            Self::Store(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for UniqueError {}

/// One value's holder.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Holder {
    owner: Option<String>,
}

#[derive(Debug, Clone)]
enum HolderCommand {
    Take(String),
    Give(String),
}

/// A holder refuses only a value someone else holds.
#[derive(Debug)]
struct Held;

impl fmt::Display for Held {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("held by another owner")
    }
}

impl std::error::Error for Held {}

impl Aggregate for Holder {
    type Event = UniqueEvent;
    type Command = HolderCommand;
    type Error = Held;

    fn handle(&self, command: HolderCommand) -> Result<Vec<UniqueEvent>, Held> {
        let held_by = |owner: &str| self.owner.as_deref() == Some(owner);
        match command {
            // Taking it again for its owner records nothing.
            HolderCommand::Take(owner) if held_by(&owner) => Ok(vec![]),
            HolderCommand::Take(_) if self.owner.is_some() => Err(Held),
            HolderCommand::Take(owner) => Ok(vec![UniqueEvent::Claimed { owner }]),
            HolderCommand::Give(owner) if held_by(&owner) => Ok(vec![UniqueEvent::Released]),
            // Giving back what one does not hold changes nothing.
            HolderCommand::Give(_) => Ok(vec![]),
        }
    }

    fn apply(&mut self, event: &UniqueEvent) {
        self.owner = match event {
            UniqueEvent::Claimed { owner } => Some(owner.clone()),
            UniqueEvent::Released => None,
        };
    }
}

/// Values of named kinds held by at most one owner each, across every process on the store.
pub struct UniqueValues<B = InMemoryBackend<UniqueEvent>> {
    holders: Aggregates<Holder, B>,
}

impl<B> fmt::Debug for UniqueValues<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UniqueValues").finish_non_exhaustive()
    }
}

fn stream(kind: &str, value: &str) -> String {
    format!("unique-{kind}:{value}")
}

/// A holder's refusal as [`UniqueError::Taken`] for `kind`; anything else is the store's.
fn refusal(err: ExecuteError<Held>, kind: &'static str) -> UniqueError {
    match err {
        ExecuteError::Rejected(Held) => UniqueError::Taken { kind },
        ExecuteError::Store(err) => UniqueError::Store(err),
        // Holders take no snapshots; one that cannot be read is damage all the same.
        ExecuteError::Snapshot(why) => UniqueError::Store(StoreError::Backend(why)),
    }
}

impl<B: Backend<UniqueEvent>> UniqueValues<B> {
    /// The values recorded in `store`.
    pub fn new(store: EventStore<UniqueEvent, B>) -> Self {
        Self {
            holders: Aggregates::new(store),
        }
    }

    /// Claims every `(kind, value)` for `owner`, or none: on a value held by someone else,
    /// those claimed before it are given back. Claiming what `owner` holds succeeds.
    pub async fn claim(
        &self,
        values: &[(&'static str, &str)],
        owner: &str,
    ) -> Result<(), UniqueError> {
        for (claimed, (kind, value)) in values.iter().enumerate() {
            let take = HolderCommand::Take(owner.to_owned());
            if let Err(err) = self.holders.execute(&stream(kind, value), take).await {
                self.release(&values[..claimed], owner).await?;
                return Err(refusal(err, kind));
            }
        }
        Ok(())
    }

    /// Gives back each value `owner` holds; the others are left as they are.
    pub async fn release(
        &self,
        values: &[(&'static str, &str)],
        owner: &str,
    ) -> Result<(), UniqueError> {
        for (kind, value) in values {
            let give = HolderCommand::Give(owner.to_owned());
            self.holders
                .execute(&stream(kind, value), give)
                .await
                .map_err(|err| refusal(err, kind))?;
        }
        Ok(())
    }

    /// Runs `then` holding `values` for `owner`: claimed first, and given back if `then`
    /// fails, so a registration that fails after its claim leaves its names free.
    pub async fn holding<T, E: From<UniqueError>>(
        &self,
        values: &[(&'static str, &str)],
        owner: &str,
        then: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        self.claim(values, owner).await?;
        let done = then.await;
        if done.is_err() {
            self.release(values, owner).await?;
        }
        done
    }

    /// Who holds `value` of `kind`, if anyone.
    pub async fn holder(
        &self,
        kind: &'static str,
        value: &str,
    ) -> Result<Option<String>, UniqueError> {
        let (holder, _) = self
            .holders
            .load(&stream(kind, value))
            .await
            .map_err(|err| refusal(err, kind))?;
        Ok(holder.owner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_step_gives_its_values_back_and_a_stranger_cannot_release_them() {
        let unique = UniqueValues::new(EventStore::in_memory());
        let ann = [("username", "ann")];
        let failed: Result<(), UniqueError> = unique
            .holding(&ann, "user-1", async {
                Err(UniqueError::Store(StoreError::Unavailable("down".into())))
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(unique.holder("username", "ann").await.unwrap(), None);

        let kept: Result<u8, UniqueError> = unique.holding(&ann, "user-2", async { Ok(7) }).await;
        assert_eq!(kept.unwrap(), 7);
        unique.release(&ann, "user-3").await.unwrap();
        assert_eq!(
            unique.holder("username", "ann").await.unwrap().as_deref(),
            Some("user-2")
        );
        // The holder claiming again changes nothing; someone else is refused by kind.
        unique.claim(&ann, "user-2").await.unwrap();
        let taken = unique.claim(&ann, "user-1").await.unwrap_err();
        assert!(
            matches!(taken, UniqueError::Taken { kind: "username" }),
            "{taken}"
        );
    }
}
