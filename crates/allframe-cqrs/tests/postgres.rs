//! The PostgreSQL backend against a real PostgreSQL (`DATABASE_URL`, else the local default),
//! each test in a schema of its own that is dropped at the end. Without a reachable
//! database each test says it was SKIPPED, and why, and passes.

use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use allframe_cqrs::conformance::{self, TestEvent};
use allframe_cqrs::{
    Backend, EventStore, ExpectedVersion, Metadata, NewEvent, PostgresBackend, RawEvent, Snapshot,
    StoreError,
};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, Executor, PgConnection, PgPool};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The database of one test and the schemas it created, dropped when this is.
struct TestDb {
    url: String,
    admin: PgPool,
    schemas: Mutex<Vec<String>>,
}

impl TestDb {
    /// `None` (having said so) when no database answers.
    async fn connect(test: &str) -> Option<Self> {
        let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
        // One plain connection first: a pool would only say that it timed out.
        let probe = tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(&url))
            .await
            .unwrap_or(Err(sqlx::Error::PoolTimedOut));
        if let Err(e) = probe {
            eprintln!("SKIPPED: {test}: no PostgreSQL at {}: {e}", redacted(&url));
            return None;
        }
        let admin = PgPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .expect("PostgreSQL answered a moment ago");
        Some(Self {
            url,
            admin,
            schemas: Mutex::new(Vec::new()),
        })
    }

    /// A new empty schema, dropped with this.
    async fn schema(&self) -> String {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .subsec_nanos();
        let name = format!(
            "allframe_test_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        self.admin
            .execute(format!("create schema {name}").as_str())
            .await
            .expect("create a schema");
        self.schemas.lock().expect("schemas").push(name.clone());
        name
    }

    /// A pool whose connections work in `schema`.
    async fn pool(&self, schema: &str, max_connections: u32) -> PgPool {
        let options = PgConnectOptions::from_str(&self.url)
            .expect("a PostgreSQL URL")
            .options([("search_path", schema)]);
        PgPoolOptions::new()
            .max_connections(max_connections)
            .connect_with(options)
            .await
            .expect("connect to the test schema")
    }

    async fn backend(&self, schema: &str, max_connections: u32) -> PostgresBackend<TestEvent> {
        PostgresBackend::new(self.pool(schema, max_connections).await)
            .await
            .expect("a backend")
    }

    async fn fresh(&self) -> PostgresBackend<TestEvent> {
        let schema = self.schema().await;
        self.backend(&schema, 10).await
    }
}

/// Drops the schemas even when the test panicked. `Drop` cannot await, and the test's
/// runtime may be the one unwinding, so this uses a thread and a runtime of its own.
impl Drop for TestDb {
    fn drop(&mut self) {
        let schemas = std::mem::take(self.schemas.get_mut().unwrap_or_else(|e| e.into_inner()));
        if schemas.is_empty() {
            return;
        }
        let url = self.url.clone();
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&url).await?;
                // A connection left in a transaction by a failed test must not hang us.
                conn.execute("set lock_timeout = '10s'").await?;
                for schema in schemas {
                    conn.execute(format!("drop schema if exists {schema} cascade").as_str())
                        .await?;
                }
                Ok::<_, sqlx::Error>(())
            })
        });
        match cleanup.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop the test schemas: {e}"),
            Err(_) => eprintln!("could not drop the test schemas: the cleanup panicked"),
        }
    }
}

/// The URL without its password, for messages.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((user_info, host)) if user_info.contains(':') => {
            let user = user_info.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_backend_conforms() {
    let Some(db) = TestDb::connect("the_postgres_backend_conforms").await else {
        return;
    };
    conformance::run(|| db.fresh()).await;
}

/// A follower that reads on from the last position it saw must see every position, in
/// order, while eight writers append concurrently: a later position never becomes visible
/// before an earlier one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn followers_never_see_a_gap_while_writers_race() {
    let Some(db) = TestDb::connect("followers_never_see_a_gap_while_writers_race").await else {
        return;
    };
    let schema = db.schema().await;
    let store = EventStore::with_backend(db.backend(&schema, 12).await);
    const WRITERS: u64 = 8;
    const APPENDS: u64 = 100;
    // Append j of writer w carries 1 to 3 events.
    let size = |w: u64, j: u64| (w + j) % 3 + 1;
    let total: u64 = (0..WRITERS)
        .flat_map(|w| (0..APPENDS).map(move |j| size(w, j)))
        .sum();

    let follower = {
        let store = store.clone();
        tokio::spawn(async move {
            let (mut last_seen, mut batches) = (0, 0);
            while last_seen < total {
                let batch = store.read_all(last_seen, 1000).await.expect("read all");
                batches += u32::from(!batch.is_empty());
                for (i, event) in batch.iter().enumerate() {
                    assert_eq!(
                        event.position,
                        last_seen + 1 + i as u64,
                        "after position {last_seen} the follower was handed {:?}: \
                         a position became visible before an earlier one",
                        batch.iter().map(|e| e.position).collect::<Vec<_>>()
                    );
                }
                last_seen += batch.len() as u64;
            }
            (last_seen, batches)
        })
    };
    let subscriber = {
        let mut subscription = store.subscribe(0);
        tokio::spawn(async move {
            for position in 1..=total {
                let event = subscription.next().await.expect("next");
                assert_eq!(event.position, position, "the subscription in order");
            }
        })
    };

    let mut writers = tokio::task::JoinSet::new();
    for w in 0..WRITERS {
        let store = store.clone();
        writers.spawn(async move {
            let stream = format!("writer-{w}");
            let mut version = 0;
            for j in 0..APPENDS {
                let events = (0..size(w, j))
                    .map(|k| NewEvent::new(TestEvent::Numbered(w * 10_000 + version + k)))
                    .collect();
                let appended = store
                    .append(&stream, ExpectedVersion::Exactly(version), events)
                    .await
                    .expect("append");
                version = appended.version;
            }
            version
        });
    }
    let mut acknowledged = 0;
    while let Some(version) = writers.join_next().await {
        acknowledged += version.expect("writer");
    }
    assert_eq!(acknowledged, total, "every append was acknowledged");

    let (seen, batches) = tokio::time::timeout(Duration::from_secs(60), follower)
        .await
        .expect("the follower saw every event within a minute")
        .expect("the follower");
    assert_eq!(
        seen, total,
        "the follower saw what the writers acknowledged"
    );
    assert!(
        batches > 10,
        "the follower read while the writers wrote ({batches} batches), or this proves nothing"
    );
    tokio::time::timeout(Duration::from_secs(60), subscriber)
        .await
        .expect("the subscription delivered every event within a minute")
        .expect("the subscriber");
    let stats = store.stats().await.expect("stats");
    assert_eq!(
        (stats.events, stats.streams, stats.head_position),
        (total, WRITERS, total)
    );
}

/// Everything survives the pool: a new backend on the same schema reads it all back (the
/// migrations run again harmlessly) and positions continue.
#[tokio::test]
async fn events_and_snapshots_outlive_the_pool() {
    let Some(db) = TestDb::connect("events_and_snapshots_outlive_the_pool").await else {
        return;
    };
    let schema = db.schema().await;
    let metadata = Metadata {
        correlation_id: Some("req-7".into()),
        causation_id: None,
    };
    let snapshot = Snapshot {
        version: 2,
        data: vec![0, 1, 2, 255],
    };
    let (before_stream, before_all, before_stats) = {
        let backend = db.backend(&schema, 2).await;
        backend
            .append(
                "a",
                ExpectedVersion::NoStream,
                vec![
                    NewEvent::new(TestEvent::Numbered(1)).with_metadata(metadata.clone()),
                    NewEvent::new(TestEvent::Renamed { name: "x".into() }),
                ],
            )
            .await
            .expect("append");
        backend
            .append_raw(
                "b",
                ExpectedVersion::NoStream,
                vec![RawEvent {
                    event_type: "Counted".into(),
                    schema_version: 1,
                    metadata: Metadata::default(),
                    payload: json!({ "Counted": 5 }),
                }],
            )
            .await
            .expect("append raw");
        backend
            .save_snapshot("a", snapshot.clone())
            .await
            .expect("save a snapshot");
        let state = (
            backend.read_stream("a", 0).await.expect("read"),
            backend.read_all(0, 100).await.expect("read all"),
            backend.stats().await.expect("stats"),
        );
        backend.pool().close().await;
        state
    };

    let backend = db.backend(&schema, 2).await;
    assert_eq!(
        backend.read_stream("a", 0).await.expect("read"),
        before_stream
    );
    let all = backend.read_all(0, 100).await.expect("read all");
    assert_eq!(all, before_all);
    assert_eq!(all[0].metadata, metadata);
    assert_eq!(
        (all[2].payload.clone(), all[2].schema_version),
        (TestEvent::Numbered(5), 1),
        "the raw event is stored as written and upcast on read"
    );
    assert_eq!(backend.stats().await.expect("stats"), before_stats);
    assert_eq!(
        backend.load_snapshot("a").await.expect("load"),
        Some(snapshot)
    );
    let appended = backend
        .append(
            "a",
            ExpectedVersion::Exactly(2),
            vec![NewEvent::new(TestEvent::Numbered(3))],
        )
        .await
        .expect("append after reopening");
    assert_eq!((appended.version, appended.first_position), (3, 4));
}

/// A stored event that no longer decodes is an error naming where it is, not a panic and
/// not a silent skip; other streams still read.
#[tokio::test]
async fn an_undecodable_event_is_reported_where_it_is() {
    let Some(db) = TestDb::connect("an_undecodable_event_is_reported_where_it_is").await else {
        return;
    };
    let schema = db.schema().await;
    let backend = db.backend(&schema, 2).await;
    for stream in ["good", "bad"] {
        backend
            .append(
                stream,
                ExpectedVersion::NoStream,
                vec![NewEvent::new(TestEvent::Numbered(1))],
            )
            .await
            .expect("append");
    }
    // Written behind the backend's back, as another program might.
    sqlx::query(
        "with head as (update allframe_head set position = position + 1 returning position) \
         insert into allframe_events \
             (position, stream_id, version, event_type, schema_version, timestamp_ms, payload) \
         select position, 'bad', 2, 'Numbered', 2, 0, '{\"NoSuchVariant\": [1, 2]}' from head",
    )
    .execute(backend.pool())
    .await
    .expect("insert an undecodable row");

    match backend.read_stream("bad", 0).await {
        Err(StoreError::Backend(message)) => assert!(
            message.contains("`bad`") && message.contains("version 2"),
            "the message names the stream and version: {message}"
        ),
        other => panic!("an undecodable event must be an error, got {other:?}"),
    }
    match backend.read_all(0, 10).await {
        Err(StoreError::Backend(message)) => assert!(
            message.contains("position 3"),
            "the message names the position: {message}"
        ),
        other => panic!("an undecodable event must be an error, got {other:?}"),
    }
    let good = backend
        .read_stream("good", 0)
        .await
        .expect("another stream reads");
    assert_eq!(good[0].payload, TestEvent::Numbered(1));
    assert_eq!(
        backend.read_all(0, 2).await.expect("read before it").len(),
        2,
        "... and so do the positions before it"
    );
}

/// Writers that expect nothing never conflict, even on one stream: the version is read
/// under the lock that orders appends, so it cannot be stale.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appends_expecting_any_version_never_conflict() {
    let Some(db) = TestDb::connect("appends_expecting_any_version_never_conflict").await else {
        return;
    };
    let schema = db.schema().await;
    let store = EventStore::with_backend(db.backend(&schema, 10).await);
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..8 {
        let store = store.clone();
        writers.spawn(async move {
            for n in 0..25 {
                let event = NewEvent::new(TestEvent::Numbered(w * 100 + n));
                store
                    .append("shared", ExpectedVersion::Any, vec![event])
                    .await
                    .expect("an append expecting any version succeeds");
            }
        });
    }
    while let Some(result) = writers.join_next().await {
        result.expect("writer");
    }
    let versions: Vec<u64> = store
        .read_stream("shared", 0)
        .await
        .expect("read")
        .iter()
        .map(|e| e.version)
        .collect();
    assert_eq!(versions, (1..=200).collect::<Vec<_>>());
}

/// Another process's appends reach a live subscription here (by NOTIFY, or by its poll).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_hears_appends_made_through_another_pool() {
    let Some(db) = TestDb::connect("a_subscription_hears_appends_made_through_another_pool").await
    else {
        return;
    };
    let schema = db.schema().await;
    let here = EventStore::with_backend(
        db.backend(&schema, 2)
            .await
            .with_poll_interval(Duration::from_millis(20)),
    );
    let elsewhere = EventStore::with_backend(db.backend(&schema, 2).await);
    let mut subscription = here.subscribe(0);
    let listening = tokio::spawn(async move {
        let mut positions = Vec::new();
        while positions.len() < 5 {
            positions.push(subscription.next().await.expect("next").position);
        }
        positions
    });
    for n in 0..5 {
        elsewhere
            .append(
                "s",
                ExpectedVersion::Any,
                vec![NewEvent::new(TestEvent::Numbered(n))],
            )
            .await
            .expect("append elsewhere");
    }
    // Generous: this bounds a hang, it does not time the poll.
    let positions = tokio::time::timeout(Duration::from_secs(30), listening)
        .await
        .expect("the subscription heard the other pool's appends")
        .expect("listener");
    assert_eq!(positions, [1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn a_schema_name_that_is_not_plain_is_refused_before_connecting() {
    for name in ["", "Public", "a; drop table x", "1abc", "tenant-1"] {
        let error =
            PostgresBackend::<TestEvent>::connect_in_schema("postgres://127.0.0.1:1/x", name)
                .await
                .expect_err("refused");
        assert!(
            error.to_string().contains("not a plain schema name"),
            "{name}: {error}"
        );
    }
}

/// PostgreSQL cuts identifiers at 63 bytes: two long tenant names would share one schema
/// (issue 18, finding 9).
#[tokio::test]
async fn a_schema_name_postgresql_would_truncate_is_refused() {
    let long = "t".repeat(64);
    let error = PostgresBackend::<TestEvent>::connect_in_schema("postgres://127.0.0.1:1/x", &long)
        .await
        .expect_err("refused");
    assert!(error.to_string().contains("keeps only 63"), "{error}");
}

/// A reserved word is a plain name too; quoted, it works (issue 18, finding 9).
#[tokio::test]
async fn a_schema_named_by_a_reserved_word_works() {
    let Some(db) = TestDb::connect("a_schema_named_by_a_reserved_word_works").await else {
        return;
    };
    let schema = "select";
    let backend = PostgresBackend::<TestEvent>::connect_in_schema(&db.url, schema).await;
    let appended = match &backend {
        Ok(backend) => {
            let events = vec![NewEvent::new(TestEvent::Numbered(1))];
            Some(backend.append("s", ExpectedVersion::Any, events).await)
        }
        Err(_) => None,
    };
    if let Ok(backend) = &backend {
        backend.pool().close().await;
    }
    db.admin
        .execute(r#"drop schema if exists "select" cascade"#)
        .await
        .expect("drop the schema");
    backend.expect("connect in a schema named `select`");
    appended.unwrap().expect("append in it");
}

#[tokio::test]
async fn connect_in_schema_keeps_the_tables_in_that_schema() {
    let Some(db) = TestDb::connect("connect_in_schema_keeps_the_tables_in_that_schema").await
    else {
        return;
    };
    let schema = db.schema().await;
    let store = EventStore::with_backend(
        PostgresBackend::<TestEvent>::connect_in_schema(&db.url, &schema)
            .await
            .expect("connect in the schema"),
    );
    store
        .append(
            "s",
            ExpectedVersion::NoStream,
            vec![NewEvent::new(TestEvent::Numbered(1))],
        )
        .await
        .expect("append");
    let (tables,): (i64,) = sqlx::query_as(
        "select count(*) from information_schema.tables \
         where table_schema = $1 and table_name like 'allframe_%'",
    )
    .bind(&schema)
    .fetch_one(&db.admin)
    .await
    .expect("count tables");
    assert_eq!(tables, 3, "events, head and snapshots in {schema}");
    store.backend().pool().close().await;
}

/// A writer stuck while it holds the head row (a frozen process, a dropped network) must not
/// stall every writer: the others give up after the lock timeout with an error that says
/// so, and append again once it is gone (issue 18, finding 11).
#[tokio::test]
async fn a_writer_stuck_holding_the_head_fails_the_others_in_time() {
    let Some(db) =
        TestDb::connect("a_writer_stuck_holding_the_head_fails_the_others_in_time").await
    else {
        return;
    };
    let schema = db.schema().await;
    let store = EventStore::with_backend(db.backend(&schema, 4).await);
    let first = vec![NewEvent::new(TestEvent::Numbered(1))];
    store
        .append("s", ExpectedVersion::Any, first)
        .await
        .expect("the first append");
    // Another client takes the head row's lock and goes quiet.
    let mut stuck = db.pool(&schema, 1).await.begin().await.expect("begin");
    sqlx::query("update allframe_head set position = position")
        .execute(&mut *stuck)
        .await
        .expect("lock the head row");

    let blocked = vec![NewEvent::new(TestEvent::Numbered(2))];
    let waited = tokio::time::timeout(
        Duration::from_secs(30),
        store.append("s", ExpectedVersion::Any, blocked),
    )
    .await
    .expect("the append gives up instead of waiting for the stuck writer");
    match waited {
        Err(StoreError::Unavailable(why)) => {
            assert!(why.contains("lock"), "{why}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    stuck.rollback().await.expect("the stuck writer leaves");
    let retried = vec![NewEvent::new(TestEvent::Numbered(2))];
    let appended = store
        .append("s", ExpectedVersion::Exactly(1), retried)
        .await
        .expect("nothing was written by the append that gave up");
    assert_eq!(appended.version, 2);
}

/// The order of positions rests on READ COMMITTED; a database whose default isolation is
/// stricter would fail concurrent appends with serialization errors (40001). Appends set
/// their own isolation level (issue 18, finding 11).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appends_succeed_when_the_default_isolation_is_serializable() {
    let Some(db) =
        TestDb::connect("appends_succeed_when_the_default_isolation_is_serializable").await
    else {
        return;
    };
    let schema = db.schema().await;
    let options = PgConnectOptions::from_str(&db.url)
        .expect("a PostgreSQL URL")
        .options([
            ("search_path", schema.as_str()),
            ("default_transaction_isolation", "serializable"),
        ]);
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .expect("connect");
    let store = EventStore::with_backend(
        PostgresBackend::<TestEvent>::new(pool)
            .await
            .expect("a backend"),
    );
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..8 {
        let store = store.clone();
        writers.spawn(async move {
            for n in 0..10 {
                let event = NewEvent::new(TestEvent::Numbered(w * 100 + n));
                store
                    .append(&format!("writer-{w}"), ExpectedVersion::Any, vec![event])
                    .await
                    .expect("an append under a serializable default");
            }
        });
    }
    while let Some(result) = writers.join_next().await {
        result.expect("writer");
    }
    let all = store.read_all(0, 1000).await.expect("read all");
    assert_eq!(all.len(), 80);
}

/// Waits (a bounded hang, not a timing) until the backend's notification state satisfies
/// `ready`.
async fn until_notifications(
    store: &EventStore<TestEvent, PostgresBackend<TestEvent>>,
    what: &str,
    ready: impl Fn(allframe_cqrs::NotificationStats) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !ready(store.backend().notifications()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: {:?}",
            store.backend().notifications()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The next position a subscription passed on, within `within` (a bounded hang).
async fn next_heard(
    hearing: &mut tokio::sync::mpsc::UnboundedReceiver<u64>,
    within: Duration,
) -> u64 {
    tokio::time::timeout(within, hearing.recv())
        .await
        .expect("the subscription heard the append")
        .expect("the subscription runs")
}

/// Another process's appends reach a live subscription by NOTIFY; while the listening
/// connection is killed again and again the subscription polls, and once it listens again
/// it is woken by NOTIFY once more. Across both switches it sees every event once, in
/// position order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_wake_subscriptions_and_polling_covers_their_loss() {
    let test = "notifications_wake_subscriptions_and_polling_covers_their_loss";
    let Some(db) = TestDb::connect(test).await else {
        return;
    };
    let schema = db.schema().await;
    // Listening, it polls every 50 x 200 ms = 10 s: an event heard within 5 s came by
    // NOTIFY.
    let here = EventStore::with_backend(
        db.backend(&schema, 2)
            .await
            .with_poll_interval(Duration::from_millis(200)),
    );
    let elsewhere = EventStore::with_backend(db.backend(&schema, 2).await);
    let (heard, mut hearing) = tokio::sync::mpsc::unbounded_channel();
    let mut subscription = here.subscribe(0);
    tokio::spawn(async move {
        loop {
            let event = subscription.next().await.expect("next");
            if heard.send(event.position).is_err() {
                return;
            }
        }
    });
    let append = |n: u64| {
        let elsewhere = elsewhere.clone();
        async move {
            elsewhere
                .append(
                    "s",
                    ExpectedVersion::Any,
                    vec![NewEvent::new(TestEvent::Numbered(n))],
                )
                .await
                .expect("append elsewhere")
        }
    };

    until_notifications(&here, "the subscription's wait starts listening", |n| {
        n.listening
    })
    .await;
    append(1).await;
    assert_eq!(next_heard(&mut hearing, Duration::from_secs(5)).await, 1);
    assert!(here.backend().notifications().received >= 1);

    // Kill every listening connection as soon as it appears, for a while, appending
    // meanwhile: only polling (and the wake-up at each reconnection) can deliver these.
    let application = format!("allframe-listener {schema}");
    let killer = {
        let admin = db.admin.clone();
        let application = application.clone();
        tokio::spawn(async move {
            let mut killed = 0_u64;
            let until = tokio::time::Instant::now() + Duration::from_millis(1500);
            while tokio::time::Instant::now() < until {
                let (n,): (i64,) = sqlx::query_as(
                    "select count(pg_terminate_backend(pid)) from pg_stat_activity \
                     where application_name = $1",
                )
                .bind(&application)
                .fetch_one(&admin)
                .await
                .expect("terminate the listener");
                killed += n as u64;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            killed
        })
    };
    for n in 2..=6 {
        append(n).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let killed = killer.await.expect("killer");
    assert!(killed >= 1, "the listening connection was killed");
    let mut positions = vec![1];
    for _ in 2..=6 {
        positions.push(next_heard(&mut hearing, Duration::from_secs(30)).await);
    }
    assert_eq!(positions, [1, 2, 3, 4, 5, 6]);

    until_notifications(&here, "it listens again", |n| {
        n.listening && n.connections >= 2
    })
    .await;
    let received = here.backend().notifications().received;
    append(7).await;
    assert_eq!(next_heard(&mut hearing, Duration::from_secs(5)).await, 7);
    assert!(here.backend().notifications().received > received);
    // Nothing twice: no further event is delivered.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), hearing.recv())
            .await
            .is_err(),
        "an event was delivered twice"
    );
}

/// Appends that queue while a batch commits go in one transaction together, each still
/// checked on its own: a conflict fails its own append only, and an acknowledged append is
/// committed (another connection reads it at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appends_commit_in_batches_and_a_conflict_fails_only_its_own() {
    let Some(db) =
        TestDb::connect("appends_commit_in_batches_and_a_conflict_fails_only_its_own").await
    else {
        return;
    };
    let schema = db.schema().await;
    let backend = std::sync::Arc::new(db.backend(&schema, 4).await);
    let first = vec![NewEvent::new(TestEvent::Numbered(0))];
    backend
        .append("contested", ExpectedVersion::NoStream, first)
        .await
        .expect("the first event");
    let reader = db.pool(&schema, 2).await;
    let mut writers = tokio::task::JoinSet::new();
    for w in 1..=64u64 {
        let (backend, reader) = (backend.clone(), reader.clone());
        writers.spawn(async move {
            // Odd writers race for version 2 of one stream, even ones each start their own.
            let (stream, expected) = if w % 2 == 1 {
                ("contested".to_owned(), ExpectedVersion::Exactly(1))
            } else {
                (format!("own-{w}"), ExpectedVersion::NoStream)
            };
            let events = vec![NewEvent::new(TestEvent::Numbered(w))];
            let appended = backend.append(&stream, expected, events).await;
            if let Ok(appended) = &appended {
                let (seen,): (i64,) =
                    sqlx::query_as("select count(*) from allframe_events where position = $1")
                        .bind(appended.last_position as i64)
                        .fetch_one(&reader)
                        .await
                        .expect("read through another connection");
                assert_eq!(seen, 1, "{stream}: acknowledged before its commit");
            }
            (w, appended)
        });
    }
    let mut won = Vec::new();
    while let Some(joined) = writers.join_next().await {
        let (w, appended) = joined.expect("writer");
        match (w % 2, appended) {
            (0, Ok(appended)) => assert_eq!(appended.version, 1, "own-{w}"),
            (1, Ok(appended)) => {
                assert_eq!(appended.version, 2, "contested");
                won.push(w);
            }
            (1, Err(StoreError::Conflict { stream, actual, .. })) => {
                assert_eq!((stream.as_str(), actual), ("contested", 2), "writer {w}");
            }
            (_, other) => panic!("writer {w}: {other:?}"),
        }
    }
    assert_eq!(won.len(), 1, "exactly one writer gets version 2: {won:?}");
    let positions: Vec<u64> = backend
        .read_all(0, 100)
        .await
        .expect("read")
        .iter()
        .map(|e| e.position)
        .collect();
    assert_eq!(
        positions,
        (1..=34).collect::<Vec<_>>(),
        "gapless: 1 + 32 + 1"
    );
    let stats = backend.group_commits();
    assert_eq!(stats.appends, 65, "{stats:?}");
    assert!(
        stats.batches < stats.appends,
        "64 appends at once share transactions: {stats:?}"
    );
}
