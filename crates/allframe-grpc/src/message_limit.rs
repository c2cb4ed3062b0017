//! The server's body limit applied to each message of a gRPC call rather than to the call:
//! a stream may carry any number of messages, each at most the limit.
//!
//! A gRPC body is a sequence of length-prefixed messages (a compressed flag, a 4-byte
//! big-endian length, the message); only the prefixes are read here, the bytes pass on
//! untouched to tonic, which decodes them (and applies its own
//! `max_decoding_message_size`, 4 MiB by default, to the decoded message).

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use allframe_core::Body;
use allframe_core::body::BoxError;
use bytes::Bytes;
use http_body::Frame;

const PREFIX: usize = 5;

/// A gRPC request body whose messages are each at most `limit` bytes.
#[derive(Debug)]
pub(crate) struct MessageLimit {
    body: Body,
    limit: usize,
    /// The prefix being read, and how many of its bytes have arrived.
    prefix: [u8; PREFIX],
    prefix_read: usize,
    /// Bytes of the current message still to come.
    in_message: usize,
}

impl MessageLimit {
    /// Lifts `body`'s own limit (the call's total) and bounds its messages by it instead.
    pub(crate) fn new(mut body: Body) -> Self {
        let limit = body.limit().unwrap_or(usize::MAX);
        body.set_limit(usize::MAX);
        // A stream may rest between messages for as long as the call lasts: its deadline
        // (`grpc-timeout`) bounds it, and HTTP/2 pings find a client that vanished.
        body.set_read_timeout(Duration::MAX);
        Self {
            body,
            limit,
            prefix: [0; PREFIX],
            prefix_read: 0,
            in_message: 0,
        }
    }

    /// Follows the message boundaries through `data`; an error for a message over the limit.
    fn check(&mut self, mut data: &[u8]) -> Result<(), tonic::Status> {
        while !data.is_empty() {
            if self.in_message > 0 {
                let n = self.in_message.min(data.len());
                self.in_message -= n;
                data = &data[n..];
                continue;
            }
            let n = (PREFIX - self.prefix_read).min(data.len());
            self.prefix[self.prefix_read..self.prefix_read + n].copy_from_slice(&data[..n]);
            self.prefix_read += n;
            data = &data[n..];
            if self.prefix_read == PREFIX {
                self.prefix_read = 0;
                let [flag, len @ ..] = self.prefix;
                let len = u32::from_be_bytes(len) as usize;
                // A flag other than 0 or 1 is not gRPC: tonic answers it (INTERNAL), and
                // nothing after it is read.
                if flag > 1 {
                    self.in_message = usize::MAX;
                } else if len > self.limit {
                    return Err(tonic::Status::resource_exhausted(format!(
                        "a message of {len} bytes is larger than the limit of {} bytes",
                        self.limit
                    )));
                } else {
                    self.in_message = len;
                }
            }
        }
        Ok(())
    }
}

impl http_body::Body for MessageLimit {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.body).poll_frame(cx));
        if let Some(Ok(frame)) = &frame
            && let Some(data) = frame.data_ref()
            && let Err(status) = this.check(data)
        {
            return Poll::Ready(Some(Err(Box::new(status))));
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limited(limit: usize) -> MessageLimit {
        MessageLimit {
            body: Body::empty(),
            limit,
            prefix: [0; PREFIX],
            prefix_read: 0,
            in_message: 0,
        }
    }

    fn message(len: u32) -> Vec<u8> {
        let mut bytes = vec![0];
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.resize(PREFIX + len as usize, b'x');
        bytes
    }

    #[test]
    fn boundaries_are_followed_across_any_split_of_the_bytes() {
        let stream: Vec<u8> = [10, 0, 16, 3].into_iter().flat_map(message).collect();
        for chunk in 1..stream.len() {
            let mut limit = limited(16);
            for piece in stream.chunks(chunk) {
                limit
                    .check(piece)
                    .expect("every message is within the limit");
            }
            assert_eq!((limit.prefix_read, limit.in_message), (0, 0));
        }
        let over: Vec<u8> = [10, 17].into_iter().flat_map(message).collect();
        for chunk in 1..over.len() {
            let mut limit = limited(16);
            let failed = over
                .chunks(chunk)
                .find_map(|piece| limit.check(piece).err());
            let status = failed.expect("the second message is over the limit");
            assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        }
    }
}
