//! How many operations one socket runs at once. Each subscription holds a stream and its
//! resolvers' resources for as long as it lives, so a client that opens thousands would
//! hold the server's memory; one past the limit is answered with a GraphQL error (code
//! `TOO_MANY_OPERATIONS`) and the socket stays open for the ones it has.

use std::borrow::Cow;
use std::collections::HashSet;

use serde::Deserialize;

/// Operations one socket may run at once unless [`crate::GraphQL::max_operations`] says.
pub const DEFAULT_MAX_OPERATIONS: usize = 100;

/// The fields of a protocol message this count reads (`graphql-transport-ws` and the
/// legacy `graphql-ws` name them alike).
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
}

/// What to do with a client's message.
#[derive(Debug, PartialEq)]
pub(crate) enum Incoming {
    /// `connection_init`: hand it on, the socket is no longer waiting for it.
    Init,
    /// Anything else the protocol engine should see.
    Pass,
    /// An operation past the limit: answer the client with this message instead.
    Refuse(String),
}

/// The ids of the operations a socket runs.
pub(crate) struct Operations {
    max: usize,
    running: HashSet<String>,
}

impl Operations {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max,
            running: HashSet::new(),
        }
    }

    /// A message from the client. What is not a protocol message is passed on, for the
    /// engine to refuse as the protocol says.
    pub(crate) fn client(&mut self, message: &[u8]) -> Incoming {
        let Ok(Envelope { kind, id }) = serde_json::from_slice(message) else {
            return Incoming::Pass;
        };
        match (kind.as_ref(), id) {
            ("connection_init", _) => Incoming::Init,
            ("subscribe" | "start", Some(id)) => {
                if self.running.contains(id.as_ref()) || self.running.len() < self.max {
                    self.running.insert(id.into_owned());
                    Incoming::Pass
                } else {
                    Incoming::Refuse(self.refusal(&id))
                }
            }
            ("complete" | "stop", Some(id)) => {
                self.running.remove(id.as_ref());
                Incoming::Pass
            }
            _ => Incoming::Pass,
        }
    }

    /// A message the server sends: an operation it completes or fails no longer counts.
    pub(crate) fn server(&mut self, message: &str) {
        // Only `complete` and `error` end an operation; `next` (the bulk) is left unparsed.
        if !message.contains("\"complete\"") && !message.contains("\"error\"") {
            return;
        }
        if let Ok(Envelope { kind, id: Some(id) }) = serde_json::from_str(message)
            && matches!(kind.as_ref(), "complete" | "error")
        {
            self.running.remove(id.as_ref());
        }
    }

    fn refusal(&self, id: &str) -> String {
        serde_json::json!({
            "id": id,
            "type": "error",
            "payload": [{
                "message": format!(
                    "this socket already runs {} operations, the most it may: complete one \
                     before starting another",
                    self.max
                ),
                "extensions": {"code": "TOO_MANY_OPERATIONS"},
            }],
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::{Incoming, Operations};

    fn subscribe(id: &str) -> Vec<u8> {
        format!(
            r#"{{"id":"{id}","type":"subscribe","payload":{{"query":"subscription {{ a }}"}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn an_operation_past_the_limit_is_refused_until_one_ends() {
        let mut ops = Operations::new(2);
        assert_eq!(ops.client(br#"{"type":"connection_init"}"#), Incoming::Init);
        assert_eq!(ops.client(&subscribe("1")), Incoming::Pass);
        assert_eq!(ops.client(&subscribe("2")), Incoming::Pass);
        let Incoming::Refuse(refusal) = ops.client(&subscribe("3")) else {
            panic!("a third operation is refused");
        };
        let refusal: serde_json::Value = serde_json::from_str(&refusal).unwrap();
        assert_eq!(refusal["id"], "3");
        assert_eq!(refusal["type"], "error");
        assert_eq!(
            refusal["payload"][0]["extensions"]["code"],
            "TOO_MANY_OPERATIONS"
        );
        // The client completes one, the server ends the other.
        assert_eq!(
            ops.client(br#"{"id":"1","type":"complete"}"#),
            Incoming::Pass
        );
        ops.server(r#"{"id":"2","type":"complete"}"#);
        ops.server(r#"{"id":"x","type":"next","payload":{"data":{"error":"complete"}}}"#);
        assert_eq!(ops.client(&subscribe("3")), Incoming::Pass);
        assert_eq!(ops.client(&subscribe("4")), Incoming::Pass);
        // Resubscribing a running id is the engine's to judge, not a new operation.
        assert_eq!(ops.client(&subscribe("4")), Incoming::Pass);
        assert!(matches!(ops.client(&subscribe("5")), Incoming::Refuse(_)));
        // What is not a protocol message goes on to the engine, which refuses it.
        assert_eq!(ops.client(b"not json"), Incoming::Pass);
    }
}
