//! A small blocking HTTP/1.1 client for the TechEmpower verifier and the demos gate: one connection per request, every read
//! and write bounded by [`TIMEOUT`], so a hung server becomes an error and never a hang.
//!
//! It reads the body the way the response frames it (`Content-Length`, chunked, or until the
//! connection closes) and reports, instead of hiding, a body that disagrees with its framing.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The longest a whole request may take.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(5);

/// How long to wait for stray bytes after the body when the server keeps the connection open.
const GRACE: Duration = Duration::from_millis(100);

/// A response far bigger than any TechEmpower answer is a broken server, not data to keep.
const MAX_RESPONSE: usize = 16 << 20;

/// A response as received.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    /// The body disagreed with its framing (`Content-Length` too small or too large).
    pub(crate) framing_problem: Option<String>,
}

impl Response {
    /// The first header called `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `GET target` (path and query) from `addr`.
pub(crate) fn get(addr: SocketAddr, target: &str) -> Result<Response> {
    send(addr, "GET", target, None)
}

/// `method target`, with a JSON `body` if given, on a connection of its own.
pub(crate) fn send(
    addr: SocketAddr,
    method: &str,
    target: &str,
    body: Option<&str>,
) -> Result<Response> {
    send_with_headers(addr, method, target, &[], body)
}

/// [`send`] with headers of the caller's.
pub(crate) fn send_with_headers(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<Response> {
    let deadline = Instant::now() + TIMEOUT;
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).context("connecting")?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let mut body_headers = body.map_or_else(String::new, |b| {
        format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        )
    });
    for (name, value) in headers {
        body_headers.push_str(&format!("{name}: {value}\r\n"));
    }
    // `Connection: close` lets the body's end be checked against the connection's end.
    let request = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nAccept: */*\r\n{body_headers}Connection: close\r\n\r\n{}",
        body.unwrap_or_default()
    );
    stream
        .write_all(request.as_bytes())
        .context("sending the request")?;
    let mut conn = Connection {
        stream,
        buf: Vec::new(),
        deadline,
    };
    conn.response()
}

/// The socket and what has been read from it so far.
struct Connection {
    stream: TcpStream,
    buf: Vec<u8>,
    deadline: Instant,
}

impl Connection {
    fn response(&mut self) -> Result<Response> {
        let (head_len, mut response) = self.head()?;
        let chunked = response
            .header("transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
        let length = response.header("content-length").map(str::trim);
        let end = if chunked {
            let (body, end) = self.chunked(head_len)?;
            response.body = body;
            end
        } else if let Some(length) = length {
            let length: usize = length
                .parse()
                .with_context(|| format!("Content-Length `{length}` is not a number"))?;
            let end = head_len + length;
            while self.buf.len() < end {
                if self.fill()? == 0 {
                    response.framing_problem = Some(format!(
                        "Content-Length is {length} but the connection closed after {} body bytes",
                        self.buf.len() - head_len
                    ));
                    break;
                }
            }
            let end = end.min(self.buf.len());
            response.body = self.buf[head_len..end].to_vec();
            end
        } else {
            // Neither header: the body runs to the connection's end (the caller reports the
            // missing header).
            while self.fill()? > 0 {}
            response.body = self.buf[head_len..].to_vec();
            return Ok(response);
        };
        let closing = response
            .header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"));
        self.drain(if closing { TIMEOUT } else { GRACE });
        if response.framing_problem.is_none() && self.buf.len() > end {
            let framing = if chunked {
                "the last chunk".to_owned()
            } else {
                format!("the {} bytes Content-Length announced", response.body.len())
            };
            response.framing_problem = Some(format!(
                "{} more bytes followed {framing}",
                self.buf.len() - end
            ));
        }
        Ok(response)
    }

    /// Reads up to the end of the headers: their length, and the response without its body.
    fn head(&mut self) -> Result<(usize, Response)> {
        loop {
            let mut slots = [httparse::EMPTY_HEADER; 64];
            let mut parsed = httparse::Response::new(&mut slots);
            if let httparse::Status::Complete(len) = parsed
                .parse(&self.buf)
                .context("parsing the response head")?
            {
                let headers = parsed
                    .headers
                    .iter()
                    .map(|h| {
                        let value = String::from_utf8_lossy(h.value).into_owned();
                        (h.name.to_owned(), value)
                    })
                    .collect();
                let response = Response {
                    status: parsed.code.unwrap_or(0),
                    headers,
                    body: Vec::new(),
                    framing_problem: None,
                };
                return Ok((len, response));
            }
            if self.fill()? == 0 {
                bail!(
                    "the connection closed after {} bytes, before the response headers ended",
                    self.buf.len()
                );
            }
        }
    }

    /// Decodes a chunked body starting at `pos`: the body and where its framing ends.
    fn chunked(&mut self, mut pos: usize) -> Result<(Vec<u8>, usize)> {
        let mut body = Vec::new();
        loop {
            let (consumed, size) = loop {
                match httparse::parse_chunk_size(&self.buf[pos..]) {
                    Ok(httparse::Status::Complete(found)) => break found,
                    Ok(httparse::Status::Partial) => self.fill_or_fail("a chunk size")?,
                    Err(_) => bail!("invalid chunk size line in a chunked body"),
                }
            };
            pos += consumed;
            if size == 0 {
                // Trailers, if any, end with an empty line.
                loop {
                    let Some(line) = self.buf[pos..].windows(2).position(|w| w == b"\r\n") else {
                        self.fill_or_fail("the chunked body's end")?;
                        continue;
                    };
                    pos += line + 2;
                    if line == 0 {
                        return Ok((body, pos));
                    }
                }
            }
            let size = usize::try_from(size).context("chunk too large")?;
            let end = pos + size + 2;
            while self.buf.len() < end {
                self.fill_or_fail("a chunk")?;
            }
            if &self.buf[end - 2..end] != b"\r\n" {
                bail!("a chunk of {size} bytes is not followed by CRLF");
            }
            body.extend_from_slice(&self.buf[pos..end - 2]);
            pos = end;
        }
    }

    fn fill_or_fail(&mut self, what: &str) -> Result<()> {
        if self.fill()? == 0 {
            bail!("the connection closed in the middle of {what}");
        }
        Ok(())
    }

    /// Reads once more; `Ok(0)` at the connection's end.
    fn fill(&mut self) -> Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!("no complete response within {} s", TIMEOUT.as_secs());
        }
        if self.buf.len() > MAX_RESPONSE {
            bail!("the response exceeds {} MiB", MAX_RESPONSE >> 20);
        }
        self.stream.set_read_timeout(Some(left))?;
        let mut chunk = [0; 8192];
        let n = match self.stream.read(&mut chunk) {
            Ok(n) => n,
            Err(err) if is_timeout(&err) => {
                bail!("no complete response within {} s", TIMEOUT.as_secs())
            }
            Err(err) => return Err(err).context("reading the response"),
        };
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads whatever else arrives within `wait` (bounded by the deadline), to see bytes the
    /// framing did not account for. Errors and timeouts just end it.
    fn drain(&mut self, wait: Duration) {
        self.deadline = self.deadline.min(Instant::now() + wait);
        while let Ok(n) = self.fill() {
            if n == 0 {
                break;
            }
        }
    }
}

fn is_timeout(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}
