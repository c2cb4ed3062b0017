//! One failure, one meaning: for each thing that can go wrong, the gRPC status the
//! inventory answers, and the HTTP status (problem+json) and GraphQL `extensions.code` the
//! gateway answers, are the ones `Failure::codes` gives that failure.

use std::net::SocketAddr;

use allframe_test::{Client, TestServer};
use api_gateway::inventory::Stock;
use api_gateway::pb::inventory_client::InventoryClient;
use api_gateway::pb::{GetItemRequest, ReserveRequest};
use api_gateway::{Backend, Failure, Resilience};
use serde_json::{Value, json};
use tonic::transport::Channel;

/// Nothing listens on port 1 of the loopback: connections are refused at once.
const NOBODY: &str = "http://127.0.0.1:1";

async fn gateway_to(url: &str) -> TestServer {
    TestServer::start(api_gateway::app(
        Backend::connect_lazy(url, Resilience::default()).expect("a URL"),
    ))
    .await
}

/// The gateway's REST and GraphQL answers agree with `failure`'s codes.
async fn gateway_answers(
    gateway: SocketAddr,
    failure: &Failure,
    rest: (http::Method, &str, Option<Value>),
    graphql: &str,
) {
    let (_, status, code) = failure.codes();
    let mut client = Client::http1(gateway).await;
    let (method, path, body) = rest;
    let (headers, body) = match body {
        Some(body) => (vec![("content-type", "application/json")], body.to_string()),
        None => (vec![], String::new()),
    };
    let res = client.request(method, path, &headers, body).await;
    assert_eq!(res.status, status.as_u16(), "{path}: {}", res.text());
    assert_eq!(res.header("content-type"), Some("application/problem+json"));
    assert_eq!(res.json()["status"], status.as_u16(), "{}", res.text());
    let res = client
        .post_json("/graphql", &json!({ "query": graphql }))
        .await
        .json();
    assert_eq!(
        res["errors"][0]["extensions"]["code"], code,
        "{graphql}: {res}"
    );
}

#[tokio::test]
async fn each_failure_means_the_same_in_grpc_rest_and_graphql() {
    let url = api_gateway::start_inventory(Stock::seeded())
        .await
        .expect("the inventory starts");
    let mut inventory = InventoryClient::new(
        Channel::from_shared(url.clone())
            .expect("a URL")
            .connect_lazy(),
    );
    let gateway = gateway_to(&url).await;

    let not_found = Failure::NotFound(String::new());
    let status = inventory
        .get_item(GetItemRequest { sku: "kiwi".into() })
        .await
        .expect_err("no kiwi");
    assert_eq!(status.code(), not_found.codes().0, "{status}");
    let rest = (http::Method::GET, "/items/kiwi", None);
    gateway_answers(
        gateway.addr(),
        &not_found,
        rest,
        r#"{ item(sku: "kiwi") { sku } }"#,
    )
    .await;

    let invalid = Failure::InvalidArgument(String::new());
    let status = inventory
        .reserve(ReserveRequest {
            sku: "pear".into(),
            quantity: 0,
        })
        .await
        .expect_err("a quantity of 0");
    assert_eq!(status.code(), invalid.codes().0, "{status}");
    let rest = (
        http::Method::POST,
        "/items/pear/reservations",
        Some(json!({"quantity": 0})),
    );
    let graphql = r#"mutation { reserve(sku: "pear", quantity: 0) { stock } }"#;
    gateway_answers(gateway.addr(), &invalid, rest, graphql).await;

    let conflict = Failure::Conflict(String::new());
    let status = inventory
        .reserve(ReserveRequest {
            sku: "plum".into(),
            quantity: 1,
        })
        .await
        .expect_err("no plum left");
    assert_eq!(status.code(), conflict.codes().0, "{status}");
    let rest = (
        http::Method::POST,
        "/items/plum/reservations",
        Some(json!({"quantity": 1})),
    );
    let graphql = r#"mutation { reserve(sku: "plum", quantity: 1) { stock } }"#;
    gateway_answers(gateway.addr(), &conflict, rest, graphql).await;

    // Unavailable: a backend nobody serves.
    let unavailable = Failure::Unavailable(String::new());
    let mut nobody = InventoryClient::new(Channel::from_static(NOBODY).connect_lazy());
    let status = nobody
        .get_item(GetItemRequest { sku: "pear".into() })
        .await
        .expect_err("nobody answers");
    assert_eq!(status.code(), unavailable.codes().0, "{status}");
    let lost = gateway_to(NOBODY).await;
    let rest = (http::Method::GET, "/items/pear", None);
    gateway_answers(
        lost.addr(),
        &unavailable,
        rest,
        r#"{ item(sku: "pear") { sku } }"#,
    )
    .await;
}
