//! Events and the envelope each is stored in.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::upcast::Upcasters;

/// A domain event: a fact, named, serializable, with a schema version.
pub trait Event: Clone + Send + Sync + Serialize + DeserializeOwned + 'static {
    /// The event's type name, stable across releases (`"OrderPlaced"`).
    fn event_type(&self) -> &'static str;

    /// The version of this event's schema; bump it with an upcaster when the shape changes.
    const SCHEMA_VERSION: u32 = 1;

    /// How events written at older schema versions become this type: every backend applies
    /// the chain as it reads (and the memory backend as raw events are imported).
    fn upcasters() -> Upcasters {
        Upcasters::new()
    }
}

/// Correlation and causation ids: which request or command caused an event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The id shared by everything one request caused.
    pub correlation_id: Option<String>,
    /// The id of the command or event that directly caused this one.
    pub causation_id: Option<String>,
}

impl Metadata {
    pub(crate) fn is_empty(&self) -> bool {
        self.correlation_id.is_none() && self.causation_id.is_none()
    }
}

/// An event about to be appended.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent<E> {
    /// The event.
    pub payload: E,
    /// Its correlation and causation.
    pub metadata: Metadata,
}

impl<E> NewEvent<E> {
    /// An event without metadata.
    pub fn new(payload: E) -> Self {
        Self {
            payload,
            metadata: Metadata::default(),
        }
    }

    /// Sets the correlation and causation ids.
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }
}

/// A stored event with its place in its stream and in the whole store.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<E> {
    /// The stream (aggregate) the event belongs to.
    pub stream_id: Arc<str>,
    /// Its version in the stream: 1 for the first event, gapless.
    pub version: u64,
    /// Its global position: 1 for the store's first event, increasing in append order.
    pub position: u64,
    /// [`Event::event_type`].
    pub event_type: &'static str,
    /// The schema version it was written with; the payload has been upcast to the current one.
    pub schema_version: u32,
    /// When it was appended, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Correlation and causation.
    pub metadata: Metadata,
    /// The event.
    pub payload: E,
}

/// The timestamp of an append: milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
