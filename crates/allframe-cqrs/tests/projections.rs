//! Projections over the in-memory store.

use std::sync::Arc;

use allframe_cqrs::conformance::TestEvent;
use allframe_cqrs::{
    Envelope, EventStore, ExpectedVersion, NewEvent, Projection, ProjectionStatus, Projections,
};

/// Sum of every numbered event.
#[derive(Default)]
struct Total(u64);

impl Projection<TestEvent> for Total {
    const NAME: &'static str = "total";

    fn apply(&mut self, event: &Envelope<TestEvent>) {
        if let TestEvent::Numbered(n) = event.payload {
            self.0 += n;
        }
    }
}

/// Events per stream.
#[derive(Default)]
struct PerStream(std::collections::BTreeMap<String, u64>);

impl Projection<TestEvent> for PerStream {
    const NAME: &'static str = "per-stream";

    fn apply(&mut self, event: &Envelope<TestEvent>) {
        *self.0.entry(event.stream_id.to_string()).or_default() += 1;
    }
}

async fn append(store: &EventStore<TestEvent>, stream: &str, numbers: std::ops::Range<u64>) {
    let events = numbers
        .map(|n| NewEvent::new(TestEvent::Numbered(n)))
        .collect();
    store
        .append(stream, ExpectedVersion::Any, events)
        .await
        .unwrap();
}

#[tokio::test]
async fn projections_catch_up_keep_checkpoints_and_report_lag() {
    let store = EventStore::in_memory();
    append(&store, "a", 1..4).await;
    let projections = Projections::new(store.clone())
        .register::<Total>()
        .register::<PerStream>();
    let status = projections.status().await.unwrap();
    assert_eq!(
        status[0],
        ProjectionStatus {
            name: "total",
            position: 0,
            lag: 3,
            rebuilding: false
        }
    );

    assert_eq!(
        projections.catch_up().await.unwrap(),
        6,
        "3 events into each of 2 projections"
    );
    assert_eq!(projections.with::<Total, _>(|t| t.0), Some(6));
    append(&store, "b", 10..12).await;
    assert_eq!(
        projections.catch_up().await.unwrap(),
        4,
        "only the new events are applied"
    );
    assert_eq!(projections.with::<Total, _>(|t| t.0), Some(27));
    let counts = projections.with::<PerStream, _>(|p| p.0.clone()).unwrap();
    assert_eq!(
        counts.into_iter().collect::<Vec<_>>(),
        [("a".into(), 3), ("b".into(), 2)]
    );
    assert!(
        projections
            .status()
            .await
            .unwrap()
            .iter()
            .all(|s| s.position == 5 && s.lag == 0)
    );
}

#[tokio::test]
async fn a_rebuild_resets_and_replays() {
    let store = EventStore::in_memory();
    append(&store, "a", 1..101).await;
    let projections = Projections::new(store.clone()).register::<Total>();
    projections.catch_up().await.unwrap();
    projections.rebuild::<Total>().await.unwrap();
    assert_eq!(
        projections.with::<Total, _>(|t| t.0),
        Some(5050),
        "counted once, not twice"
    );
    let status = projections.status().await.unwrap()[0];
    assert_eq!((status.position, status.rebuilding), (100, false));
    assert!(
        projections.rebuild::<PerStream>().await.is_err(),
        "an unregistered one is an error"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn following_applies_new_events_as_they_are_appended() {
    let store = EventStore::in_memory();
    append(&store, "a", 1..3).await;
    let projections = Arc::new(Projections::new(store.clone()).register::<Total>());
    let follower = tokio::spawn({
        let projections = Arc::clone(&projections);
        async move { projections.follow().await }
    });
    for n in 3..=10 {
        append(&store, "a", n..n + 1).await;
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while projections.with::<Total, _>(|t| t.0) != Some(55) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the follower applied every event"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    follower.abort();
}

#[test]
#[should_panic(expected = "projection `total` is registered twice")]
fn registering_twice_panics() {
    let _ = Projections::new(EventStore::<TestEvent>::in_memory())
        .register::<Total>()
        .register::<Total>();
}

/// A rebuild while the projections follow live appends: live events must not move the
/// rebuilt projection's checkpoint past history it has not replayed yet (issue 18,
/// finding 8).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_racing_live_events_replays_all_of_history() {
    let store = EventStore::in_memory();
    for chunk in 0..50u64 {
        append(&store, "history", chunk * 1000..(chunk + 1) * 1000).await;
    }
    let projections = Arc::new(Projections::new(store.clone()).register::<PerStream>());
    let follower = tokio::spawn({
        let projections = Arc::clone(&projections);
        async move { projections.follow().await }
    });
    let writer = tokio::spawn({
        let store = store.clone();
        async move {
            for n in 0..20_000u64 {
                append(&store, "live", n..n + 1).await;
                tokio::task::yield_now().await;
            }
        }
    });
    // Rebuild once the follower is applying live events.
    while projections.with::<PerStream, _>(|p| p.0.contains_key("live")) != Some(true) {
        tokio::task::yield_now().await;
    }
    projections.rebuild::<PerStream>().await.unwrap();
    writer.await.unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let counts = projections
            .with::<PerStream, _>(|p| (p.0.get("history").copied(), p.0.get("live").copied()))
            .unwrap();
        if counts == (Some(50_000), Some(20_000)) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "after the rebuild: {counts:?} of (50000, 20000)"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    follower.abort();
}
