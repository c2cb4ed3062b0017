//! The PostgreSQL backend: events in one table, keyed by global position, with a unique
//! (stream, version) key for optimistic concurrency.
//!
//! # Positions commit in order
//!
//! A follower reads `read_all(after_position)` and moves on from the last position it saw,
//! so it must never see position `p + 1` committed while `p` is still in flight: when `p`
//! commits later it would be skipped forever. A sequence (`bigserial`) allows exactly that,
//! since it hands out numbers outside transactions. Here positions come from the single
//! row of `allframe_head` instead: each append adds its event count to it and keeps the
//! row locked until it commits. The next append waits on that lock, which PostgreSQL
//! releases only once the committing transaction is visible, so no later position can be
//! visible before an earlier one. The counter rolls back with a failed append, so positions
//! are also gapless. The price is that appends are serialized, one transaction at a time,
//! so a process commits its appends in batches, one commit for many: see [`commit`].
//!
//! The stream's version is read after the lock is taken: in PostgreSQL's default READ
//! COMMITTED isolation each statement sees everything committed before it, and no other
//! append can be in flight, so the version is exact and `ExpectedVersion::Any` never
//! races. The unique key stays as the last line of defence (a writer that bypasses this
//! code, say). An append sets READ COMMITTED itself, so a database whose default isolation
//! is stricter does not fail concurrent appends with serialization errors.
//!
//! # A stuck writer
//!
//! The head row is locked across round trips, so a writer that freezes mid-append (a
//! stopped process, a lost network) would stall every writer in every process. Each batch of
//! appends therefore sets, for its own transaction, a `lock_timeout` (a waiting writer gives up with
//! [`StoreError::Unavailable`]) and an `idle_in_transaction_session_timeout` (PostgreSQL
//! ends the session of a writer idle inside its append, releasing the lock), both
//! [`PostgresBackend::STUCK_WRITER_TIMEOUT`].
//!
//! # Other processes' appends
//!
//! Each batch of appends notifies the others as it commits: see [`notify`].

mod commit;
mod notify;

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

use crate::backend::{
    Appended, Backend, BackendStats, ExpectedVersion, Snapshot, StoreError, Wakeup, check_stream_id,
};
use crate::codec::{Serialized, decode, serialize, serialize_raw};
use crate::event::{Envelope, Event, Metadata, NewEvent};
use crate::upcast::{RawEvent, Upcasters};

use self::commit::GroupCommit;
pub use self::commit::GroupCommitStats;
use self::notify::Listener;
pub use self::notify::NotificationStats;

const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// See [`PostgresBackend::STUCK_WRITER_TIMEOUT`] (and the 5 s of `BEGIN_APPEND`).
const STUCK_WRITER_TIMEOUT: Duration = Duration::from_secs(5);

/// An append's transaction: its isolation, and its timeouts (see the module documentation),
/// in the one round trip of `BEGIN`.
const BEGIN_APPEND: &str = "begin isolation level read committed; \
                            set local lock_timeout = '5s'; \
                            set local idle_in_transaction_session_timeout = '5s'";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Events in PostgreSQL, in the tables of `migrations/` (created on first use, in the first
/// schema of the connections' `search_path`).
pub struct PostgresBackend<E> {
    pool: PgPool,
    upcasters: Upcasters,
    poll_interval: Duration,
    /// The schema the tables are in (`current_schema()`), named in each notification.
    schema: String,
    listener: Listener,
    group_commit: Arc<GroupCommit>,
    _events: PhantomData<fn() -> E>,
}

impl<E> fmt::Debug for PostgresBackend<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresBackend")
            .field("pool", &self.pool)
            .field("upcasters", &self.upcasters)
            .field("poll_interval", &self.poll_interval)
            .field("schema", &self.schema)
            .field("notifications", &self.listener.stats())
            .field("group_commits", &self.group_commit.stats())
            .finish()
    }
}

/// The columns a read selects, in this order.
type Stored = (i64, String, i64, String, i32, i64, Option<String>, String);
const COLUMNS: &str = "position, stream_id, version, event_type, schema_version, timestamp_ms, \
                       metadata::text, payload::text";

/// What a failed database call was doing.
fn failed(doing: impl fmt::Display) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| StoreError::Backend(format!("PostgreSQL: {doing}: {e}"))
}

/// `schema` quoted, once it is known to be a plain name PostgreSQL keeps whole: lowercase
/// ASCII letters, digits and `_`, at most 63 bytes. (Quoted, a reserved word is a name.)
fn quoted_schema(schema: &str) -> Result<String, StoreError> {
    let plain = !schema.is_empty()
        && !schema.starts_with(|c: char| c.is_ascii_digit())
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !plain {
        return Err(StoreError::Backend(format!(
            "`{schema}` is not a plain schema name (lowercase letters, digits, `_`)"
        )));
    }
    // PostgreSQL cuts longer identifiers silently: two names would share one schema.
    if schema.len() > 63 {
        return Err(StoreError::Backend(format!(
            "the schema name `{schema}` is {} bytes; PostgreSQL keeps only 63",
            schema.len()
        )));
    }
    Ok(format!("\"{schema}\""))
}

/// Drops `schema` and the store in it, if it exists (the name rules of
/// [`PostgresBackend::connect_in_schema`]).
pub(crate) async fn drop_schema(url: &str, schema: &str) -> Result<(), StoreError> {
    let quoted = quoted_schema(schema)?;
    let mut conn = PgConnection::connect(url)
        .await
        .map_err(failed("connecting"))?;
    sqlx::query(&format!("drop schema if exists {quoted} cascade"))
        .execute(&mut conn)
        .await
        .map_err(failed(format_args!("dropping schema `{schema}`")))?;
    conn.close().await.map_err(failed("closing"))
}

/// A `u64` bound for a `bigint` parameter (nothing stored is beyond `i64::MAX`).
fn bigint(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl<E: Event> PostgresBackend<E> {
    /// How long an append waits for the head row before it fails with
    /// [`StoreError::Unavailable`], and how long a writer may idle inside its append before
    /// PostgreSQL ends its session (5 s).
    pub const STUCK_WRITER_TIMEOUT: Duration = STUCK_WRITER_TIMEOUT;

    /// Connects to `url` with a default pool and creates the tables if needed.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .connect(url)
            .await
            .map_err(failed("connecting"))?;
        Self::new(pool).await
    }

    /// Connects to `url` with its tables in `schema` (created if missing), so several
    /// stores (tenants, test runs, benchmarks) can share one database. The name must be a
    /// plain identifier: lowercase ASCII letters, digits and `_`, at most 63 bytes (what
    /// PostgreSQL keeps of a name); a reserved word is quoted.
    pub async fn connect_in_schema(url: &str, schema: &str) -> Result<Self, StoreError> {
        let quoted = quoted_schema(schema)?;
        let options = PgConnectOptions::from_str(url)
            .map_err(failed("parsing the database URL"))?
            .options([("search_path", quoted.as_str())]);
        let pool = PgPoolOptions::new()
            .connect_with(options)
            .await
            .map_err(failed("connecting"))?;
        sqlx::query(&format!("create schema if not exists {quoted}"))
            .execute(&pool)
            .await
            .map_err(failed(format_args!("creating schema `{schema}`")))?;
        Self::new(pool).await
    }

    /// A backend on `pool`; creates the tables if needed.
    pub async fn new(pool: PgPool) -> Result<Self, StoreError> {
        MIGRATOR.run(&pool).await.map_err(|e| {
            StoreError::Backend(format!("PostgreSQL: migrating the event store: {e}"))
        })?;
        let (schema,): (String,) = sqlx::query_as("select current_schema()")
            .fetch_one(&pool)
            .await
            .map_err(failed("reading the current schema"))?;
        let listener = Listener::new((*pool.connect_options()).clone(), schema.clone());
        Ok(Self {
            pool,
            upcasters: E::upcasters(),
            poll_interval: DEFAULT_POLL_INTERVAL,
            schema,
            listener,
            group_commit: Arc::default(),
            _events: PhantomData,
        })
    }

    /// How often live subscriptions look for events other processes appended while no
    /// notification can reach them (100 ms by default; while the listening connection is
    /// up, 50 times less often, and appends through this backend wake them at once).
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// What the connection that listens for other processes' appends has done.
    pub fn notifications(&self) -> NotificationStats {
        self.listener.stats()
    }

    /// How the appends through this backend were batched into transactions.
    pub fn group_commits(&self) -> GroupCommitStats {
        self.group_commit.stats()
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Queues the append for the next batch (see [`commit`]).
    async fn append_rows(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        rows: Vec<Serialized>,
    ) -> Result<Appended, StoreError> {
        if rows.is_empty() {
            return Err(StoreError::EmptyAppend);
        }
        check_stream_id(stream)?;
        for (i, row) in rows.iter().enumerate() {
            schema_version(row.schema_version, stream, i)?;
        }
        self.group_commit
            .append(&self.pool, stream, expected, rows)
            .await
    }

    fn envelope(&self, stored: Stored) -> Result<Envelope<E>, StoreError> {
        let (
            position,
            stream_id,
            version,
            event_type,
            schema_version,
            timestamp_ms,
            metadata,
            payload,
        ) = stored;
        let undecodable = |why: String| {
            StoreError::Backend(format!(
                "stream `{stream_id}` version {version} (position {position}): {why}"
            ))
        };
        let metadata: Metadata = match metadata {
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| undecodable(format!("undecodable metadata: {e}")))?,
            None => Metadata::default(),
        };
        let schema_version = u32::try_from(schema_version)
            .map_err(|_| undecodable(format!("negative schema version {schema_version}")))?;
        let payload: E = decode(
            &self.upcasters,
            &event_type,
            schema_version,
            &metadata,
            payload.as_bytes(),
        )
        .map_err(undecodable)?;
        Ok(Envelope {
            stream_id: Arc::from(stream_id),
            version: version as u64,
            position: position as u64,
            event_type: payload.event_type(),
            schema_version,
            timestamp_ms: timestamp_ms as u64,
            metadata,
            payload,
        })
    }
}

impl<E: Event> Backend<E> for PostgresBackend<E> {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent<E>>,
    ) -> Result<Appended, StoreError> {
        let rows = serialize(stream, &events)?;
        self.append_rows(stream, expected, rows).await
    }

    /// Stored as given; upcast on read.
    async fn append_raw(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<RawEvent>,
    ) -> Result<Appended, StoreError> {
        let rows = serialize_raw(stream, events)?;
        self.append_rows(stream, expected, rows).await
    }

    async fn read_stream(
        &self,
        stream: &str,
        after_version: u64,
    ) -> Result<Vec<Envelope<E>>, StoreError> {
        let rows: Vec<Stored> = sqlx::query_as(&format!(
            "select {COLUMNS} from allframe_events \
             where stream_id = $1 and version > $2 order by version"
        ))
        .bind(stream)
        .bind(bigint(after_version))
        .fetch_all(&self.pool)
        .await
        .map_err(failed(format_args!("reading stream `{stream}`")))?;
        rows.into_iter().map(|row| self.envelope(row)).collect()
    }

    async fn read_all(
        &self,
        after_position: u64,
        limit: usize,
    ) -> Result<Vec<Envelope<E>>, StoreError> {
        let rows: Vec<Stored> = sqlx::query_as(&format!(
            "select {COLUMNS} from allframe_events \
             where position > $1 order by position limit $2"
        ))
        .bind(bigint(after_position))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(failed(format_args!(
            "reading all events after position {after_position}"
        )))?;
        rows.into_iter().map(|row| self.envelope(row)).collect()
    }

    async fn save_snapshot(&self, stream: &str, snapshot: Snapshot) -> Result<(), StoreError> {
        sqlx::query(
            "insert into allframe_snapshots (stream_id, version, data) values ($1, $2, $3) \
             on conflict (stream_id) do update set version = excluded.version, data = excluded.data",
        )
        .bind(stream)
        .bind(bigint(snapshot.version))
        .bind(snapshot.data)
        .execute(&self.pool)
        .await
        .map_err(failed(format_args!("saving the snapshot of `{stream}`")))?;
        Ok(())
    }

    async fn load_snapshot(&self, stream: &str) -> Result<Option<Snapshot>, StoreError> {
        let row: Option<(i64, Vec<u8>)> =
            sqlx::query_as("select version, data from allframe_snapshots where stream_id = $1")
                .bind(stream)
                .fetch_optional(&self.pool)
                .await
                .map_err(failed(format_args!("loading the snapshot of `{stream}`")))?;
        Ok(row.map(|(version, data)| Snapshot {
            version: version as u64,
            data,
        }))
    }

    /// A committed append is already durable.
    async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn poll_interval(&self) -> Option<Duration> {
        Some(self.listener.poll_interval(self.poll_interval))
    }

    fn appended_elsewhere(&self) -> Wakeup {
        self.listener.wakeup()
    }

    async fn stats(&self) -> Result<BackendStats, StoreError> {
        let (events, streams, head): (i64, i64, i64) = sqlx::query_as(
            "select count(*), count(distinct stream_id), \
                 (select position from allframe_head) \
             from allframe_events",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(failed("counting events"))?;
        Ok(BackendStats {
            events: events as u64,
            streams: streams as u64,
            head_position: head as u64,
        })
    }
}

/// Schema versions are stored as `integer`.
fn schema_version(version: u32, stream: &str, index: usize) -> Result<i32, StoreError> {
    i32::try_from(version).map_err(|_| {
        StoreError::Backend(format!(
            "event {index} for stream `{stream}`: schema version {version} is beyond PostgreSQL's integer"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The timeouts in the `BEGIN` text are the documented constant: a change to one
    /// without the other fails here.
    #[test]
    fn the_begin_of_an_append_uses_the_stuck_writer_timeout() {
        let seconds = format!("'{}s'", STUCK_WRITER_TIMEOUT.as_secs());
        assert_eq!(BEGIN_APPEND.matches(&seconds).count(), 2, "{BEGIN_APPEND}");
        assert_eq!(BEGIN_APPEND.matches("timeout").count(), 2, "{BEGIN_APPEND}");
    }
}
