use allframe_test::{Client, RunningBinary, TestServer};
use serde_json::json;

#[tokio::test]
async fn serves_json_plaintext_and_echo() {
    let server = TestServer::start(hello::app()).await;
    let mut c = server.http1().await;

    let res = c.get("/json").await;
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(res.json(), json!({"message": "Hello, World!"}));

    let res = c.get("/plaintext").await;
    assert_eq!(
        res.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(res.text(), "Hello, World!");

    let doc = json!({"nested": {"list": [1, 2.5, "three", null, true]}});
    assert_eq!(c.post_json("/echo", &doc).await.json(), doc);
}

#[tokio::test]
async fn echo_refuses_what_is_not_json() {
    let server = TestServer::start(hello::app()).await;
    let mut c = server.http1().await;
    let res = c
        .request(
            http::Method::POST,
            "/echo",
            &[("content-type", "application/json")],
            "{oops",
        )
        .await;
    assert_eq!(res.status, 400);
    let res = c.request(http::Method::POST, "/echo", &[], "{}").await;
    assert_eq!(res.status, 415);
}

#[tokio::test]
async fn documents_its_routes() {
    let server = TestServer::start(hello::app()).await;
    let doc = server.get("/openapi.json").await.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let message = &doc["paths"]["/json"]["get"]["responses"]["200"]["content"]["application/json"];
    assert_eq!(message["schema"]["$ref"], "#/components/schemas/Message");
    assert!(doc["paths"]["/plaintext"]["get"].is_object());
    assert!(doc["paths"]["/echo"]["post"]["requestBody"].is_object());
    let docs = server.get("/docs").await;
    assert!(docs.text().contains("@scalar/api-reference@"));
}

#[tokio::test]
async fn the_binary_listens_on_allframe_addr() {
    let running = RunningBinary::start(env!("CARGO_BIN_EXE_hello")).await;
    let addr = running.addr();
    let res = Client::http1(addr).await.get("/plaintext").await;
    assert_eq!(res.text(), "Hello, World!");
    assert_eq!(res.header("server"), Some("AllFrame"));
}
