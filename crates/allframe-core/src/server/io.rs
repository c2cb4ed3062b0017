//! The connection's socket as lent to hyper, and handed back when hyper gives up on it.
//!
//! With `pipeline_flush`, hyper holds responses back while unparsed input is buffered, so
//! that responses to pipelined requests leave in one write. When the buffered input is a
//! malformed request, hyper queues its `400`/`431` behind that same rule and then drops
//! the connection: the client sees the connection close without an answer. So hyper gets
//! the socket through [`ConnectionIo`], which notes whether anything was written since the
//! last request bytes arrived and, when hyper drops it, hands the socket back to the
//! connection task, which then answers the malformed request itself.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// What hyper leaves behind when it drops the connection.
#[derive(Debug, Default)]
pub(super) struct Returned {
    stream: Mutex<Option<TcpStream>>,
    /// Something was written after the last bytes were read.
    answered: AtomicBool,
}

impl Returned {
    /// The socket, if hyper has dropped it, and whether the last input was answered.
    pub(super) fn take(&self) -> Option<(TcpStream, bool)> {
        let stream = self.stream.lock().ok()?.take()?;
        Some((stream, self.answered.load(Ordering::Relaxed)))
    }
}

/// A `TcpStream` that tracks whether its last input was answered and returns itself to
/// [`Returned`] when dropped.
#[derive(Debug)]
pub(super) struct ConnectionIo {
    stream: Option<TcpStream>,
    returned: Arc<Returned>,
}

impl ConnectionIo {
    pub(super) fn new(stream: TcpStream) -> (Self, Arc<Returned>) {
        let returned = Arc::new(Returned::default());
        (
            Self {
                stream: Some(stream),
                returned: Arc::clone(&returned),
            },
            returned,
        )
    }

    fn stream(&mut self) -> Pin<&mut TcpStream> {
        Pin::new(
            self.stream
                .as_mut()
                .expect("the stream is only taken on drop"),
        )
    }
}

impl Drop for ConnectionIo {
    fn drop(&mut self) {
        if let (Some(stream), Ok(mut slot)) = (self.stream.take(), self.returned.stream.lock()) {
            *slot = Some(stream);
        }
    }
}

impl AsyncRead for ConnectionIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = std::task::ready!(this.stream().poll_read(cx, buf));
        if buf.filled().len() > before {
            this.returned.answered.store(false, Ordering::Relaxed);
        }
        Poll::Ready(result)
    }
}

impl AsyncWrite for ConnectionIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = std::task::ready!(this.stream().poll_write(cx, buf))?;
        if written > 0 {
            this.returned.answered.store(true, Ordering::Relaxed);
        }
        Poll::Ready(Ok(written))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = std::task::ready!(this.stream().poll_write_vectored(cx, bufs))?;
        if written > 0 {
            this.returned.answered.store(true, Ordering::Relaxed);
        }
        Poll::Ready(Ok(written))
    }

    fn is_write_vectored(&self) -> bool {
        self.stream
            .as_ref()
            .is_some_and(AsyncWrite::is_write_vectored)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().stream().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.returned.answered.load(Ordering::Relaxed) {
            // Input is left unanswered: keep the write side open for the connection task,
            // which answers or closes once hyper drops the socket.
            return Poll::Ready(Ok(()));
        }
        this.stream().poll_shutdown(cx)
    }
}
