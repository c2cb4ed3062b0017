//! A bound on how long a read or write may go without progress (a body that stops arriving,
//! a client that stops reading), timed by one timer made the first time it is needed: most
//! reads and writes never wait.

use std::future::Future;
use std::pin::Pin;
use std::task::Context;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

#[derive(Debug)]
pub(crate) struct Stall {
    limit: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    /// Nothing has moved since the timer was set.
    stalled: bool,
}

impl Stall {
    pub(crate) const fn new(limit: Duration) -> Self {
        Self {
            limit,
            timer: None,
            stalled: false,
        }
    }

    pub(crate) const fn limit(&self) -> Duration {
        self.limit
    }

    /// Called when the operation could not go on: true once it has not gone on for the limit
    /// since its last progress. Until then `cx` is woken when the limit passes.
    pub(crate) fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.stalled {
            // A limit too large to add is no limit.
            let Some(deadline) = Instant::now().checked_add(self.limit) else {
                return false;
            };
            self.stalled = true;
            match &mut self.timer {
                Some(timer) => timer.as_mut().reset(deadline),
                None => self.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
        }
        self.timer
            .as_mut()
            .is_some_and(|timer| timer.as_mut().poll(cx).is_ready())
    }

    /// The operation went on: its next stall is timed afresh.
    pub(crate) fn progressed(&mut self) {
        self.stalled = false;
    }
}
