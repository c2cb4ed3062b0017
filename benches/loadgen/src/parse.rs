//! Incremental HTTP/1.1 response framing.
//!
//! The parser only finds where each response ends and what its status is: heads go through
//! `httparse`, bodies are skipped by length (never buffered), chunked bodies are walked chunk by
//! chunk. Its state survives between reads, so a response split anywhere across reads is
//! handled, and the caller only has to keep the bytes the parser did not consume (at most a
//! partial head, chunk-size line or trailer section).

use std::fmt;

use httparse::Status;

/// Headers a response may carry; more is a parse error (servers under test send a handful).
const MAX_HEADERS: usize = 64;

/// Where the parser is inside the current response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    /// Waiting for a complete status line and header section.
    #[default]
    Head,
    /// Skipping a `Content-Length` body: bytes left.
    Body(u64),
    /// Waiting for a complete chunk-size line.
    ChunkSize,
    /// Skipping chunk data: bytes left.
    ChunkData(u64),
    /// Waiting for the CRLF that ends chunk data.
    ChunkEnd,
    /// Waiting for the trailer section (possibly empty) that ends a chunked body.
    Trailers,
}

/// Frames responses on one connection; reset it (make a new one) when the connection is.
#[derive(Debug, Default)]
pub struct Parser {
    state: State,
    status: u16,
}

/// What one [`Parser::parse`] call found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    /// Bytes of the input that were used up; the rest must be passed again, followed by more.
    pub consumed: usize,
    /// Final (non-1xx) responses completed.
    pub responses: u32,
    /// How many of those had a status outside 200..=299.
    pub non_2xx: u32,
}

/// Why the byte stream is not a sequence of HTTP/1.1 responses the loader can frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The status line or headers are malformed (or there are too many headers).
    Head(httparse::Error),
    /// Neither `Content-Length` nor chunked `Transfer-Encoding`: the body would end only at
    /// close, which a keep-alive load test cannot use.
    NoLength,
    /// `Content-Length` is not a number, or two of them disagree.
    BadContentLength,
    /// A chunk-size line or the CRLF after chunk data is malformed.
    BadChunk,
    /// `101 Switching Protocols`: the connection stops being HTTP/1.1.
    Upgrade,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Head(e) => write!(f, "malformed response head: {e}"),
            Self::NoLength => {
                f.write_str("response has neither Content-Length nor chunked Transfer-Encoding")
            }
            Self::BadContentLength => f.write_str("invalid or conflicting Content-Length"),
            Self::BadChunk => f.write_str("malformed chunked body"),
            Self::Upgrade => f.write_str("unexpected 101 Switching Protocols"),
        }
    }
}

impl std::error::Error for ParseError {}

/// How the body of a response is delimited.
enum Framing {
    Empty,
    Length(u64),
    Chunked,
}

impl Parser {
    /// Consumes every complete piece of `buf`, counting the responses it completes.
    ///
    /// Bytes after `consumed` are an incomplete head, chunk-size line or trailer section: keep
    /// them and call again with more data appended.
    pub fn parse(&mut self, buf: &[u8]) -> Result<Parsed, ParseError> {
        let mut out = Parsed::default();
        // One header array per call, not per response: a read holds many pipelined responses.
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        loop {
            let rest = &buf[out.consumed..];
            match self.state {
                State::Head => {
                    let mut response = httparse::Response::new(&mut headers);
                    let len = match response.parse(rest).map_err(ParseError::Head)? {
                        Status::Complete(len) => len,
                        Status::Partial => return Ok(out),
                    };
                    // A complete parse always has a code.
                    let status = response.code.unwrap_or_default();
                    let framing = framing(status, response.headers)?;
                    out.consumed += len;
                    self.status = status;
                    match framing {
                        // Interim responses (100 Continue, 103 Early Hints) precede the real one.
                        Framing::Empty if status < 200 => {}
                        Framing::Empty | Framing::Length(0) => self.finish(&mut out),
                        Framing::Length(len) => self.state = State::Body(len),
                        Framing::Chunked => self.state = State::ChunkSize,
                    }
                }
                State::Body(left) | State::ChunkData(left) => {
                    if rest.is_empty() {
                        return Ok(out);
                    }
                    let take = left.min(rest.len() as u64);
                    // `take <= rest.len()`, so it fits in usize.
                    out.consumed += take as usize;
                    let left = left - take;
                    match (self.state, left) {
                        (State::Body(_), 0) => self.finish(&mut out),
                        (State::Body(_), _) => self.state = State::Body(left),
                        (_, 0) => self.state = State::ChunkEnd,
                        (_, _) => self.state = State::ChunkData(left),
                    }
                }
                State::ChunkSize => match httparse::parse_chunk_size(rest) {
                    Ok(Status::Complete((len, 0))) => {
                        out.consumed += len;
                        self.state = State::Trailers;
                    }
                    Ok(Status::Complete((len, size))) => {
                        out.consumed += len;
                        self.state = State::ChunkData(size);
                    }
                    Ok(Status::Partial) => return Ok(out),
                    Err(httparse::InvalidChunkSize) => return Err(ParseError::BadChunk),
                },
                State::ChunkEnd => match rest {
                    [b'\r', b'\n', ..] => {
                        out.consumed += 2;
                        self.state = State::ChunkSize;
                    }
                    [] | [b'\r'] => return Ok(out),
                    _ => return Err(ParseError::BadChunk),
                },
                State::Trailers => match httparse::parse_headers(rest, &mut headers) {
                    Ok(Status::Complete((len, _))) => {
                        out.consumed += len;
                        self.finish(&mut out);
                    }
                    Ok(Status::Partial) => return Ok(out),
                    Err(e) => return Err(ParseError::Head(e)),
                },
            }
        }
    }

    /// Whether the parser is between responses (nothing of the next one seen yet).
    pub fn is_idle(&self) -> bool {
        self.state == State::Head
    }

    fn finish(&mut self, out: &mut Parsed) {
        out.responses += 1;
        if !(200..=299).contains(&self.status) {
            out.non_2xx += 1;
        }
        self.state = State::Head;
    }
}

/// Reads the body framing from the status and headers (RFC 9112 section 6.3).
fn framing(status: u16, headers: &[httparse::Header<'_>]) -> Result<Framing, ParseError> {
    if status == 101 {
        return Err(ParseError::Upgrade);
    }
    if status < 200 || status == 204 || status == 304 {
        return Ok(Framing::Empty);
    }
    let mut length = None;
    let mut encoded = false;
    for header in headers {
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            // Only a final `chunked` coding delimits the body; anything else reads to close.
            let last = header
                .value
                .rsplit(|&b| b == b',')
                .next()
                .unwrap_or_default();
            encoded = true;
            if last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                return Ok(Framing::Chunked);
            }
        } else if header.name.eq_ignore_ascii_case("content-length") {
            let value = parse_length(header.value).ok_or(ParseError::BadContentLength)?;
            if length.is_some_and(|seen| seen != value) {
                return Err(ParseError::BadContentLength);
            }
            length = Some(value);
        }
    }
    match length {
        Some(len) if !encoded => Ok(Framing::Length(len)),
        _ => Err(ParseError::NoLength),
    }
}

fn parse_length(value: &[u8]) -> Option<u64> {
    let digits = value.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: &[u8] =
        b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!";
    const CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
        5;ext=1\r\nHello\r\n8\r\n, World!\r\n0\r\nX-Trailer: yes\r\n\r\n";

    /// Feeds `input` in pieces of `step` bytes, keeping unconsumed bytes as the caller does.
    fn feed(input: &[u8], step: usize) -> Result<(u32, u32, usize), ParseError> {
        let mut parser = Parser::default();
        let mut pending = Vec::new();
        let (mut responses, mut non_2xx) = (0, 0);
        for piece in input.chunks(step) {
            pending.extend_from_slice(piece);
            let parsed = parser.parse(&pending)?;
            pending.drain(..parsed.consumed);
            responses += parsed.responses;
            non_2xx += parsed.non_2xx;
        }
        Ok((responses, non_2xx, pending.len()))
    }

    #[test]
    fn pipelined_responses_parse_in_one_call() {
        let input = PLAIN.repeat(16);
        let parsed = Parser::default().parse(&input).unwrap();
        assert_eq!(
            parsed,
            Parsed {
                consumed: input.len(),
                responses: 16,
                non_2xx: 0
            }
        );
    }

    #[test]
    fn responses_split_at_every_byte_boundary() {
        let input = [PLAIN, CHUNKED, PLAIN, CHUNKED].concat();
        for step in 1..=input.len() {
            assert_eq!(feed(&input, step).unwrap(), (4, 0, 0), "step {step}");
        }
    }

    #[test]
    fn partial_head_is_left_unconsumed() {
        let mut parser = Parser::default();
        let input = [PLAIN, &PLAIN[..20]].concat();
        let parsed = parser.parse(&input).unwrap();
        assert_eq!(
            parsed,
            Parsed {
                consumed: PLAIN.len(),
                responses: 1,
                non_2xx: 0
            }
        );
        assert!(parser.is_idle());
    }

    #[test]
    fn partial_body_is_consumed_without_buffering() {
        let mut parser = Parser::default();
        let parsed = parser.parse(&PLAIN[..PLAIN.len() - 3]).unwrap();
        assert_eq!(parsed.consumed, PLAIN.len() - 3);
        assert_eq!(parsed.responses, 0);
        assert!(!parser.is_idle());
        let parsed = parser.parse(&PLAIN[PLAIN.len() - 3..]).unwrap();
        assert_eq!(
            parsed,
            Parsed {
                consumed: 3,
                responses: 1,
                non_2xx: 0
            }
        );
    }

    #[test]
    fn chunked_with_trailers_and_extensions() {
        let parsed = Parser::default().parse(CHUNKED).unwrap();
        assert_eq!(
            parsed,
            Parsed {
                consumed: CHUNKED.len(),
                responses: 1,
                non_2xx: 0
            }
        );
    }

    #[test]
    fn non_2xx_and_bodiless_statuses() {
        let input = [
            &b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 304 Not Modified\r\n\r\n",
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"HTTP/1.1 500 Oops\r\nContent-Length: 2\r\n\r\nno",
        ]
        .concat();
        let parsed = Parser::default().parse(&input).unwrap();
        // The 100 Continue is interim: not a response of its own.
        assert_eq!(
            parsed,
            Parsed {
                consumed: input.len(),
                responses: 4,
                non_2xx: 3
            }
        );
    }

    #[test]
    fn malformed_framing_is_an_error() {
        let cases: [(&[u8], ParseError); 5] = [
            (
                b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n",
                ParseError::NoLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 1\r\n\r\n",
                ParseError::NoLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
                ParseError::BadContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                ParseError::BadContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY",
                ParseError::BadChunk,
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(Parser::default().parse(input), Err(expected), "{input:?}");
        }
        assert!(matches!(
            Parser::default().parse(b"HTTP/1.1 2x0 OK\r\n\r\n"),
            Err(ParseError::Head(_))
        ));
    }

    #[test]
    fn chunked_wins_over_content_length() {
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n";
        let parsed = Parser::default().parse(input).unwrap();
        assert_eq!(
            parsed,
            Parsed {
                consumed: input.len(),
                responses: 1,
                non_2xx: 0
            }
        );
    }
}
