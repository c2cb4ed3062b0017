//! The serialized form the file and PostgreSQL backends store: JSON payload and metadata
//! beside the type name and schema version; decoding brings an old event up to date.

use serde_json::Value;

use crate::backend::StoreError;
use crate::event::{Event, Metadata, NewEvent};
use crate::upcast::{RawEvent, Upcasters, from_raw};

/// An event ready to be stored.
#[derive(Debug)]
pub(crate) struct Serialized {
    pub(crate) event_type: String,
    pub(crate) schema_version: u32,
    /// `None` when the event has no correlation or causation id.
    pub(crate) metadata: Option<String>,
    pub(crate) payload: String,
}

fn unserializable(stream: &str, index: usize, error: serde_json::Error) -> StoreError {
    StoreError::Backend(format!(
        "cannot serialize event {index} for stream `{stream}`: {error}"
    ))
}

fn metadata(metadata: &Metadata) -> Result<Option<String>, serde_json::Error> {
    (!metadata.is_empty())
        .then(|| serde_json::to_string(metadata))
        .transpose()
}

/// Typed events at the current schema version.
pub(crate) fn serialize<E: Event>(
    stream: &str,
    events: &[NewEvent<E>],
) -> Result<Vec<Serialized>, StoreError> {
    let one = |event: &NewEvent<E>| -> Result<Serialized, serde_json::Error> {
        Ok(Serialized {
            event_type: event.payload.event_type().to_owned(),
            schema_version: E::SCHEMA_VERSION,
            metadata: metadata(&event.metadata)?,
            payload: serde_json::to_string(&event.payload)?,
        })
    };
    let each = events.iter().enumerate();
    each.map(|(i, event)| one(event).map_err(|e| unserializable(stream, i, e)))
        .collect()
}

/// Raw events as given: their type and schema version are kept, upcasting waits for reads.
pub(crate) fn serialize_raw(
    stream: &str,
    events: Vec<RawEvent>,
) -> Result<Vec<Serialized>, StoreError> {
    let each = events.into_iter().enumerate();
    each.map(|(i, raw)| {
        Ok(Serialized {
            metadata: metadata(&raw.metadata).map_err(|e| unserializable(stream, i, e))?,
            payload: raw.payload.to_string(),
            event_type: raw.event_type,
            schema_version: raw.schema_version,
        })
    })
    .collect()
}

/// Decodes a stored payload into the current event type, upcasting when it is older.
/// `Err` carries a message; the backend adds where the event is.
pub(crate) fn decode<E: Event>(
    upcasters: &Upcasters,
    event_type: &str,
    schema_version: u32,
    metadata: &Metadata,
    payload: &[u8],
) -> Result<E, String> {
    if schema_version == E::SCHEMA_VERSION {
        return serde_json::from_slice(payload).map_err(|e| format!("undecodable payload: {e}"));
    }
    let payload: Value =
        serde_json::from_slice(payload).map_err(|e| format!("undecodable payload: {e}"))?;
    from_raw(
        upcasters,
        RawEvent {
            event_type: event_type.to_owned(),
            schema_version,
            metadata: metadata.clone(),
            payload,
        },
    )
}
