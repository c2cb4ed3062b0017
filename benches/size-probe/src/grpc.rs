//! gRPC on the REST listener: a service with a unary and a server-streaming method, plus
//! the health and reflection services, so tonic's codecs, routes and the multiplexer are
//! linked and measured.

use allframe::grpc::{Grpc, Multiplexed};
use tonic::{Request, Response, Status};

/// The code tonic-prost-build generated from `proto/probe.proto` (see `build.rs`).
// Generated code: not ours to document or lint.
#[allow(unreachable_pub, missing_debug_implementations, clippy::all)]
mod pb {
    include!(concat!(env!("OUT_DIR"), "/probe.v1.rs"));

    pub(crate) const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/probe_descriptor.bin"));
}

use pb::echo_server::{Echo, EchoServer};
use pb::{RepeatRequest, Text};

/// The most messages one `Repeat` call sends.
const MAX_REPEAT: u32 = 100;

struct ProbeEcho;

#[tonic::async_trait]
impl Echo for ProbeEcho {
    async fn say(&self, req: Request<Text>) -> Result<Response<Text>, Status> {
        Ok(Response::new(req.into_inner()))
    }

    type RepeatStream = tokio_stream::Iter<std::iter::RepeatN<Result<Text, Status>>>;

    async fn repeat(
        &self,
        req: Request<RepeatRequest>,
    ) -> Result<Response<Self::RepeatStream>, Status> {
        let RepeatRequest { text, count } = req.into_inner();
        if count > MAX_REPEAT {
            return Err(Status::out_of_range(format!(
                "count is at most {MAX_REPEAT}"
            )));
        }
        let replies = std::iter::repeat_n(Ok(Text { text }), count as usize);
        Ok(Response::new(tokio_stream::iter(replies)))
    }
}

/// `rest` and the gRPC services behind one service, for one listener.
pub(crate) fn multiplex<R>(rest: R) -> Multiplexed<R> {
    Grpc::new()
        .add_service(EchoServer::new(ProbeEcho))
        .with_health()
        .with_reflection(pb::FILE_DESCRIPTOR_SET)
        .with_rest(rest)
}
