use allframe_test::{Client, PATIENCE, RunningBinary, TestServer};
use grpc_example::pb::greeter_client::GreeterClient;
use grpc_example::pb::{HelloRequest, HelloStreamRequest};
use tonic::Code;
use tonic::transport::Channel;

async fn channel(addr: std::net::SocketAddr) -> Channel {
    let endpoint = Channel::from_shared(format!("http://{addr}")).expect("url");
    tokio::time::timeout(PATIENCE, endpoint.connect())
        .await
        .expect("connect in time")
        .expect("connect")
}

#[tokio::test]
async fn greets_over_grpc_and_rest_on_one_port() {
    let server = TestServer::start(grpc_example::app()).await;
    let mut greeter = GreeterClient::new(channel(server.addr()).await);

    let reply = greeter
        .say_hello(HelloRequest { name: "Ada".into() })
        .await
        .expect("SayHello");
    assert_eq!(reply.into_inner().message, "Hello, Ada!");
    let status = greeter
        .say_hello(HelloRequest::default())
        .await
        .expect_err("no name");
    assert_eq!(status.code(), Code::InvalidArgument);

    let mut stream = greeter
        .say_hello_stream(HelloStreamRequest {
            name: "Ada".into(),
            count: 3,
        })
        .await
        .expect("SayHelloStream")
        .into_inner();
    let mut messages = Vec::new();
    while let Some(reply) = stream.message().await.expect("stream item") {
        messages.push(reply.message);
    }
    assert_eq!(
        messages,
        ["Hello #1, Ada!", "Hello #2, Ada!", "Hello #3, Ada!"]
    );
    let status = greeter
        .say_hello_stream(HelloStreamRequest {
            name: "Ada".into(),
            count: grpc_example::MAX_GREETINGS + 1,
        })
        .await
        .expect_err("too many");
    assert_eq!(status.code(), Code::OutOfRange);

    let res = server.get("/hello/Grace").await;
    assert_eq!((res.status.as_u16(), res.text()), (200, "Hello, Grace!"));
}

#[tokio::test]
async fn health_and_reflection_describe_the_greeter() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let server = TestServer::start(grpc_example::app()).await;
    let channel = channel(server.addr()).await;

    let res = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: "hello.v1.Greeter".into(),
        })
        .await
        .expect("health check");
    assert_eq!(res.into_inner().status, ServingStatus::Serving as i32);

    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter([req]))
        .await
        .expect("reflection")
        .into_inner();
    let reply = replies.message().await.expect("reply").expect("one reply");
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
        panic!("not a service list: {reply:?}");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.contains(&"hello.v1.Greeter".to_owned()), "{names:?}");
    assert!(
        names.contains(&"grpc.health.v1.Health".to_owned()),
        "{names:?}"
    );
}

#[tokio::test]
async fn the_binary_serves_grpc_and_rest_on_allframe_addr() {
    let running = RunningBinary::start(env!("CARGO_BIN_EXE_grpc-example")).await;
    let addr = running.addr();
    let reply = GreeterClient::new(channel(addr).await)
        .say_hello(HelloRequest { name: "Ada".into() })
        .await
        .expect("SayHello");
    assert_eq!(reply.into_inner().message, "Hello, Ada!");
    let res = Client::http1(addr).await.get("/hello/Ada").await;
    assert_eq!(res.text(), "Hello, Ada!");
}
