//! The real binaries: the gateway alone (it starts the inventory itself), the gateway in
//! front of a slow inventory (deadlines), and in front of one that is killed and restarted
//! (the circuit breaker).

use std::time::Duration;

use allframe_test::{Client, PATIENCE, RunningBinary, TestServer};
use api_gateway::{Backend, Resilience};

const GATEWAY: &str = env!("CARGO_BIN_EXE_api-gateway");
const INVENTORY: &str = env!("CARGO_BIN_EXE_inventory");

#[tokio::test]
async fn the_gateway_alone_serves_and_stops_cleanly_on_sigterm() {
    let gateway = RunningBinary::start_with_env(GATEWAY, &[("INVENTORY_URL", "")]).await;
    let mut client = Client::http1(gateway.addr()).await;
    let items = client.get("/items").await;
    assert_eq!(items.status, 200, "{}", items.text());
    assert_eq!(items.json().as_array().map(Vec::len), Some(3));
    drop(client);
    assert!(
        gateway.terminate().await.success(),
        "a clean exit on SIGTERM"
    );
}

/// A backend slower than the call's deadline: the gateway answers 504, and the backend saw
/// the call with the client's request id.
#[tokio::test]
async fn a_slow_backend_is_cut_at_the_deadline_and_was_told_the_request_id() {
    let inventory =
        RunningBinary::start_with_env(INVENTORY, &[("INVENTORY_DELAY_MS", "5000")]).await;
    let url = format!("http://{}", inventory.addr());
    let gateway = RunningBinary::start_with_env(GATEWAY, &[("INVENTORY_URL", &url)]).await;
    let mut client = Client::http1(gateway.addr()).await;
    let res = client
        .request(
            http::Method::GET,
            "/items/apple",
            &[("x-request-id", "slow-call-1")],
            "",
        )
        .await;
    assert_eq!(res.status, 504, "{}", res.text());
    assert_eq!(res.header("content-type"), Some("application/problem+json"));
    assert_eq!(res.header("x-request-id"), Some("slow-call-1"));
    let deadline = std::time::Instant::now() + PATIENCE;
    while !inventory
        .output()
        .iter()
        .any(|line| line.contains("slow-call-1"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the inventory never logged the request id; its output:\n{}",
            inventory.output().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The backend killed: calls fail with 503 until the breaker opens and answers 503 without
/// calling; the backend back on its address, the breaker lets a call through and closes.
#[tokio::test]
async fn with_the_backend_killed_the_breaker_opens_and_closes_once_it_is_back() {
    let inventory = RunningBinary::start(INVENTORY).await;
    let addr = inventory.addr().to_string();
    let resilience = Resilience {
        open_for: Duration::from_millis(500),
        ..Resilience::default()
    };
    let backend = Backend::connect_lazy(&format!("http://{addr}"), resilience).expect("a URL");
    let gateway = TestServer::start(api_gateway::app(backend)).await;
    let mut client = gateway.http1().await;
    assert_eq!(client.get("/items/apple").await.status, 200);

    drop(inventory);
    let mut calls = 0;
    loop {
        calls += 1;
        let res = client.get("/items/apple").await;
        assert_eq!(res.status, 503, "{}", res.text());
        assert_eq!(res.header("content-type"), Some("application/problem+json"));
        if res.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("circuit open")
        {
            break;
        }
        assert!(
            calls < 20,
            "the breaker did not open after {calls} failed calls"
        );
    }

    let _inventory = RunningBinary::start_with_env(INVENTORY, &[("ALLFRAME_ADDR", &addr)]).await;
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let res = client.get("/items/apple").await;
        if res.status == 200 {
            break;
        }
        assert_eq!(res.status, 503, "{}", res.text());
        assert!(
            std::time::Instant::now() < deadline,
            "the breaker never closed again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
