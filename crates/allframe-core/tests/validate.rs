//! `Valid<E>` over real TCP: a value that breaks its garde rules is answered 422 naming each
//! field and the handler does not run; the OpenAPI document states the same rules.

use std::sync::atomic::{AtomicUsize, Ordering};

use allframe_core::openapi::routing::{get, post};
use allframe_core::openapi::{Info, JsonSchema, schemars};
use allframe_core::validate::Valid;
use allframe_core::{Json, Path, Query, Router};
use allframe_test::TestServer;
use serde::Deserialize;
use serde_json::json;

static HANDLED: AtomicUsize = AtomicUsize::new(0);

#[derive(Deserialize, JsonSchema, garde::Validate)]
struct NewUser {
    #[garde(length(chars, min = 1, max = 5))]
    name: String,
    #[garde(range(min = 13, max = 130))]
    age: u8,
    #[garde(pattern(r"^[a-z]+$"))]
    handle: String,
}

#[derive(Deserialize, JsonSchema, garde::Validate)]
struct Page {
    #[garde(range(min = 1, max = 50))]
    limit: u32,
}

#[derive(Deserialize, JsonSchema, garde::Validate)]
struct Id {
    #[garde(length(min = 2, max = 8))]
    id: String,
}

async fn create(Valid(Json(user)): Valid<Json<NewUser>>) -> String {
    HANDLED.fetch_add(1, Ordering::SeqCst);
    user.name
}

async fn list(Valid(Query(page)): Valid<Query<Page>>, Valid(Path(id)): Valid<Path<Id>>) -> String {
    format!("{} {}", id.id, page.limit)
}

fn app() -> allframe_core::RouterService {
    Router::new()
        .route("/users", post(create))
        .route("/groups/{id}", get(list))
        .with_openapi(Info::new("validate", "1"))
        .into_service()
}

#[tokio::test]
async fn a_value_that_breaks_a_rule_is_refused_naming_each_field() {
    let server = TestServer::start(app()).await;
    let mut c = server.http1().await;
    let ok = c
        .post_json(
            "/users",
            &json!({"name": "Zoë", "age": 30, "handle": "zoe"}),
        )
        .await;
    assert_eq!((ok.status.as_u16(), ok.text()), (200, "Zoë"));
    let handled = HANDLED.load(Ordering::SeqCst);
    let bad = c
        .post_json("/users", &json!({"name": "", "age": 9, "handle": "Zoe!"}))
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.header("content-type"), Some("application/problem+json"));
    let errors = bad.json()["errors"].clone();
    for field in ["name", "age", "handle"] {
        assert!(errors[field][0].is_string(), "{field} not named: {errors}");
    }
    assert_eq!(
        HANDLED.load(Ordering::SeqCst),
        handled,
        "the handler did not run"
    );
    // What the inner extractor refuses is its own answer.
    let not_json = c.request(http::Method::POST, "/users", &[], "{}").await;
    assert_eq!(not_json.status, 415);
}

#[tokio::test]
async fn query_and_path_values_are_checked_too() {
    let server = TestServer::start(app()).await;
    let mut c = server.http1().await;
    assert_eq!(c.get("/groups/ab?limit=5").await.text(), "ab 5");
    let res = c.get("/groups/ab?limit=500").await;
    assert_eq!(res.status, 422);
    assert!(
        res.json()["errors"]["limit"][0].is_string(),
        "{}",
        res.text()
    );
    let res = c.get("/groups/a?limit=5").await;
    assert_eq!(res.status, 422);
    assert!(res.json()["errors"]["id"][0].is_string(), "{}", res.text());
    assert_eq!(
        c.get("/groups/ab?limit=x").await.status,
        400,
        "a query that does not parse"
    );
}

#[tokio::test]
async fn the_document_states_the_rules_the_extractor_enforces() {
    let server = TestServer::start(app()).await;
    let doc = server.get("/openapi.json").await.json();
    let user = &doc["components"]["schemas"]["NewUser"]["properties"];
    assert_eq!(
        (
            user["name"]["minLength"].clone(),
            user["name"]["maxLength"].clone()
        ),
        (json!(1), json!(5))
    );
    assert_eq!(
        (
            user["age"]["minimum"].clone(),
            user["age"]["maximum"].clone()
        ),
        (json!(13), json!(130))
    );
    assert_eq!(user["handle"]["pattern"], "^[a-z]+$");
    let responses = &doc["paths"]["/users"]["post"]["responses"];
    assert!(
        responses["422"]["description"]
            .as_str()
            .unwrap()
            .contains("breaks a rule"),
        "{responses}"
    );
    let params = doc["paths"]["/groups/{id}"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .clone();
    let limit = params.iter().find(|p| p["name"] == "limit").unwrap();
    assert_eq!(limit["schema"]["maximum"], 50);
    let id = params.iter().find(|p| p["name"] == "id").unwrap();
    assert_eq!(id["schema"]["minLength"], 2);
}
