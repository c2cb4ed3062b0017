//! CQRS and event sourcing for AllFrame: events in envelopes, an [`EventStore`] over a
//! pluggable [`Backend`] with optimistic concurrency, and subscriptions that catch up from
//! any position and then follow live without missing an event.
//!
//! ```
//! use allframe_cqrs::{Event, EventStore, ExpectedVersion, NewEvent};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
//! enum Account { Opened { owner: String }, Deposited { amount: u64 } }
//!
//! impl Event for Account {
//!     fn event_type(&self) -> &'static str {
//!         match self { Account::Opened { .. } => "AccountOpened", Account::Deposited { .. } => "Deposited" }
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = EventStore::in_memory();
//! let opened = NewEvent::new(Account::Opened { owner: "ann".into() });
//! store.append("account-1", ExpectedVersion::NoStream, vec![opened]).await.unwrap();
//! let events = store.read_stream("account-1", 0).await.unwrap();
//! assert_eq!(events[0].version, 1);
//! # });
//! ```

mod aggregate;
mod backend;
#[cfg(any(feature = "wal", feature = "postgres"))]
mod codec;
mod command;
pub mod conformance;
mod event;
mod map;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "http")]
mod problem;
mod projection;
mod saga;
mod storage;
mod store;
mod unique;
mod upcast;
#[cfg(feature = "wal")]
mod wal;

pub use crate::aggregate::{
    Aggregate, AggregateOutcome, AggregateTest, Aggregates, ExecuteError, RetryPolicy,
};
pub use crate::backend::{
    Appended, Backend, BackendStats, ExpectedVersion, Snapshot, StoreError, Wakeup,
};
pub use crate::command::{
    Command, CommandBus, CommandHandler, DEFAULT_IDEMPOTENCY_CAPACITY, ValidationError,
};
pub use crate::event::{Envelope, Event, Metadata, NewEvent};
pub use crate::memory::InMemoryBackend;
#[cfg(feature = "postgres")]
pub use crate::postgres::{GroupCommitStats, NotificationStats, PostgresBackend};
pub use crate::projection::{Projection, ProjectionStatus, Projections};
pub use crate::saga::{Saga, SagaError, SagaEvent, SagaOutcome, SagaStep, StepFuture, StepPolicy};
pub use crate::storage::{AnyBackend, Storage};
pub use crate::store::{EventStore, Subscription};
pub use crate::unique::{UniqueError, UniqueEvent, UniqueValues};
pub use crate::upcast::{RawEvent, UpcastError, Upcasters};
#[cfg(feature = "wal")]
pub use crate::wal::{SyncMode, Truncation, TruncationCause, WalBackend, WalOptions};
