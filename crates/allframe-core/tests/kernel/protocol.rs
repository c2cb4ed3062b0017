use std::time::Duration;

use allframe_core::http::{StatusCode, Version};
use allframe_core::routing::{get, post};
use allframe_core::{Json, Router};
use allframe_test::TestServer;
use serde_json::Value;

fn app() -> allframe_core::RouterService {
    Router::new()
        .route("/plaintext", get(|| async { "Hello, World!" }))
        .route(
            "/n/{n}",
            get(|allframe_core::Path(n): allframe_core::Path<u32>| async move { n.to_string() }),
        )
        .route("/echo", post(|Json(v): Json<Value>| async move { Json(v) }))
        .into_service()
}

#[tokio::test]
async fn http2_prior_knowledge_is_served_on_the_same_listener() {
    let server = TestServer::start(app()).await;
    let mut h2 = server.http2().await;
    let res = h2.get("/plaintext").await;
    assert_eq!(res.version, Version::HTTP_2);
    assert_eq!(res.text(), "Hello, World!");
    let echoed = h2
        .post_json("/echo", &serde_json::json!({"a": [1, 2]}))
        .await;
    assert_eq!(echoed.json(), serde_json::json!({"a": [1, 2]}));
    assert_eq!(h2.get("/n/5").await.text(), "5");
    // And HTTP/1.1 still works next to it.
    let h1 = server.get("/plaintext").await;
    assert_eq!(h1.version, Version::HTTP_11);
    assert_eq!(h1.text(), "Hello, World!");
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let server = TestServer::start(app()).await;
    let mut raw = server.raw().await;
    let mut batch = Vec::new();
    for n in 0..16 {
        batch.extend_from_slice(format!("GET /n/{n} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    }
    raw.write(&batch).await;
    for n in 0..16 {
        let res = raw.read_response().await.expect("a response per request");
        assert_eq!(res.status, 200);
        assert_eq!(String::from_utf8(res.body).unwrap(), n.to_string());
    }
}

/// Responses are held back only while more input is waiting: a stray CRLF, half of the next
/// request or a malformed one behind a good one must not hold (or lose) an answer.
#[tokio::test]
async fn trailing_bytes_never_hold_a_response_back() {
    let server = TestServer::start(app()).await;
    let prompt = Duration::from_secs(3);

    let mut raw = server.raw().await;
    raw.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}\r\n").await;
    let res = raw.read_response_within(prompt).await.expect("answered");
    assert_eq!((res.status, res.body.as_slice()), (200, &b"{}"[..]));

    let mut raw = server.raw().await;
    raw.write(b"GET /n/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /n/")
        .await;
    let res = raw.read_response_within(prompt).await.expect("answered");
    assert_eq!(res.body, b"1");
    raw.write(b"2 HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(
        raw.read_response_within(prompt)
            .await
            .expect("answered")
            .body,
        b"2"
    );

    let mut raw = server.raw().await;
    raw.write(b"GET /n/3 HTTP/1.1\r\nHost: x\r\n\r\nNOT HTTP\r\n\r\n")
        .await;
    assert_eq!(
        raw.read_response_within(prompt)
            .await
            .expect("the good one")
            .status,
        200
    );
    assert_eq!(
        raw.read_response_within(prompt)
            .await
            .expect("the bad one")
            .status,
        400
    );
}

#[tokio::test]
async fn every_response_has_server_and_date_headers() {
    let server = TestServer::start(app()).await;
    for res in [
        server.get("/plaintext").await,
        server.get("/missing").await,
        server.http2().await.get("/plaintext").await,
    ] {
        assert_eq!(res.header("server"), Some("AllFrame"), "{:?}", res.status);
        let date = res.header("date").expect("a Date header");
        assert!(
            date.ends_with(" GMT") && date.len() == 29,
            "an IMF-fixdate: {date}"
        );
    }
}

#[tokio::test]
async fn the_date_header_changes_from_one_second_to_the_next() {
    let server = TestServer::start(app()).await;
    let mut c = server.http1().await;
    let first = c.get("/plaintext").await.header("date").unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = c.get("/plaintext").await.header("date").unwrap().to_owned();
    assert_ne!(first, second);
}

#[tokio::test]
async fn keep_alive_serves_many_requests_on_one_connection() {
    let server = TestServer::start(app()).await;
    let mut c = server.http1().await;
    for n in 0..50 {
        assert_eq!(c.get(&format!("/n/{n}")).await.text(), n.to_string());
    }
}

#[tokio::test]
async fn graceful_shutdown_finishes_the_request_in_flight() {
    let (entered_tx, entered_rx) = tokio::sync::oneshot::channel::<()>();
    let entered = std::sync::Arc::new(std::sync::Mutex::new(Some(entered_tx)));
    let app = Router::new()
        .route(
            "/slow",
            get(move || {
                let entered = entered.clone();
                async move {
                    if let Some(tx) = entered.lock().unwrap().take() {
                        let _ = tx.send(());
                    }
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    "finished"
                }
            }),
        )
        .into_service();
    let server = TestServer::start(app).await;
    let addr = server.addr();
    let request =
        tokio::spawn(async move { allframe_test::Client::http1(addr).await.get("/slow").await });
    entered_rx.await.unwrap();
    server.stop().await.expect("server stops cleanly");
    let res = request.await.unwrap();
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.text(), "finished");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
}

#[tokio::test]
async fn a_request_outliving_the_shutdown_timeout_is_cut_off() {
    let app = Router::new()
        .route(
            "/forever",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                "never"
            }),
        )
        .into_service();
    let config =
        allframe_core::ServerConfig::default().shutdown_timeout(Duration::from_millis(200));
    let server = TestServer::start_with(app, config).await;
    let mut raw = server.raw().await;
    raw.write(b"GET /forever HTTP/1.1\r\nHost: x\r\n\r\n").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    server
        .stop()
        .await
        .expect("the server returns once the timeout has passed");
    assert!(
        raw.closed_within(Duration::from_secs(5)).await,
        "the connection was closed"
    );
}
