//! gRPC and REST on one port: a `hello.v1.Greeter` service (unary `SayHello`, server
//! streaming `SayHelloStream`), the standard health and reflection services, and
//! `GET /hello/{name}`.
//!
//! Run with `cargo run -p grpc-example`, then:
//! ```text
//! grpcurl -plaintext -d '{"name":"Ada"}' localhost:3000 hello.v1.Greeter/SayHello
//! grpcurl -plaintext -d '{"name":"Ada","count":3}' localhost:3000 hello.v1.Greeter/SayHelloStream
//! grpcurl -plaintext localhost:3000 list
//! grpcurl -plaintext -d '{"service":"hello.v1.Greeter"}' localhost:3000 grpc.health.v1.Health/Check
//! curl localhost:3000/hello/Ada
//! ```

use allframe::grpc::{Grpc, Multiplexed};
use allframe::routing::get;
use allframe::{Path, Router, RouterService};
use tonic::{Request, Response, Status};

/// The code tonic-prost-build generated from `proto/greeter.proto` (see `build.rs`).
// Generated code: not ours to document or lint.
#[allow(unreachable_pub, missing_debug_implementations, clippy::all)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/hello.v1.rs"));

    /// The encoded `FileDescriptorSet` of `greeter.proto`, for the reflection service.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/greeter_descriptor.bin"));
}

use pb::greeter_server::{Greeter, GreeterServer};
use pb::{HelloReply, HelloRequest, HelloStreamRequest};

/// The most greetings one `SayHelloStream` call sends.
pub const MAX_GREETINGS: u32 = 100;

/// The Greeter service.
#[derive(Debug, Default)]
pub struct MyGreeter;

#[tonic::async_trait]
impl Greeter for MyGreeter {
    async fn say_hello(&self, req: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        let name = req.into_inner().name;
        if name.is_empty() {
            return Err(Status::invalid_argument("name is empty"));
        }
        Ok(Response::new(HelloReply {
            message: format!("Hello, {name}!"),
        }))
    }

    type SayHelloStreamStream = tokio_stream::Iter<std::vec::IntoIter<Result<HelloReply, Status>>>;

    async fn say_hello_stream(
        &self,
        req: Request<HelloStreamRequest>,
    ) -> Result<Response<Self::SayHelloStreamStream>, Status> {
        let HelloStreamRequest { name, count } = req.into_inner();
        if count > MAX_GREETINGS {
            return Err(Status::out_of_range(format!(
                "count is at most {MAX_GREETINGS}"
            )));
        }
        let replies: Vec<_> = (1..=count)
            .map(|i| {
                Ok(HelloReply {
                    message: format!("Hello #{i}, {name}!"),
                })
            })
            .collect();
        Ok(Response::new(tokio_stream::iter(replies)))
    }
}

async fn hello(Path(name): Path<String>) -> String {
    format!("Hello, {name}!")
}

/// The application: REST routes and gRPC services behind one service.
pub fn app() -> Multiplexed<RouterService> {
    let rest = Router::new()
        .route("/hello/{name}", get(hello))
        .into_service();
    Grpc::new()
        .add_service(GreeterServer::new(MyGreeter))
        .with_health()
        .with_reflection(pb::FILE_DESCRIPTOR_SET)
        .with_rest(rest)
}
