//! The connection's socket as hyper sees it: responses to pipelined requests leave in one
//! write.
//!
//! hyper writes and flushes each response. When a client pipelines, the requests of one read
//! are all answered before the connection needs more input; [`ConnectionIo`] holds their
//! responses back and writes them together at the first flush after a read finds no more
//! input waiting (or at shutdown, or past [`HOLD_LIMIT`] bytes). Without it each pipelined answer is a
//! write of its own; `cargo xtask techempower --test plaintext` measures the result against
//! axum and raw hyper (16 requests per pipeline). hyper's own
//! `pipeline_flush` does the same but keys it on its read buffer being empty: a stray byte
//! after a request (a CRLF, half of the next request) then holds the response, unbounded,
//! and a malformed request's 400 is never sent. Here nothing is held past the flush that
//! follows a blocked read.
//!
//! Only HTTP/1.1 is held back: an HTTP/2 connection (known by its preface) and an upgraded
//! one (after a `101`) write straight through.
//!
//! The same socket bounds how long an HTTP/1.1 client may take to send a request head
//! (slowloris): when a read finds no input and every request read so far is answered, the
//! next head must arrive within the header timeout. hyper's own `header_read_timeout` does
//! this with a timer allocated and armed for every request; here it costs a clock read per
//! blocked read, and the one timer of the connection is re-armed only when it fires.
//!
//! It also bounds how long a write may find the socket full (a client that stops reading),
//! on every protocol, and holds the connection's permit (see
//! [`ServerConfig::max_connections`](super::ServerConfig::max_connections)) until the socket
//! closes, after an upgrade too.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};

use super::Shared;
use super::conn::Protocol;
use crate::stall::Stall;

/// Most response bytes held back at once; past it they are written through.
pub(super) const HOLD_LIMIT: usize = 64 * 1024;

/// The client preface of HTTP/2.
pub(super) const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The bytes read to tell the protocol, handed to hyper before the socket's.
#[derive(Debug, Default)]
pub(super) struct First {
    bytes: [u8; H2_PREFACE.len()],
    len: usize,
    /// How many of them hyper has read.
    taken: usize,
}

impl First {
    pub(super) fn unfilled(&mut self) -> &mut [u8] {
        &mut self.bytes[self.len..]
    }

    pub(super) fn filled(&mut self, n: usize) {
        self.len += n;
    }

    pub(super) fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The waits on a client a connection's socket bounds.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timeouts {
    /// For a request head.
    pub(super) header: Duration,
    /// For the client to read any of an answer.
    pub(super) write: Duration,
}

/// A `TcpStream` that holds HTTP/1.1 responses back until the flush after a read finds no
/// input, and bounds how long a client may take to send a request head.
#[derive(Debug)]
pub(super) struct ConnectionIo {
    stream: TcpStream,
    first: First,
    held: Vec<u8>,
    sent: usize,
    /// The last read found no input waiting (or the end of input).
    read_blocked: bool,
    /// HTTP/1.1 responses are held back; HTTP/2 and upgraded connections write through.
    hold: bool,
    /// Its `upgraded` is set by the connection's service when it answers `101`; its request
    /// counters tell whether the connection waits for a request head.
    shared: Arc<Shared>,
    header_timeout: Duration,
    /// The current wait for a head: its deadline, and the requests started when it began.
    head_wait: Option<(Instant, u64)>,
    /// Fires no later than the deadline of `head_wait` (created on the first wait).
    timer: Option<Pin<Box<Sleep>>>,
    /// The last write to the socket found it full: the client is reading an answer slowly.
    write_blocked: bool,
    /// How long writes have found the socket full.
    write_stall: Stall,
    _permit: OwnedSemaphorePermit,
}

impl ConnectionIo {
    pub(super) fn new(
        stream: TcpStream,
        first: First,
        shared: Arc<Shared>,
        protocol: Protocol,
        timeouts: Timeouts,
        permit: OwnedSemaphorePermit,
    ) -> Self {
        Self {
            stream,
            first,
            held: Vec::new(),
            sent: 0,
            read_blocked: false,
            hold: protocol == Protocol::Http1,
            shared,
            header_timeout: timeouts.header,
            head_wait: None,
            timer: None,
            write_blocked: false,
            write_stall: Stall::new(timeouts.write),
            _permit: permit,
        }
    }

    /// Writes to the socket; an error once writes have found it full for the write timeout.
    fn poll_write_socket(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        poll_write_socket(
            &mut self.stream,
            &mut self.write_stall,
            &mut self.write_blocked,
            cx,
            buf,
        )
    }

    /// Called when a read found no input: true once the client has taken longer than the
    /// header timeout to send the next request head. A request still being answered is
    /// not a wait for a head (its handler may take its time).
    fn head_timed_out(&mut self, cx: &mut Context<'_>) -> bool {
        let started = self.shared.started.load(Ordering::Relaxed);
        if !self.answered_all() || self.write_blocked || !self.held.is_empty() {
            // Still answering (a handler, a stream, a slow reader): not a wait for a head.
            self.head_wait = None;
            return false;
        }
        let now = Instant::now();
        let deadline = match self.head_wait {
            Some((deadline, since)) if since == started => deadline,
            _ => {
                // A timeout too large to add is no timeout.
                let Some(deadline) = now.checked_add(self.header_timeout) else {
                    return false;
                };
                self.head_wait = Some((deadline, started));
                deadline
            }
        };
        if now >= deadline {
            return true;
        }
        // Deadlines only move later, so a timer set for an earlier one is left alone: it
        // fires early, and is re-armed then.
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.as_mut().poll(cx).is_ready() {
            timer.as_mut().reset(deadline);
            // Registers the waker for the new deadline.
            let _ = timer.as_mut().poll(cx);
        }
        false
    }

    /// Every request read so far is answered, its body written out.
    fn answered_all(&self) -> bool {
        self.shared.started.load(Ordering::Relaxed) == self.shared.answered.load(Ordering::Relaxed)
    }

    fn holds_back(&mut self) -> bool {
        if self.hold && self.shared.upgraded.load(Ordering::Relaxed) {
            self.hold = false;
        }
        self.hold
    }

    /// Writes everything held back.
    fn poll_send_held(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.held.len() {
            let written = poll_write_socket(
                &mut self.stream,
                &mut self.write_stall,
                &mut self.write_blocked,
                cx,
                &self.held[self.sent..],
            );
            let n = ready!(written)?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.held.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

fn poll_write_socket(
    stream: &mut TcpStream,
    stall: &mut Stall,
    blocked: &mut bool,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<io::Result<usize>> {
    let written = Pin::new(stream).poll_write(cx, buf);
    *blocked = written.is_pending();
    if written.is_pending() {
        if stall.expired(cx) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client read none of its answer for the write timeout",
            )));
        }
    } else {
        stall.progressed();
    }
    written
}

impl AsyncRead for ConnectionIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let first = &mut this.first;
        if first.taken < first.len {
            let n = buf.remaining().min(first.len - first.taken);
            buf.put_slice(&first.bytes[first.taken..first.taken + n]);
            first.taken += n;
            this.read_blocked = false;
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Pending => {
                // No more input for now: what is held back goes out at the flush hyper's
                // dispatcher makes after every read attempt, together with any answer this
                // same turn still writes (hyper answers at most 16 requests per turn, so a
                // pipeline of 16 leaves one answer for the turn that finds no input).
                this.read_blocked = true;
                if this.holds_back() && this.head_timed_out(cx) {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client took longer than the header timeout to send a request head",
                    )));
                }
                Poll::Pending
            }
            Poll::Ready(result) => {
                this.read_blocked = buf.filled().len() == before;
                Poll::Ready(result)
            }
        }
    }
}

impl AsyncWrite for ConnectionIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !this.holds_back() || this.held.len() + buf.len() > HOLD_LIMIT {
            ready!(this.poll_send_held(cx))?;
            if !this.holds_back() || buf.len() > HOLD_LIMIT {
                return this.poll_write_socket(cx, buf);
            }
        }
        this.held.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.holds_back() && !this.read_blocked && this.answered_all() {
            // More requests may be waiting in this read: their responses join these. (A
            // streamed answer still being written goes out chunk by chunk.)
            return Poll::Ready(Ok(()));
        }
        ready!(this.poll_send_held(cx))?;
        if this.holds_back() {
            // The answers are out and hyper waits for input without reading again until woken:
            // the timer of the wait for the next head must be running now. (The read that
            // finds it expired returns the error.)
            let _ = this.head_timed_out(cx);
        }
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send_held(cx))?;
        Pin::new(&mut this.stream).poll_shutdown(cx)
    }
}

impl Drop for ConnectionIo {
    fn drop(&mut self) {
        // hyper drops a connection it gave up on (a malformed request) right after queueing
        // its 400: send what is held without waiting, so that answer is not lost.
        if self.sent < self.held.len() {
            let _ = self.stream.try_write(&self.held[self.sent..]);
        }
    }
}
