//! One trace across the hop: the gateway and the inventory, each its own process exporting
//! over OTLP to a real receiver (the OpenTelemetry collector's gRPC trace service, served
//! here), give the request's spans one trace id, the inventory's span a child of the
//! gateway's client span, and that one a child of the gateway's server span.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use allframe::Router;
use allframe::grpc::Grpc;
use allframe_test::{Client, PATIENCE, RunningBinary, TestServer};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;

const GATEWAY: &str = env!("CARGO_BIN_EXE_api-gateway");
const INVENTORY: &str = env!("CARGO_BIN_EXE_inventory");

/// A span as the receiver got it.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    name: String,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent_span_id: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
struct Receiver(Arc<Mutex<Vec<Received>>>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut received = self.0.lock().expect("the spans");
        for resource_spans in req.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    Value::StringValue(name) => Some(name.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
                received.push(Received {
                    service: service.clone(),
                    name: span.name,
                    trace_id: span.trace_id,
                    span_id: span.span_id,
                    parent_span_id: span.parent_span_id,
                });
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tokio::test]
async fn a_request_through_the_gateway_is_one_trace_across_the_grpc_hop() {
    let receiver = Receiver::default();
    let collector = TestServer::start(
        Grpc::new()
            .add_service(TraceServiceServer::new(receiver.clone()))
            .with_rest(Router::new().into_service()),
    )
    .await;
    let endpoint = format!("http://{}", collector.addr());
    let otel = ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str());
    let inventory = RunningBinary::start_with_env(INVENTORY, &[otel]).await;
    let url = format!("http://{}", inventory.addr());
    let gateway = RunningBinary::start_with_env(GATEWAY, &[otel, ("INVENTORY_URL", &url)]).await;
    let res = Client::http1(gateway.addr())
        .await
        .get("/items/apple")
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    // Stopped, each flushes what it has left.
    assert!(gateway.terminate().await.success());
    assert!(inventory.terminate().await.success());

    let find = |service: &str, name: &str| {
        receiver
            .0
            .lock()
            .expect("the spans")
            .iter()
            .find(|s| s.service == service && s.name == name)
            .cloned()
    };
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let (server, client, backend) = loop {
        let spans = (
            find("api-gateway", "GET /items/apple"),
            find("api-gateway", "inventory.v1.Inventory/GetItem"),
            find("inventory", "inventory.v1.Inventory/GetItem"),
        );
        if let (Some(a), Some(b), Some(c)) = spans {
            break (a, b, c);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the receiver got {:#?}",
            receiver.0.lock().expect("the spans")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(server.trace_id.len(), 16);
    assert_eq!(
        client.trace_id, server.trace_id,
        "one trace: {client:?} {server:?}"
    );
    assert_eq!(
        backend.trace_id, server.trace_id,
        "one trace: {backend:?} {server:?}"
    );
    assert!(
        server.parent_span_id.is_empty(),
        "the request starts the trace: {server:?}"
    );
    assert_eq!(
        client.parent_span_id, server.span_id,
        "{client:?} under {server:?}"
    );
    assert_eq!(
        backend.parent_span_id, client.span_id,
        "{backend:?} under {client:?}"
    );
}
