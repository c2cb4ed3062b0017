//! Graceful shutdown for connections the server no longer drives: an upgraded connection
//! (a WebSocket) leaves hyper, so its handler gets a [`Shutdown`] to hear of the shutdown
//! and to keep the server waiting while it closes.

use tokio::sync::watch;

/// The server's shutdown as an upgraded connection sees it. Every request that asks for an
/// upgrade carries one in its extensions (`req.extensions().get::<Shutdown>()`): keep it for
/// the connection's life. [`Shutdown::requested`] resolves when the server begins a graceful
/// shutdown (tell the peer, then close), and the server waits, up to its shutdown timeout,
/// until every `Shutdown` it handed out is dropped.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    pub(super) fn channel() -> (watch::Sender<bool>, Self) {
        let (begin, begun) = watch::channel(false);
        (begin, Self(begun))
    }

    /// Resolves once the server has begun shutting down (or is gone).
    pub async fn requested(&mut self) {
        let _ = self.0.wait_for(|begun| *begun).await;
    }

    /// Whether the server has begun shutting down.
    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }
}
