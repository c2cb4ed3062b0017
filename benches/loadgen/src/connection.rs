//! One keep-alive connection: write a batch, read until all its responses are parsed, repeat;
//! on any failure count it and reconnect, until the measured window ends.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::time::Sleep;

use crate::parse::{Parsed, Parser};
use crate::report::{ErrorKind, Stats};

/// Bytes asked for per read: large, so a whole pipelined batch is parsed at once.
const READ_SIZE: usize = 64 * 1024;
/// Unparsed bytes a connection may hold between reads (a partial head, chunk-size line or
/// trailers); more means the server is not sending responses we can frame.
const MAX_PENDING: usize = 16 * 1024;
/// Pause after a failed reconnect, so a dead server is not hammered in a tight loop.
const RECONNECT_PAUSE: Duration = Duration::from_millis(10);

/// What every connection of a run shares (one thread: `Rc` and `RefCell`, no locks).
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) addr: SocketAddr,
    /// `pipeline` pre-encoded requests, written with one write.
    pub(crate) batch: Box<[u8]>,
    pub(crate) pipeline: u32,
    pub(crate) timeout: Duration,
    pub(crate) stats: RefCell<Stats>,
    /// The one read buffer: a read is parsed before the next await, so connections only keep
    /// their few unparsed bytes and thousands of connections cost no 64 KiB buffer each.
    scratch: RefCell<Box<[u8]>>,
}

impl Shared {
    pub(crate) fn new(
        addr: SocketAddr,
        batch: Vec<u8>,
        pipeline: u32,
        timeout: Duration,
        stats: Stats,
    ) -> Self {
        Self {
            addr,
            batch: batch.into_boxed_slice(),
            pipeline,
            timeout,
            stats: RefCell::new(stats),
            scratch: RefCell::new(vec![0; MAX_PENDING + READ_SIZE].into_boxed_slice()),
        }
    }

    fn record_error(&self, failure: &Failure) -> Instant {
        let now = Instant::now();
        self.stats
            .borrow_mut()
            .record_error(now, failure.kind, failure);
        now
    }
}

/// A counted connection failure and what happened, for the first-error diagnostic.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) kind: ErrorKind,
    detail: String,
}

impl Failure {
    pub(crate) fn new(kind: ErrorKind, detail: impl fmt::Display) -> Self {
        Self {
            kind,
            detail: detail.to_string(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

/// Opens one connection, failing after `timeout`.
pub(crate) async fn connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, Failure> {
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => {
            // Batches are written whole; never hold one back waiting for an ACK.
            stream
                .set_nodelay(true)
                .map_err(|e| Failure::new(ErrorKind::Connect, e))?;
            Ok(stream)
        }
        Ok(Err(e)) => Err(Failure::new(ErrorKind::Connect, e)),
        Err(_) => Err(Failure::new(
            ErrorKind::Connect,
            format!("timed out after {timeout:?}"),
        )),
    }
}

/// Drives one connection slot until the window ends, reconnecting after every failure.
pub(crate) async fn run(shared: Rc<Shared>, mut stream: Option<TcpStream>) {
    let end = shared.stats.borrow().window().end;
    loop {
        let open = match stream.take() {
            Some(open) => open,
            None => match connect(shared.addr, shared.timeout).await {
                Ok(open) => open,
                Err(failure) => {
                    if shared.record_error(&failure) >= end {
                        return;
                    }
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    continue;
                }
            },
        };
        match drive(&shared, &open, end).await {
            Ok(()) => return,
            Err(failure) => {
                if shared.record_error(&failure) >= end {
                    return;
                }
            }
        }
    }
}

/// Batches on one open connection until the window ends (`Ok`) or something fails.
async fn drive(shared: &Shared, stream: &TcpStream, end: Instant) -> Result<(), Failure> {
    let mut parser = Parser::default();
    let mut pending = Vec::new();
    // One timer per connection, re-armed only when it fires: checking "no progress for
    // `timeout`" then costs nothing per batch.
    let mut deadline = pin!(tokio::time::sleep(shared.timeout));
    loop {
        let sent = Instant::now();
        if sent >= end {
            return Ok(());
        }
        let mut progress = sent;
        write_all(
            stream,
            &shared.batch,
            &mut deadline,
            progress,
            shared.timeout,
        )
        .await?;
        let mut outstanding = shared.pipeline;
        while outstanding > 0 {
            let read = stream.readable();
            ready(
                read,
                &mut deadline,
                progress,
                shared.timeout,
                ErrorKind::Read,
            )
            .await?;
            let Some((now, bytes, parsed)) =
                read_and_parse(shared, stream, &mut parser, &mut pending)?
            else {
                continue;
            };
            progress = now;
            if parsed.responses > outstanding {
                return Err(Failure::new(
                    ErrorKind::Parse,
                    "more responses than requests sent",
                ));
            }
            outstanding -= parsed.responses;
            shared
                .stats
                .borrow_mut()
                .record_read(sent, now, bytes, &parsed);
        }
    }
}

/// Writes the whole batch, waiting for the socket only if it is full.
async fn write_all(
    stream: &TcpStream,
    batch: &[u8],
    deadline: &mut Pin<&mut Sleep>,
    progress: Instant,
    timeout: Duration,
) -> Result<(), Failure> {
    let mut written = 0;
    while written < batch.len() {
        match stream.try_write(&batch[written..]) {
            Ok(0) => return Err(Failure::new(ErrorKind::Write, "socket accepted no bytes")),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                ready(
                    stream.writable(),
                    deadline,
                    progress,
                    timeout,
                    ErrorKind::Write,
                )
                .await?;
            }
            Err(e) => return Err(Failure::new(ErrorKind::Write, e)),
        }
    }
    Ok(())
}

/// Waits for socket readiness, failing with a timeout once nothing has happened since
/// `progress` for `timeout`.
async fn ready(
    readiness: impl Future<Output = io::Result<()>>,
    deadline: &mut Pin<&mut Sleep>,
    progress: Instant,
    timeout: Duration,
    kind: ErrorKind,
) -> Result<(), Failure> {
    let mut readiness = pin!(readiness);
    loop {
        tokio::select! {
            biased;
            result = &mut readiness => return result.map_err(|e| Failure::new(kind, e)),
            () = deadline.as_mut() => {
                let due = progress + timeout;
                if Instant::now() >= due {
                    return Err(Failure::new(
                        ErrorKind::Timeout,
                        format!("no progress for {timeout:?}"),
                    ));
                }
                deadline.as_mut().reset(due.into());
            }
        }
    }
}

/// Reads once into the shared buffer behind the connection's unparsed bytes and parses.
///
/// `None` when the socket had nothing after all (readiness was stale).
fn read_and_parse(
    shared: &Shared,
    stream: &TcpStream,
    parser: &mut Parser,
    pending: &mut Vec<u8>,
) -> Result<Option<(Instant, usize, Parsed)>, Failure> {
    let mut scratch = shared.scratch.borrow_mut();
    let held = pending.len();
    scratch[..held].copy_from_slice(pending);
    let bytes = match stream.try_read(&mut scratch[held..]) {
        Ok(0) => {
            return Err(Failure::new(
                ErrorKind::Read,
                "connection closed by the server",
            ));
        }
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
        Err(e) => return Err(Failure::new(ErrorKind::Read, e)),
    };
    let now = Instant::now();
    let data = &scratch[..held + bytes];
    let parsed = parser
        .parse(data)
        .map_err(|e| Failure::new(ErrorKind::Parse, e))?;
    let rest = &data[parsed.consumed..];
    if rest.len() > MAX_PENDING {
        return Err(Failure::new(
            ErrorKind::Parse,
            format!("more than {MAX_PENDING} bytes of response head without an end"),
        ));
    }
    pending.clear();
    pending.extend_from_slice(rest);
    Ok(Some((now, bytes, parsed)))
}
