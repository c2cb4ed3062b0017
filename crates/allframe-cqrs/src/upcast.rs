//! Event versioning: events keep the shape they were written in, and a chain of upcasters,
//! keyed by (event type, schema version), turns an old shape into the current one as it is
//! read. Stored history is never rewritten.

use std::collections::HashMap;
use std::fmt;

use serde_json::Value;

use crate::event::{Event, Metadata};

/// An event in its serialized form, as written by some version of the code.
#[derive(Debug, Clone, PartialEq)]
pub struct RawEvent {
    /// The type name it was written with.
    pub event_type: String,
    /// The schema version it was written with.
    pub schema_version: u32,
    /// Correlation and causation.
    pub metadata: Metadata,
    /// The serialized event (serde's JSON form of the event type of its day).
    pub payload: Value,
}

impl RawEvent {
    /// The raw form of `event` at the current schema version.
    pub fn from_event<E: Event>(event: &E, metadata: Metadata) -> Result<Self, serde_json::Error> {
        Ok(Self {
            event_type: event.event_type().to_owned(),
            schema_version: E::SCHEMA_VERSION,
            metadata,
            payload: serde_json::to_value(event)?,
        })
    }
}

type Step = Box<dyn Fn(Value) -> Result<Value, String> + Send + Sync>;

/// The upcaster chain of one event type ([`Event::upcasters`]).
///
/// ```
/// use allframe_cqrs::{RawEvent, Upcasters};
/// use serde_json::json;
///
/// // Version 1 wrote `OrderPlacedV1 { total }`; version 2 reads `OrderPlaced { total_cents }`.
/// let upcasters = Upcasters::new().add_renamed("OrderPlacedV1", 1, "OrderPlaced", |v| {
///     let total = v["OrderPlacedV1"]["total"].as_u64().ok_or("no total")?;
///     Ok(json!({ "OrderPlaced": { "total_cents": total * 100 } }))
/// });
/// let old = RawEvent {
///     event_type: "OrderPlacedV1".into(),
///     schema_version: 1,
///     metadata: Default::default(),
///     payload: json!({ "OrderPlacedV1": { "total": 3 } }),
/// };
/// let new = upcasters.upcast(old, 2).unwrap();
/// assert_eq!(new.event_type, "OrderPlaced");
/// assert_eq!(new.payload, json!({ "OrderPlaced": { "total_cents": 300 } }));
/// ```
#[derive(Default)]
pub struct Upcasters {
    steps: HashMap<(String, u32), (Option<String>, Step)>,
}

impl fmt::Debug for Upcasters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<_> = self.steps.keys().collect();
        keys.sort();
        f.debug_struct("Upcasters").field("steps", &keys).finish()
    }
}

/// Why an old event could not be brought to the current schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpcastError {
    /// The event's type name where the chain stopped.
    pub event_type: String,
    /// The schema version where the chain stopped.
    pub schema_version: u32,
    /// What went wrong.
    pub reason: String,
}

impl fmt::Display for UpcastError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot upcast `{}` from schema version {}: {}",
            self.event_type, self.schema_version, self.reason
        )
    }
}

impl std::error::Error for UpcastError {}

impl Upcasters {
    /// No upcasters: every stored event must already be in the current shape.
    pub fn new() -> Self {
        Self::default()
    }

    /// Turns `event_type` at `from_version` into its shape at `from_version + 1`.
    pub fn add(
        self,
        event_type: &str,
        from_version: u32,
        step: impl Fn(Value) -> Result<Value, String> + Send + Sync + 'static,
    ) -> Self {
        self.insert(event_type, from_version, None, Box::new(step))
    }

    /// Like [`add`](Self::add), for a step that also renames the type.
    pub fn add_renamed(
        self,
        event_type: &str,
        from_version: u32,
        new_type: &str,
        step: impl Fn(Value) -> Result<Value, String> + Send + Sync + 'static,
    ) -> Self {
        self.insert(
            event_type,
            from_version,
            Some(new_type.to_owned()),
            Box::new(step),
        )
    }

    fn insert(
        mut self,
        event_type: &str,
        from_version: u32,
        new_type: Option<String>,
        step: Step,
    ) -> Self {
        self.steps
            .insert((event_type.to_owned(), from_version), (new_type, step));
        self
    }

    /// Applies the chain until `raw` is at `to_version`. A version with no upcaster for the
    /// type passes unchanged (the bump concerned other types). An event newer than
    /// `to_version` is an error: old code must not guess at a newer shape.
    pub fn upcast(&self, mut raw: RawEvent, to_version: u32) -> Result<RawEvent, UpcastError> {
        if raw.schema_version > to_version {
            return Err(UpcastError {
                reason: format!(
                    "it was written by a newer schema than this program's ({to_version})"
                ),
                event_type: raw.event_type,
                schema_version: raw.schema_version,
            });
        }
        while raw.schema_version < to_version {
            let key = (raw.event_type, raw.schema_version);
            if let Some((new_type, step)) = self.steps.get(&key) {
                raw.payload = step(raw.payload).map_err(|reason| UpcastError {
                    event_type: key.0.clone(),
                    schema_version: key.1,
                    reason,
                })?;
                raw.event_type = new_type.clone().unwrap_or(key.0);
            } else {
                raw.event_type = key.0;
            }
            raw.schema_version += 1;
        }
        Ok(raw)
    }
}

/// Brings a raw event to the current schema and deserializes it.
pub(crate) fn from_raw<E: Event>(upcasters: &Upcasters, raw: RawEvent) -> Result<E, String> {
    let raw = upcasters
        .upcast(raw, E::SCHEMA_VERSION)
        .map_err(|e| e.to_string())?;
    let event_type = raw.event_type;
    let event: E = serde_json::from_value(raw.payload)
        .map_err(|e| format!("`{event_type}` does not decode after upcasting: {e}"))?;
    if event.event_type() != event_type {
        return Err(format!(
            "the upcast event is named `{event_type}` but decodes as `{}`",
            event.event_type()
        ));
    }
    Ok(event)
}
