//! The shop's failure paths and limits, over real TCP: concurrent and repeated checkouts, a
//! payment provider that never answers, bad input, old events, restarts of the binary.

mod races;

use allframe::cqrs::{ExpectedVersion, Metadata, RawEvent, Storage};
use allframe_test::{Client, RunningBinary, TestServer};
use ecommerce_api::domain::{Order, OrderStatus, ShopEvent};
use http::Method;
use races::{available, cart_with};
use serde_json::{Value, json};

/// The shop on a fresh data directory (kept until the returned guard drops).
async fn shop() -> (TestServer, tempfile::TempDir) {
    let data = tempfile::tempdir().expect("a temporary directory");
    let app = ecommerce_api::app(&Storage::Directory(data.path().to_owned()))
        .await
        .expect("the shop opens");
    (
        TestServer::start_with(app, ecommerce_api::server_config()).await,
        data,
    )
}

#[tokio::test]
async fn of_two_concurrent_checkouts_of_one_cart_one_wins() {
    let (server, _data) = shop().await;
    races::concurrent_checkouts(server.addr()).await;
}

#[tokio::test]
async fn a_checkout_repeated_with_its_idempotency_key_answers_the_same() {
    let (server, _data) = shop().await;
    let mut c = server.http1().await;
    cart_with(&mut c, "mug", 10, "c1", 1).await;
    let body = br#"{"payment_token":"tok_visa"}"#.as_slice();
    let headers = [
        ("content-type", "application/json"),
        ("idempotency-key", "k-1"),
    ];
    let first = c
        .request(Method::POST, "/carts/c1/checkout", &headers, body)
        .await;
    let again = c
        .request(Method::POST, "/carts/c1/checkout", &headers, body)
        .await;
    assert_eq!(
        (first.status.as_u16(), again.status.as_u16()),
        (201, 201),
        "{}",
        again.text()
    );
    assert_eq!(first.json(), again.json());
    let other_key = [
        ("content-type", "application/json"),
        ("idempotency-key", "k-2"),
    ];
    assert_eq!(
        c.request(Method::POST, "/carts/c1/checkout", &other_key, body)
            .await
            .status,
        409
    );
    assert_eq!(available(&mut c, "mug").await, 9);
}

#[tokio::test]
async fn a_payment_that_times_out_is_compensated() {
    let (server, _data) = shop().await;
    let mut c = server.http1().await;
    cart_with(&mut c, "mug", 4, "c1", 4).await;
    let res = c
        .post_json("/carts/c1/checkout", &json!({"payment_token": "tok_slow"}))
        .await;
    assert_eq!(res.status, 402, "{}", res.text());
    assert!(
        res.json()["detail"].as_str().unwrap().contains("timed out"),
        "{}",
        res.text()
    );
    let order = c.get("/orders/c1").await.json();
    assert_eq!(order["status"], "cancelled");
    assert_eq!(
        available(&mut c, "mug").await,
        4,
        "the reservation was released"
    );
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let (server, _data) = shop().await;
    let mut c = server.http1().await;
    cart_with(&mut c, "mug", 5, "c1", 1).await;
    let json_type = [("content-type", "application/json")];
    let malformed = c
        .request(Method::POST, "/carts/c1/items", &json_type, "{\"sku\": ")
        .await;
    assert_eq!(malformed.status, 400);
    assert_eq!(
        malformed.header("content-type"),
        Some("application/problem+json")
    );
    let untyped = c
        .request(
            Method::POST,
            "/carts/c1/items",
            &[],
            r#"{"sku":"mug","quantity":1}"#,
        )
        .await;
    assert_eq!(untyped.status, 415);
    let wrong_shape = c
        .post_json("/carts/c1/items", &json!({"sku": "mug", "quantity": -1}))
        .await;
    assert_eq!(wrong_shape.status, 422);
    let too_many = c
        .post_json("/carts/c1/items", &json!({"sku": "mug", "quantity": 100}))
        .await;
    assert_eq!(too_many.status, 422);
    assert!(
        too_many.json()["errors"]["quantity"][0].is_string(),
        "{}",
        too_many.text()
    );
    let bad_id = c
        .post_json("/carts/c%201/items", &json!({"sku": "mug", "quantity": 1}))
        .await;
    assert_eq!(bad_id.status, 422, "{}", bad_id.text());
    let huge = format!(
        r#"{{"sku":"mug","quantity":1,"note":"{}"}}"#,
        "x".repeat(100 * 1024)
    );
    // The server closes a connection whose body it refused unread: a new one for the rest.
    assert_eq!(
        c.request(Method::POST, "/carts/c1/items", &json_type, huge)
            .await
            .status,
        413
    );
    let mut c = server.http1().await;
    let page = c.get("/products?limit=0").await;
    assert_eq!(page.status, 422);
    assert_eq!(
        c.request(Method::DELETE, "/carts/c1/items/tee", &[], "")
            .await
            .status,
        404
    );
    let cart = c.get("/carts/c1").await.json();
    assert_eq!(
        cart["lines"],
        json!([{"sku": "mug", "quantity": 1, "price_cents": 1000}])
    );
    assert_eq!(available(&mut c, "mug").await, 5);
}

#[tokio::test]
async fn the_document_states_what_the_handlers_refuse() {
    let (server, _data) = shop().await;
    let doc = server.get("/openapi.json").await.json();
    let item = &doc["components"]["schemas"]["CartItem"]["properties"];
    assert_eq!(
        (
            item["quantity"]["minimum"].clone(),
            item["quantity"]["maximum"].clone()
        ),
        (json!(1), json!(99))
    );
    assert_eq!(item["sku"]["maxLength"], 64);
    let product = &doc["components"]["schemas"]["NewProduct"]["properties"];
    assert_eq!(product["name"]["minLength"], 1);
    let add = &doc["paths"]["/carts/{cart_id}/items"]["post"];
    for status in ["400", "413", "415", "422"] {
        assert!(
            add["responses"][status].is_object(),
            "{status} undocumented: {add}"
        );
    }
    let limit = doc["paths"]["/products"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .cloned()
        .unwrap();
    assert_eq!(limit["schema"]["maximum"], 100);
}

/// Events written by the 2025 shop (`OrderPlaced` schema 1, dollars) read back as today's.
#[tokio::test]
async fn old_orders_fold_into_todays_aggregate() {
    let data = tempfile::tempdir().unwrap();
    let storage = Storage::Directory(data.path().to_owned());
    {
        let events = storage.open::<ShopEvent>("events").await.unwrap();
        let fixture: Vec<Value> =
            serde_json::from_str(include_str!("../fixtures/orders-v1.json")).unwrap();
        for event in fixture {
            let raw = RawEvent {
                event_type: event["event_type"].as_str().unwrap().to_owned(),
                schema_version: event["schema_version"].as_u64().unwrap() as u32,
                metadata: Metadata::default(),
                payload: event["payload"].clone(),
            };
            events
                .append_raw(
                    event["stream"].as_str().unwrap(),
                    ExpectedVersion::Any,
                    vec![raw],
                )
                .await
                .unwrap();
        }
        let orders = allframe::cqrs::Aggregates::<Order, _>::new(events);
        let (order, version) = orders.load("order-legacy-1").await.unwrap();
        assert_eq!(
            (order.status, order.total_cents, version),
            (OrderStatus::Shipped, 4500, 3)
        );
        assert_eq!(order.lines[0].price_cents, 1250);
    }
    let server = TestServer::start(ecommerce_api::app(&storage).await.unwrap()).await;
    let shipped = server.get("/orders/legacy-1").await.json();
    assert_eq!(
        (shipped["status"].clone(), shipped["total_cents"].clone()),
        (json!("shipped"), json!(4500))
    );
    let cancelled = server.get("/orders/legacy-2").await.json();
    assert_eq!(cancelled["total_cents"], 999);
    assert_eq!(cancelled["reason"], "customer asked");
}

/// The binary keeps its events in `ALLFRAME_DATA`, stops cleanly on SIGTERM and finds its
/// orders again when it starts over.
#[tokio::test]
async fn the_binary_keeps_its_orders_across_restarts() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let env = [("ALLFRAME_DATA", dir), ("DATABASE_URL", "")];
    let binary = RunningBinary::start_with_env(env!("CARGO_BIN_EXE_ecommerce-api"), &env).await;
    let mut c = Client::http1(binary.addr()).await;
    cart_with(&mut c, "mug", 3, "c1", 2).await;
    let res = c
        .post_json("/carts/c1/checkout", &json!({"payment_token": "tok_visa"}))
        .await;
    assert_eq!(res.status, 201);
    assert!(res.header("x-request-id").is_some());
    drop(c);
    assert!(
        binary.terminate().await.success(),
        "a clean exit on SIGTERM"
    );
    let binary = RunningBinary::start_with_env(env!("CARGO_BIN_EXE_ecommerce-api"), &env).await;
    let mut c = Client::http1(binary.addr()).await;
    assert_eq!(c.get("/orders/c1").await.json()["status"], "shipped");
    assert_eq!(available(&mut c, "mug").await, 1);
    let health = c.get("/health").await.json();
    assert!(
        health["storage"].as_str().unwrap().contains(dir),
        "{health}"
    );
}
