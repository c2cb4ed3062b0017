//! Who is online: a user is while one of their sockets is open. A socket holds an
//! [`Online`] for its life (the framework drops it when the socket closes or stops answering
//! pings); the last one dropped announces the user offline.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

/// A user coming online or going offline.
#[derive(Debug, Clone, PartialEq, Eq, async_graphql::SimpleObject)]
pub struct PresenceChange {
    pub username: String,
    pub online: bool,
}

#[derive(Debug)]
pub struct Presence {
    sockets: Mutex<HashMap<String, usize>>,
    changes: broadcast::Sender<PresenceChange>,
}

impl Default for Presence {
    fn default() -> Self {
        Self {
            sockets: Mutex::default(),
            changes: broadcast::channel(1024).0,
        }
    }
}

impl Presence {
    /// Counts a socket of `user` open until the guard is dropped.
    pub fn arrive(self: &Arc<Self>, user: &str) -> Online {
        if self.change(user, 1) {
            self.announce(user, true);
        }
        Online {
            user: user.to_owned(),
            presence: Arc::clone(self),
        }
    }

    /// Who is online now, by name, and the changes from this moment on.
    pub fn watch(&self) -> (Vec<String>, broadcast::Receiver<PresenceChange>) {
        let sockets = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        // Subscribed under the lock: no change falls between the list and the stream.
        let changes = self.changes.subscribe();
        let mut online: Vec<String> = sockets.keys().cloned().collect();
        online.sort();
        (online, changes)
    }

    /// Adds `by` to `user`'s open sockets; whether they came online or went offline.
    fn change(&self, user: &str, by: isize) -> bool {
        let mut sockets = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        let count = sockets.entry(user.to_owned()).or_default();
        let before = *count;
        *count = count.saturating_add_signed(by);
        let now = *count;
        if now == 0 {
            sockets.remove(user);
        }
        (before == 0) != (now == 0)
    }

    fn announce(&self, user: &str, online: bool) {
        // Nobody watching is fine.
        let _ = self.changes.send(PresenceChange {
            username: user.to_owned(),
            online,
        });
    }
}

/// One open socket of a user.
#[derive(Debug)]
pub struct Online {
    user: String,
    presence: Arc<Presence>,
}

impl Drop for Online {
    fn drop(&mut self) {
        if self.presence.change(&self.user, -1) {
            self.presence.announce(&self.user, false);
        }
    }
}
