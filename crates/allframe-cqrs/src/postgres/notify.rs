//! Live subscriptions woken by PostgreSQL's `LISTEN`/`NOTIFY`, so that several processes on
//! one database hear each other's appends at once instead of at their next poll.
//!
//! Every batch of appends notifies [`CHANNEL`] in its transaction; PostgreSQL delivers it when
//! the batch commits, and only then (payload: the new head position and the schema). One
//! connection per backend, outside the application's pool and opened when a subscription
//! first waits, listens and wakes the backend's waiting subscriptions. When that connection
//! drops, the subscriptions poll again at the backend's poll interval until it is back, and
//! they are woken at each switch. A subscription always reads on from the last position it
//! delivered, so a notification lost in between delays an event but never loses or repeats
//! one.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::backend::Wakeup;

/// The channel every append notifies, in every schema (the payload names the schema).
pub(crate) const CHANNEL: &str = "allframe_events";

/// While notifications arrive, subscriptions still poll, this many times less often: a
/// safety net for a listening connection that died without its socket saying so.
const LISTENING_POLL_FACTOR: u32 = 50;

/// The wait before listening again after the connection dropped, doubled after each
/// failed attempt up to [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

/// What the listening connection has done, from [`crate::PostgresBackend::notifications`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NotificationStats {
    /// The connection is listening now (subscriptions poll rarely).
    pub listening: bool,
    /// Times it started listening: 1, plus one per reconnection.
    pub connections: u64,
    /// Notifications heard for this backend's schema.
    pub received: u64,
}

/// Whether `payload` came from an append in `schema`. A batch of appends sends
/// `"<position> <schema>"`, its last event's position and its schema (written by the
/// `allframe_append` function of `migrations/0003_append_function.sql`).
fn names_schema(payload: &str, schema: &str) -> bool {
    payload
        .split_once(' ')
        .is_some_and(|(_, named)| named == schema)
}

/// The listening side of one backend.
pub(crate) struct Listener {
    shared: Arc<Shared>,
    task: OnceLock<AbortHandle>,
}

/// What the listening task and the backend share.
struct Shared {
    schema: String,
    /// Those of the backend's pool, under a name of its own.
    options: PgConnectOptions,
    /// Bumped to wake every waiting subscription.
    woken: watch::Sender<u64>,
    listening: AtomicBool,
    connections: AtomicU64,
    received: AtomicU64,
}

impl Shared {
    fn wake(&self) {
        self.woken.send_modify(|n| *n = n.wrapping_add(1));
    }
}

impl Listener {
    /// A listener for appends in `schema`, connecting with `options` (those of the
    /// backend's pool) once a subscription first waits.
    pub(crate) fn new(options: PgConnectOptions, schema: String) -> Self {
        // Named, so an operator (or a test) can find the connection in pg_stat_activity.
        let options = options.application_name(&format!("allframe-listener {schema}"));
        Self {
            shared: Arc::new(Shared {
                schema,
                options,
                woken: watch::Sender::new(0),
                listening: AtomicBool::new(false),
                connections: AtomicU64::new(0),
                received: AtomicU64::new(0),
            }),
            task: OnceLock::new(),
        }
    }

    /// The next wake-up, starting to listen if nobody has yet.
    pub(crate) fn wakeup(&self) -> Wakeup {
        self.start();
        Wakeup::on(&self.shared.woken)
    }

    /// How long a waiting subscription sleeps before it reads again anyway.
    pub(crate) fn poll_interval(&self, interval: Duration) -> Duration {
        if self.shared.listening.load(Ordering::SeqCst) {
            interval.saturating_mul(LISTENING_POLL_FACTOR)
        } else {
            interval
        }
    }

    pub(crate) fn stats(&self) -> NotificationStats {
        NotificationStats {
            listening: self.shared.listening.load(Ordering::SeqCst),
            connections: self.shared.connections.load(Ordering::SeqCst),
            received: self.shared.received.load(Ordering::SeqCst),
        }
    }

    fn start(&self) {
        if self.task.get().is_some() {
            return;
        }
        // Outside a runtime nothing can listen: subscriptions keep polling.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let task = runtime
            .spawn(listen_for_ever(Arc::clone(&self.shared)))
            .abort_handle();
        // Two subscriptions may start at once: one task stays.
        if let Err(second) = self.task.set(task) {
            second.abort();
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(task) = self.task.get() {
            task.abort();
        }
    }
}

/// Listens, and after each lost connection wakes the subscriptions (to poll from then on)
/// and listens again, waiting longer after each attempt that failed.
async fn listen_for_ever(shared: Arc<Shared>) {
    // One connection, kept open as long as it lasts.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_lazy_with(shared.options.clone());
    let mut delay = FIRST_RETRY_DELAY;
    loop {
        let before = shared.connections.load(Ordering::SeqCst);
        // An error ends this connection like a drop does: the subscriptions poll meanwhile.
        if let Err(e) = listen(&shared, &pool).await {
            tracing::warn!(
                schema = %shared.schema,
                "PostgreSQL: listening for appends failed, subscriptions poll until it is back: {e}"
            );
        }
        shared.listening.store(false, Ordering::SeqCst);
        shared.wake();
        if shared.connections.load(Ordering::SeqCst) > before {
            delay = FIRST_RETRY_DELAY;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_RETRY_DELAY);
    }
}

/// Listens on one connection until it drops.
async fn listen(shared: &Shared, pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // A lost connection returns here, so the subscriptions poll while it is re-established.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    shared.connections.fetch_add(1, Ordering::SeqCst);
    shared.listening.store(true, Ordering::SeqCst);
    // Whatever was appended while nobody listened.
    shared.wake();
    while let Some(notification) = listener.try_recv().await? {
        if names_schema(notification.payload(), &shared.schema) {
            shared.received.fetch_add(1, Ordering::SeqCst);
            shared.wake();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_is_heard_only_in_its_own_schema() {
        let sent = "42 shop_orders";
        assert!(names_schema(sent, "shop_orders"), "{sent}");
        assert!(!names_schema(sent, "shop"), "{sent}");
        assert!(!names_schema(sent, "shop_orders_archive"), "{sent}");
        assert!(!names_schema("shop_orders", "shop_orders"), "no position");
    }
}
