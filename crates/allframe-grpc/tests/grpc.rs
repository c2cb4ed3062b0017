//! gRPC and REST on one real socket, called by real clients: tonic's over h2c, hyper's
//! HTTP/1.1 and HTTP/2 clients from allframe-test.

use std::time::Duration;

use allframe_core::routing::get;
use allframe_core::{Router, ServerConfig};
use allframe_grpc::{Grpc, ServingStatus};
use allframe_test::{PATIENCE, TestServer};
use bytes::Bytes;
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};

// Generated code carries lints of its own and no docs for everything.
#[allow(unreachable_pub, missing_debug_implementations, clippy::all)]
mod pb {
    include!("generated/echo.v1.rs");
    pub const DESCRIPTORS: &[u8] = include_bytes!("generated/echo.v1.bin");
}

use pb::echo_client::EchoClient;
use pb::echo_server::{Echo, EchoServer};
use pb::{CountRequest, EchoReply, EchoRequest};

#[derive(Debug, Default)]
struct EchoService;

#[tonic::async_trait]
impl Echo for EchoService {
    async fn say(&self, req: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        let text = req.into_inner().text;
        if text.is_empty() {
            return Err(Status::invalid_argument("text is empty"));
        }
        // A handler slower than any test's patience, for deadlines.
        if text == "wait" {
            tokio::time::sleep(PATIENCE * 2).await;
        }
        Ok(Response::new(EchoReply { text, index: 0 }))
    }

    type CountStream = tokio_stream::Iter<std::vec::IntoIter<Result<EchoReply, Status>>>;

    async fn count(
        &self,
        req: Request<CountRequest>,
    ) -> Result<Response<Self::CountStream>, Status> {
        let count = req.into_inner().count;
        let replies: Vec<_> = (1..=count)
            .map(|index| {
                Ok(EchoReply {
                    text: format!("message {index}"),
                    index,
                })
            })
            .collect();
        Ok(Response::new(tokio_stream::iter(replies)))
    }

    async fn total(
        &self,
        req: Request<tonic::Streaming<EchoRequest>>,
    ) -> Result<Response<EchoReply>, Status> {
        let mut messages = req.into_inner();
        let (mut count, mut len) = (0, 0);
        while let Some(message) = messages.message().await? {
            count += 1;
            len += message.text.len();
        }
        Ok(Response::new(EchoReply {
            text: len.to_string(),
            index: count,
        }))
    }

    async fn panic(&self, _: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        panic!("the echo handler panicked on purpose");
    }
}

/// REST `GET /rest` beside the Echo service, health and reflection.
fn app() -> allframe_grpc::Multiplexed<allframe_core::RouterService> {
    let rest = Router::new()
        .route("/rest", get(|| async { "REST" }))
        .into_service();
    Grpc::new()
        .add_service(EchoServer::new(EchoService))
        .with_health()
        .with_reflection(pb::DESCRIPTORS)
        .with_rest(rest)
}

async fn channel(server: &TestServer) -> Channel {
    let url = format!("http://{}", server.addr());
    tokio::time::timeout(PATIENCE, Channel::from_shared(url).expect("url").connect())
        .await
        .expect("connect in time")
        .expect("connect")
}

#[tokio::test]
async fn unary_and_server_streaming_calls_share_the_port_with_rest() {
    let server = TestServer::start(app()).await;
    let mut client = EchoClient::new(channel(&server).await);

    let reply = client
        .say(EchoRequest {
            text: "hello".into(),
        })
        .await
        .expect("Say");
    assert_eq!(reply.into_inner().text, "hello");

    // A handler's error status reaches the client (it travels in headers or trailers).
    let status = client
        .say(EchoRequest::default())
        .await
        .expect_err("empty text");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "text is empty");

    let mut stream = client
        .count(CountRequest { count: 3 })
        .await
        .expect("Count")
        .into_inner();
    let mut indices = Vec::new();
    while let Some(reply) = stream.message().await.expect("stream item") {
        assert_eq!(reply.text, format!("message {}", reply.index));
        indices.push(reply.index);
    }
    assert_eq!(indices, [1, 2, 3]);

    // REST over HTTP/1.1 on the same port, and over HTTP/2 too.
    let res = server.get("/rest").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "REST");
    let res = server.http2().await.get("/rest").await;
    assert_eq!((res.status.as_u16(), res.text()), (200, "REST"));
    // A REST miss stays a REST 404, not a gRPC answer.
    let res = server.get("/echo.v1.Echo/Say").await;
    assert_eq!(res.status, 404);
    assert_eq!(res.header("grpc-status"), None);
}

#[tokio::test]
async fn health_reports_serving_for_the_server_and_its_services() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    let server = TestServer::start(app()).await;
    let mut health = HealthClient::new(channel(&server).await);
    for service in ["", "echo.v1.Echo"] {
        let res = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|status| panic!("check {service:?}: {status}"));
        assert_eq!(
            res.into_inner().status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{service:?}"
        );
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "no.Such".into(),
        })
        .await
        .expect_err("an unknown service has no status");
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn the_health_reporter_changes_what_health_answers() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    let rest = Router::new().into_service();
    let grpc = Grpc::new()
        .with_health()
        .add_service(EchoServer::new(EchoService));
    let reporter = grpc.health_reporter().expect("health is on");
    let server = TestServer::start(grpc.with_rest(rest)).await;
    reporter
        .set_service_status("echo.v1.Echo", ServingStatus::NotServing)
        .await;
    let mut health = HealthClient::new(channel(&server).await);
    let res = health
        .check(HealthCheckRequest {
            service: "echo.v1.Echo".into(),
        })
        .await
        .expect("check");
    assert_eq!(
        res.into_inner().status,
        tonic_health::pb::health_check_response::ServingStatus::NotServing as i32
    );
}

#[tokio::test]
async fn reflection_lists_the_services_in_v1_and_v1alpha() {
    use tonic_reflection::pb::{v1, v1alpha};

    let server = TestServer::start(app()).await;
    let channel = channel(&server).await;
    let expected = [
        "echo.v1.Echo",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ];

    let mut client = v1::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let req = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut replies = client
        .server_reflection_info(tokio_stream::iter([req]))
        .await
        .expect("reflection v1")
        .into_inner();
    let reply = replies.message().await.expect("reply").expect("one reply");
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        reply.message_response
    else {
        panic!("not a service list: {reply:?}");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    for name in expected {
        assert!(
            names.iter().any(|n| n == name),
            "{name} missing from {names:?}"
        );
    }

    let mut client = v1alpha::server_reflection_client::ServerReflectionClient::new(channel);
    let req = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::FileContainingSymbol(
                "echo.v1.Echo".into(),
            ),
        ),
    };
    let mut replies = client
        .server_reflection_info(tokio_stream::iter([req]))
        .await
        .expect("reflection v1alpha")
        .into_inner();
    let reply = replies.message().await.expect("reply").expect("one reply");
    let Some(v1alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(files)) =
        reply.message_response
    else {
        panic!("not a file descriptor: {reply:?}");
    };
    assert_eq!(files.file_descriptor_proto.len(), 1);
}

#[tokio::test]
async fn unknown_services_and_methods_are_unimplemented() {
    let server = TestServer::start(app()).await;
    let mut grpc = tonic::client::Grpc::new(channel(&server).await);
    for path in ["/echo.v1.Echo/NoSuchMethod", "/no.such.v1.Service/Say"] {
        grpc.ready().await.expect("ready");
        let status = grpc
            .unary::<_, EchoReply, _>(
                Request::new(EchoRequest { text: "hi".into() }),
                http::uri::PathAndQuery::from_static(path),
                tonic_prost::ProstCodec::default(),
            )
            .await
            .expect_err("no such method");
        assert_eq!(status.code(), Code::Unimplemented, "{path}: {status}");
    }
    // The connection and the server still serve.
    let reply = EchoClient::new(channel(&server).await)
        .say(EchoRequest {
            text: "still here".into(),
        })
        .await
        .expect("Say after the misses");
    assert_eq!(reply.into_inner().text, "still here");
}

#[tokio::test]
async fn a_body_that_is_not_grpc_gets_a_grpc_error_and_the_server_keeps_serving() {
    let server = TestServer::start(app()).await;
    let mut h2 = server.http2().await;
    let res = h2
        .request(
            http::Method::POST,
            "/echo.v1.Echo/Say",
            &[("content-type", "application/grpc"), ("te", "trailers")],
            Bytes::from_static(b"this is not a length-prefixed gRPC message"),
        )
        .await;
    // gRPC answers 200 and puts its status in the (trailers-only) headers.
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some("application/grpc"));
    assert_eq!(
        res.header("grpc-status"),
        Some("13"),
        "INTERNAL: {:?}",
        res.headers
    );
    let message = res.header("grpc-message").unwrap_or_default();
    assert!(message.contains("compression"), "{message}");

    // The same HTTP/2 connection still serves REST, and a real client still gets answers.
    let res = h2.get("/rest").await;
    assert_eq!(res.text(), "REST");
    let reply = EchoClient::new(channel(&server).await)
        .say(EchoRequest {
            text: "after garbage".into(),
        })
        .await
        .expect("Say after a bad body");
    assert_eq!(reply.into_inner().text, "after garbage");
}

#[tokio::test]
async fn a_panicking_handler_is_internal_and_the_server_keeps_serving() {
    let server = TestServer::start(app()).await;
    let mut client = EchoClient::new(channel(&server).await);
    let status = client
        .panic(EchoRequest {
            text: "boom".into(),
        })
        .await
        .expect_err("the handler panics");
    assert_eq!(status.code(), Code::Internal, "{status}");
    assert!(status.message().contains("panicked"), "{status}");
    let reply = client
        .say(EchoRequest {
            text: "after the panic".into(),
        })
        .await
        .expect("Say on the same channel");
    assert_eq!(reply.into_inner().text, "after the panic");
}

#[tokio::test]
async fn the_body_limit_bounds_each_message_of_a_stream_not_the_whole_call() {
    let config = ServerConfig::default().body_limit(1024);
    let server = TestServer::start_with(app(), config).await;
    let mut client = EchoClient::new(channel(&server).await);
    // 64 KiB in all, in messages of 512 bytes each.
    let messages = (0..128).map(|_| EchoRequest {
        text: "x".repeat(512),
    });
    let reply = client
        .total(tokio_stream::iter(messages))
        .await
        .expect("a stream of small messages, larger than the limit in all")
        .into_inner();
    assert_eq!((reply.index, reply.text.as_str()), (128, "65536"));

    let one_too_large = [512, 4096, 512].map(|len| EchoRequest {
        text: "x".repeat(len),
    });
    let status = client
        .total(tokio_stream::iter(one_too_large))
        .await
        .expect_err("a stream with one message over the limit");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("limit of 1024 bytes"),
        "{status:?}"
    );
}

#[tokio::test]
async fn the_servers_body_limit_applies_to_grpc_calls() {
    let config = ServerConfig::default().body_limit(1024);
    let server = TestServer::start_with(app(), config).await;
    let mut client = EchoClient::new(channel(&server).await);
    let status = client
        .say(EchoRequest {
            text: "x".repeat(4096),
        })
        .await
        .expect_err("a message over the body limit");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("limit"), "{status:?}");
    let reply = client
        .say(EchoRequest {
            text: "x".repeat(512),
        })
        .await
        .expect("a message under the limit");
    assert_eq!(reply.into_inner().text.len(), 512);
}

#[tokio::test]
async fn the_server_stops_gracefully_with_a_grpc_channel_open() {
    let server = TestServer::start(app()).await;
    let mut client = EchoClient::new(channel(&server).await);
    client
        .say(EchoRequest { text: "hi".into() })
        .await
        .expect("Say");
    tokio::time::timeout(Duration::from_secs(5), server.stop())
        .await
        .expect("an idle gRPC connection does not hold the shutdown")
        .expect("server stops");
}

#[test]
#[should_panic(expected = "not an encoded FileDescriptorSet")]
fn reflection_refuses_what_is_not_a_descriptor_set() {
    let _ = Grpc::new().with_reflection(b"\xff\xff not protobuf");
}

/// A call's `grpc-timeout` bounds its handler on the server: past it the client is answered
/// `DEADLINE_EXCEEDED` (a raw HTTP/2 client, since tonic's own gives up on its side first),
/// and the server goes on serving.
#[tokio::test]
async fn a_call_past_its_grpc_timeout_is_answered_deadline_exceeded() {
    let server = TestServer::start(app()).await;
    let mut h2 = server.http2().await;
    // A length-prefixed, uncompressed EchoRequest { text: "wait" }.
    const MESSAGE: &[u8] = &[0, 0, 0, 0, 6, 0x0a, 4, b'w', b'a', b'i', b't'];
    let started = std::time::Instant::now();
    let res = tokio::time::timeout(
        PATIENCE,
        h2.request(
            http::Method::POST,
            "/echo.v1.Echo/Say",
            &[
                ("content-type", "application/grpc"),
                ("te", "trailers"),
                ("grpc-timeout", "200m"),
            ],
            Bytes::from_static(MESSAGE),
        ),
    )
    .await
    .expect("the server answers before the handler would");
    assert_eq!(res.status, 200);
    assert_eq!(res.header("grpc-status"), Some("4"), "{:?}", res.headers);
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "not before the deadline: {:?}",
        started.elapsed()
    );
    let reply = EchoClient::new(channel(&server).await)
        .say(EchoRequest {
            text: "after the deadline".into(),
        })
        .await
        .expect("Say after a deadline");
    assert_eq!(reply.into_inner().text, "after the deadline");
}
