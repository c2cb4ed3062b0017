//! The contract scenario: a client's visit over REST and GraphQL, error answers included.
//! `cargo xtask demos` runs it against the binary; the tests run it in their process.

use std::time::Instant;

use allframe_test::Contract;
use api_gateway::pb::GetItemRequest;
use api_gateway::pb::inventory_client::InventoryClient;
use http::Method;
use serde_json::{Value, json};

async fn graphql(c: &mut Contract, query: &str) -> Value {
    let body = json!({ "query": query });
    c.send(Method::POST, "/graphql", Some(&body), 200)
        .await
        .json()
}

fn code(reply: &Value) -> &str {
    reply["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {reply}"))
}

pub(crate) async fn run(c: &mut Contract) {
    let (get, post) = (Method::GET, Method::POST);
    c.send(get.clone(), "/health", None, 200).await;
    let document = c.send(get.clone(), "/openapi.json", None, 200).await.json();
    assert!(document["paths"]["/items/{sku}/reservations"]["post"].is_object());

    // Reads, each a call to the inventory over gRPC.
    let items = c.send(get.clone(), "/items", None, 200).await.json();
    let skus: Vec<_> = items
        .as_array()
        .expect("a list")
        .iter()
        .map(|i| &i["sku"])
        .collect();
    assert_eq!(skus, ["apple", "pear", "plum"]);
    let pear = c.send(get.clone(), "/items/pear", None, 200).await;
    assert!(
        pear.header("x-request-id").is_some(),
        "every answer has a request id"
    );
    assert_eq!(
        pear.json(),
        json!({"sku": "pear", "name": "Pear", "stock": 5})
    );

    // A reservation takes stock; the failures are problem+json with their status.
    let two = json!({"quantity": 2});
    let left = c
        .send(post.clone(), "/items/pear/reservations", Some(&two), 201)
        .await;
    assert_eq!(left.json()["stock"], 3);
    let missing = c.send(get.clone(), "/items/kiwi", None, 404).await;
    assert_eq!(
        missing.header("content-type"),
        Some("application/problem+json")
    );
    assert!(
        missing.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("kiwi")
    );
    c.send(get.clone(), "/items/Not%20a%20SKU", None, 422).await;
    let none = json!({"quantity": 0});
    c.send(post.clone(), "/items/pear/reservations", Some(&none), 422)
        .await;
    let many = json!({"quantity": 100});
    let refused = c
        .send(post.clone(), "/items/pear/reservations", Some(&many), 409)
        .await;
    assert!(
        refused.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("only 3")
    );
    let garbage = c
        .send_raw(
            post.clone(),
            "/items/pear/reservations",
            &[("content-type", "application/json")],
            "{",
            400,
        )
        .await;
    assert_eq!(
        garbage.header("content-type"),
        Some("application/problem+json")
    );

    // GraphQL: the same calls, the same failures as `extensions.code`.
    let reply = graphql(c, r#"{ item(sku: "apple") { name stock } items { sku } }"#).await;
    assert_eq!(
        reply["data"]["item"],
        json!({"name": "Apple", "stock": 10}),
        "{reply}"
    );
    assert_eq!(
        reply["data"]["items"].as_array().map(Vec::len),
        Some(3),
        "{reply}"
    );
    let reply = graphql(
        c,
        r#"mutation { reserve(sku: "apple", quantity: 4) { stock } }"#,
    )
    .await;
    assert_eq!(reply["data"]["reserve"]["stock"], 6, "{reply}");
    assert_eq!(
        code(&graphql(c, r#"{ item(sku: "kiwi") { name } }"#).await),
        "NOT_FOUND"
    );
    assert_eq!(
        code(&graphql(c, r#"{ item(sku: "Not a SKU") { name } }"#).await),
        "BAD_USER_INPUT"
    );
    let over = graphql(
        c,
        r#"mutation { reserve(sku: "plum", quantity: 1) { stock } }"#,
    )
    .await;
    assert_eq!(code(&over), "CONFLICT");
    // Nothing refused took stock.
    let pear = c.send(get.clone(), "/items/pear", None, 200).await.json();
    assert_eq!(pear["stock"], 3);

    overhead(c).await;
}

/// What the gateway adds: one read through it and straight to the inventory over gRPC, in
/// pairs (`cargo xtask demos` reports the probes).
async fn overhead(c: &mut Contract) {
    let health = c.send(Method::GET, "/health", None, 200).await.json();
    let url = health["inventory"]
        .as_str()
        .expect("the inventory's URL")
        .to_owned();
    let channel = tonic::transport::Channel::from_shared(url).expect("a URL");
    let mut direct = InventoryClient::new(channel.connect_lazy());
    let apple = || GetItemRequest {
        sku: "apple".into(),
    };
    direct
        .get_item(apple())
        .await
        .expect("the inventory answers");
    for _ in 0..100 {
        let started = Instant::now();
        direct
            .get_item(apple())
            .await
            .expect("the inventory answers");
        let grpc = started.elapsed();
        let started = Instant::now();
        c.send(Method::GET, "/items/apple", None, 200).await;
        let rest = started.elapsed();
        c.probe("grpc_direct", grpc);
        c.probe("rest_via_gateway", rest);
        c.probe("gateway_overhead", rest.saturating_sub(grpc));
    }
}
