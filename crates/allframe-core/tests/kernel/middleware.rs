use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use allframe_core::Router;
use allframe_core::http::StatusCode;
use allframe_core::middleware::{RequestId, RequestIdLayer, TimeoutLayer, TraceLayer};
use allframe_core::routing::get;
use allframe_test::TestServer;
use tower::{Layer, ServiceBuilder};

fn app() -> allframe_core::RouterService {
    Router::new()
        .route(
            "/id",
            get(|RequestId(id): RequestId| async move {
                id.map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default()
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "too late"
            }),
        )
        .into_service()
}

#[tokio::test]
async fn request_ids_are_generated_kept_and_echoed() {
    let server = TestServer::start(RequestIdLayer::new().layer(app())).await;
    let mut c = server.http1().await;
    let first = c.get("/id").await;
    let generated = first
        .header("x-request-id")
        .expect("an id is generated")
        .to_owned();
    assert_eq!(first.text(), generated, "the handler sees the same id");
    let second = c.get("/id").await;
    assert_ne!(
        second.header("x-request-id").unwrap(),
        generated,
        "ids are unique"
    );

    let res = c
        .request(http::Method::GET, "/id", &[("x-request-id", "abc-123")], "")
        .await;
    assert_eq!(res.header("x-request-id"), Some("abc-123"));
    assert_eq!(res.text(), "abc-123");
}

#[tokio::test]
async fn the_timeout_layer_answers_503_instead_of_waiting() {
    let app = TimeoutLayer::new(Duration::from_millis(100)).layer(app());
    let server = TestServer::start(app).await;
    let res = server.get("/slow").await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        res.json()["detail"]
            .as_str()
            .unwrap()
            .contains("took longer than 100ms")
    );
    assert_eq!(server.get("/id").await.status, StatusCode::OK);
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_trace_layer_records_a_span_and_the_status() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // A current-thread test: the server's tasks run on this thread, under this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = ServiceBuilder::new()
        .layer(RequestIdLayer::new())
        .layer(TraceLayer::new())
        .service(app());
    let server = TestServer::start(app).await;
    let res = server.get("/id?x=1").await;
    let id = res.header("x-request-id").unwrap().to_owned();
    drop(server);

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("response"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains("http.request"), "{line}");
    assert!(
        line.contains("method=GET") && line.contains("path=\"/id\""),
        "{line}"
    );
    assert!(line.contains(&format!("request_id=\"{id}\"")), "{line}");
    assert!(
        line.contains("status=200") && line.contains("latency_us="),
        "{line}"
    );
}

#[tokio::test]
async fn any_tower_layer_composes_and_poll_ready_is_honoured() {
    // ConcurrencyLimit panics if `call` comes without a successful `poll_ready`.
    let app = ServiceBuilder::new()
        .concurrency_limit(1)
        .map_response(|mut res: allframe_core::Response| {
            res.headers_mut().insert("x-mapped", "1".parse().unwrap());
            res
        })
        .service(app());
    let server = TestServer::start(app).await;
    let res = server.get("/id").await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("x-mapped"), Some("1"));
}
