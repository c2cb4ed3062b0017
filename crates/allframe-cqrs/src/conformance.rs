//! The conformance suite every [`Backend`] passes: the memory backend in this crate's tests,
//! and any other backend (the durable file and PostgreSQL ones, or yours) with
//! `conformance::run(|| MyBackend::new()).await`. A failure panics with what broke.

use std::future::Future;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::backend::{Backend, ExpectedVersion, Snapshot, StoreError};
use crate::event::{Event, Metadata, NewEvent};
use crate::store::EventStore;
use crate::upcast::{RawEvent, Upcasters};

/// The event the suite appends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TestEvent {
    /// A numbered event.
    Numbered(u64),
    /// Another kind, to check type names.
    Renamed {
        /// The new name.
        name: String,
    },
}

/// Schema version 1 called `Numbered` `Counted`, and `Renamed`'s field `title`.
impl Event for TestEvent {
    const SCHEMA_VERSION: u32 = 2;

    fn event_type(&self) -> &'static str {
        match self {
            TestEvent::Numbered(_) => "Numbered",
            TestEvent::Renamed { .. } => "Renamed",
        }
    }

    fn upcasters() -> Upcasters {
        Upcasters::new()
            .add_renamed("Counted", 1, "Numbered", |v| {
                Ok(json!({ "Numbered": v.get("Counted").ok_or("no `Counted` key")? }))
            })
            .add("Renamed", 1, |v| {
                let title = v["Renamed"].get("title").ok_or("no `title`")?;
                Ok(json!({ "Renamed": { "name": title } }))
            })
    }
}

fn numbered(range: std::ops::Range<u64>) -> Vec<NewEvent<TestEvent>> {
    range
        .map(|n| NewEvent::new(TestEvent::Numbered(n)))
        .collect()
}

/// Runs every check, each on a fresh backend from `fresh`.
pub async fn run<B, F, Fut>(fresh: F)
where
    B: Backend<TestEvent>,
    F: Fn() -> Fut,
    Fut: Future<Output = B>,
{
    streams_keep_order_and_gapless_versions(fresh().await).await;
    expected_versions_guard_every_append(fresh().await).await;
    read_all_follows_positions(fresh().await).await;
    snapshots_keep_the_latest(fresh().await).await;
    subscriptions_catch_up_then_follow(fresh().await).await;
    old_events_read_upcast(fresh().await).await;
    concurrent_writers_lose_nothing(fresh().await).await;
    nul_characters_get_one_answer(fresh().await).await;
}

/// Versions start at 1 and have no gaps; reads after a version return the rest in order;
/// metadata and type names survive.
pub async fn streams_keep_order_and_gapless_versions<B: Backend<TestEvent>>(backend: B) {
    let store = EventStore::with_backend(backend);
    let metadata = Metadata {
        correlation_id: Some("req-1".into()),
        causation_id: Some("cmd-1".into()),
    };
    let first =
        NewEvent::new(TestEvent::Renamed { name: "a".into() }).with_metadata(metadata.clone());
    store
        .append("s", ExpectedVersion::NoStream, vec![first])
        .await
        .expect("first append");
    store
        .append("s", ExpectedVersion::Exactly(1), numbered(2..5))
        .await
        .expect("second append");
    store
        .append("other", ExpectedVersion::Any, numbered(0..2))
        .await
        .expect("another stream");

    let events = store.read_stream("s", 0).await.expect("read");
    let versions: Vec<u64> = events.iter().map(|e| e.version).collect();
    assert_eq!(versions, [1, 2, 3, 4], "gapless versions from 1");
    assert_eq!(events[0].event_type, "Renamed");
    assert_eq!(events[0].metadata, metadata, "metadata survives");
    assert_eq!(events[1].payload, TestEvent::Numbered(2));
    assert!(events.iter().all(|e| &*e.stream_id == "s"));
    let rest = store
        .read_stream("s", 2)
        .await
        .expect("read after a version");
    assert_eq!(rest.iter().map(|e| e.version).collect::<Vec<_>>(), [3, 4]);
    assert!(
        store
            .read_stream("s", 4)
            .await
            .expect("read at the end")
            .is_empty()
    );
    assert!(
        store
            .read_stream("missing", 0)
            .await
            .expect("read a missing stream")
            .is_empty()
    );
    let stats = store.stats().await.expect("stats");
    assert_eq!(
        (stats.events, stats.streams, stats.head_position),
        (6, 2, 6)
    );
}

/// A conflicting append fails with the actual version and writes nothing.
pub async fn expected_versions_guard_every_append<B: Backend<TestEvent>>(backend: B) {
    let store = EventStore::with_backend(backend);
    store
        .append("s", ExpectedVersion::NoStream, numbered(0..2))
        .await
        .expect("create");
    for expected in [
        ExpectedVersion::NoStream,
        ExpectedVersion::Exactly(1),
        ExpectedVersion::Exactly(3),
    ] {
        match store.append("s", expected, numbered(10..12)).await {
            Err(StoreError::Conflict { actual: 2, .. }) => {}
            other => panic!("{expected:?} on a stream at 2 must conflict, got {other:?}"),
        }
    }
    match store.append("s", ExpectedVersion::Any, Vec::new()).await {
        Err(StoreError::EmptyAppend) => {}
        other => panic!("an empty append must be refused, got {other:?}"),
    }
    assert_eq!(
        store.read_stream("s", 0).await.expect("read").len(),
        2,
        "nothing was written"
    );
    assert_eq!(store.stats().await.expect("stats").head_position, 2);
    let appended = store
        .append("s", ExpectedVersion::Exactly(2), numbered(2..3))
        .await
        .expect("append");
    assert_eq!(
        (
            appended.version,
            appended.first_position,
            appended.last_position
        ),
        (3, 3, 3)
    );
}

/// Read-all returns every stream's events in append order, from any position, in pages.
pub async fn read_all_follows_positions<B: Backend<TestEvent>>(backend: B) {
    let store = EventStore::with_backend(backend);
    for round in 0..3 {
        for stream in ["a", "b"] {
            store
                .append(
                    stream,
                    ExpectedVersion::Any,
                    numbered(round * 2..round * 2 + 2),
                )
                .await
                .expect("append");
        }
    }
    let all = store.read_all(0, 100).await.expect("read all");
    let positions: Vec<u64> = all.iter().map(|e| e.position).collect();
    assert_eq!(
        positions,
        (1..=12).collect::<Vec<_>>(),
        "positions are 1..=12 in order"
    );
    let streams: String = all.iter().map(|e| &*e.stream_id).collect();
    assert_eq!(streams, "aabbaabbaabb", "append order across streams");
    let page = store.read_all(5, 3).await.expect("a page");
    assert_eq!(
        page.iter().map(|e| e.position).collect::<Vec<_>>(),
        [6, 7, 8]
    );
    assert!(
        store
            .read_all(12, 10)
            .await
            .expect("read past the end")
            .is_empty()
    );
}

/// A snapshot replaces the previous one.
pub async fn snapshots_keep_the_latest<B: Backend<TestEvent>>(backend: B) {
    let store = EventStore::with_backend(backend);
    assert_eq!(store.load_snapshot("s").await.expect("load"), None);
    store
        .save_snapshot(
            "s",
            Snapshot {
                version: 3,
                data: b"three".to_vec(),
            },
        )
        .await
        .expect("save");
    store
        .save_snapshot(
            "s",
            Snapshot {
                version: 7,
                data: b"seven".to_vec(),
            },
        )
        .await
        .expect("save");
    let latest = store.load_snapshot("s").await.expect("load");
    assert_eq!(
        latest,
        Some(Snapshot {
            version: 7,
            data: b"seven".to_vec()
        })
    );
    assert_eq!(store.load_snapshot("other").await.expect("load"), None);
}

/// A subscription from a position delivers what is stored after it, then what is appended
/// later, each once and in order.
pub async fn subscriptions_catch_up_then_follow<B: Backend<TestEvent>>(backend: B) {
    let store = EventStore::with_backend(backend);
    store
        .append("s", ExpectedVersion::Any, numbered(0..5))
        .await
        .expect("append");
    let mut subscription = store.subscribe(2);
    let writer = store.clone();
    let live = tokio::spawn(async move {
        for n in 5..20 {
            writer
                .append("t", ExpectedVersion::Any, numbered(n..n + 1))
                .await
                .expect("live append");
            tokio::task::yield_now().await;
        }
    });
    let mut seen = Vec::new();
    while seen.len() < 17 {
        seen.push(subscription.next().await.expect("next").position);
    }
    live.await.expect("writer");
    assert_eq!(
        seen,
        (3..=19).collect::<Vec<_>>(),
        "every event after 2, once, in order"
    );
    assert_eq!(subscription.position(), 19);
}

/// Events written at schema version 1 read back in version 2's shape, from the stream and
/// from the global log, with the version they were written at; a newer event is refused.
pub async fn old_events_read_upcast<B: Backend<TestEvent>>(backend: B) {
    let store = EventStore::with_backend(backend);
    let raw = |event_type: &str, schema_version, payload| RawEvent {
        event_type: String::from(event_type),
        schema_version,
        metadata: Metadata::default(),
        payload,
    };
    store
        .append_raw(
            "old",
            ExpectedVersion::NoStream,
            vec![
                raw("Counted", 1, json!({ "Counted": 7 })),
                raw("Renamed", 1, json!({ "Renamed": { "title": "t" } })),
                raw("Numbered", 2, json!({ "Numbered": 8 })),
            ],
        )
        .await
        .expect("append raw events");
    store
        .append("old", ExpectedVersion::Exactly(3), numbered(9..10))
        .await
        .expect("append a current event after them");
    let expected = [
        TestEvent::Numbered(7),
        TestEvent::Renamed { name: "t".into() },
        TestEvent::Numbered(8),
        TestEvent::Numbered(9),
    ];
    for events in [
        store.read_stream("old", 0).await.expect("read the stream"),
        store.read_all(0, 10).await.expect("read all"),
    ] {
        let payloads: Vec<_> = events.iter().map(|e| e.payload.clone()).collect();
        assert_eq!(payloads, expected, "upcast on read");
        let types: Vec<_> = events.iter().map(|e| e.event_type).collect();
        assert_eq!(types, ["Numbered", "Renamed", "Numbered", "Numbered"]);
        let written: Vec<_> = events.iter().map(|e| e.schema_version).collect();
        assert_eq!(written, [1, 1, 2, 2], "the version each was written at");
    }
}

/// Eight writers race on one stream with expected versions: every event acknowledged is
/// stored, every refusal is a conflict, versions stay gapless.
pub async fn concurrent_writers_lose_nothing<B: Backend<TestEvent>>(backend: B) {
    let store = Arc::new(EventStore::with_backend(backend));
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..8u64 {
        let store = Arc::clone(&store);
        writers.spawn(async move {
            let (mut acknowledged, mut conflicts) = (Vec::new(), 0u32);
            while acknowledged.len() < 25 {
                let version = store.read_stream("race", 0).await.expect("read").len() as u64;
                let event = NewEvent::new(TestEvent::Numbered(
                    writer * 1000 + acknowledged.len() as u64,
                ));
                match store
                    .append(
                        "race",
                        ExpectedVersion::Exactly(version),
                        vec![event.clone()],
                    )
                    .await
                {
                    Ok(_) => acknowledged.push(event.payload),
                    Err(StoreError::Conflict { .. }) => conflicts += 1,
                    Err(other) => panic!("a race must only conflict, got {other}"),
                }
                tokio::task::yield_now().await;
            }
            (acknowledged, conflicts)
        });
    }
    let mut acknowledged = Vec::new();
    while let Some(result) = writers.join_next().await {
        acknowledged.extend(result.expect("writer").0);
    }
    let stored = store.read_stream("race", 0).await.expect("read");
    assert_eq!(stored.len(), 200, "8 writers x 25 acknowledged events");
    assert!(
        stored
            .iter()
            .enumerate()
            .all(|(i, e)| e.version == i as u64 + 1),
        "gapless"
    );
    let mut stored_payloads: Vec<TestEvent> = stored.into_iter().map(|e| e.payload).collect();
    let key = |e: &TestEvent| match e {
        TestEvent::Numbered(n) => *n,
        TestEvent::Renamed { .. } => u64::MAX,
    };
    stored_payloads.sort_by_key(key);
    acknowledged.sort_by_key(key);
    assert_eq!(
        stored_payloads, acknowledged,
        "exactly the acknowledged events are stored"
    );
}

/// A NUL character is kept like any other in a payload and in metadata, typed or raw, and
/// a stream id holding one is refused with [`StoreError::InvalidStreamId`], nothing written:
/// the same answers on every backend (PostgreSQL's `jsonb` and `text` refuse NUL).
pub async fn nul_characters_get_one_answer<B: Backend<TestEvent>>(backend: B) {
    let store = EventStore::with_backend(backend);
    let name = "before\u{0}after".to_owned();
    let metadata = Metadata {
        correlation_id: Some("req\u{0}1".into()),
        causation_id: None,
    };
    let typed =
        NewEvent::new(TestEvent::Renamed { name: name.clone() }).with_metadata(metadata.clone());
    store
        .append("s", ExpectedVersion::NoStream, vec![typed])
        .await
        .expect("a payload with a NUL character is stored");
    let raw = RawEvent {
        event_type: "Renamed".into(),
        schema_version: 2,
        metadata: Metadata::default(),
        payload: json!({ "Renamed": { "name": name } }),
    };
    store
        .backend()
        .append_raw("s", ExpectedVersion::Exactly(1), vec![raw])
        .await
        .expect("a raw payload with a NUL character is stored");
    let read = store.read_stream("s", 0).await.expect("read");
    assert_eq!(read.len(), 2);
    for event in &read {
        assert_eq!(
            event.payload,
            TestEvent::Renamed { name: name.clone() },
            "read back whole"
        );
    }
    assert_eq!(read[0].metadata, metadata, "metadata read back whole");

    let refused = store
        .append("a\u{0}b", ExpectedVersion::Any, numbered(0..1))
        .await;
    assert!(
        matches!(&refused, Err(StoreError::InvalidStreamId { stream, .. }) if stream == "a\u{0}b"),
        "a stream id with a NUL character is refused: {refused:?}"
    );
    let stats = store.stats().await.expect("stats");
    assert_eq!(
        (stats.events, stats.streams),
        (2, 1),
        "the refused append wrote nothing"
    );
}
