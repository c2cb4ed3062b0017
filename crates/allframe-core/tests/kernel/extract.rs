use std::collections::HashMap;

use allframe_core::extract::{Page, Pagination, State};
use allframe_core::http::{HeaderMap, Method, StatusCode, Uri};
use allframe_core::routing::{get, post};
use allframe_core::{FromRef, Json, Path, Query, Router};
use allframe_test::TestServer;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Deserialize)]
struct Paging {
    page: u32,
    per_page: Option<u32>,
}

#[derive(Deserialize, Serialize)]
struct NewUser {
    name: String,
    age: u8,
}

#[derive(Deserialize)]
struct PostPath {
    user: String,
    post: u32,
}

#[derive(Clone)]
struct AppState {
    name: &'static str,
    counter: Counter,
}

#[derive(Clone)]
struct Counter(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl FromRef<AppState> for Counter {
    fn from_ref(state: &AppState) -> Self {
        state.counter.clone()
    }
}

async fn query(Query(p): Query<Paging>) -> String {
    format!("page {} per {}", p.page, p.per_page.unwrap_or(10))
}

async fn paged(page: Pagination<50>) -> Json<Page<u32>> {
    Json(page.page(1..=120))
}

async fn raw_query(Query(q): Query<HashMap<String, String>>) -> String {
    let mut pairs: Vec<_> = q.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.sort();
    pairs.join("&")
}

async fn create(Json(user): Json<NewUser>) -> (StatusCode, Json<NewUser>) {
    (StatusCode::CREATED, Json(user))
}

async fn struct_path(Path(p): Path<PostPath>) -> String {
    format!("{}#{}", p.user, p.post)
}

async fn headers(headers: HeaderMap, method: Method, uri: Uri) -> String {
    let agent = headers
        .get("x-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none");
    format!("{method} {uri} {agent}")
}

async fn bytes(body: Bytes) -> String {
    format!("{} bytes", body.len())
}

async fn string(body: String) -> String {
    body.to_uppercase()
}

async fn whole_state(State(state): State<AppState>) -> &'static str {
    state.name
}

async fn part_of_state(State(counter): State<Counter>) -> String {
    let n = counter.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
    n.to_string()
}

fn app() -> allframe_core::RouterService<AppState> {
    Router::new()
        .route("/query", get(query))
        .route("/raw-query", get(raw_query))
        .route("/paged", get(paged))
        .route("/users", post(create))
        .route("/users/{user}/posts/{post}", get(struct_path))
        .route("/headers", get(headers))
        .route("/bytes", post(bytes))
        .route("/string", post(string))
        .route("/state", get(whole_state))
        .route("/count", get(part_of_state))
        .with_state(AppState {
            name: "allframe",
            counter: Counter(Default::default()),
        })
}

#[tokio::test]
async fn query_strings_deserialize_or_answer_400() {
    let server = TestServer::start(app()).await;
    let mut c = server.http1().await;
    assert_eq!(
        c.get("/query?page=2&per_page=50").await.text(),
        "page 2 per 50"
    );
    assert_eq!(c.get("/query?page=3").await.text(), "page 3 per 10");
    assert_eq!(c.get("/raw-query?b=2&a=x%20y").await.text(), "a=x y&b=2");
    for bad in ["/query", "/query?page=two"] {
        let res = c.get(bad).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(
            res.json()["detail"]
                .as_str()
                .unwrap()
                .contains("invalid query string")
        );
    }
}

#[tokio::test]
async fn path_params_deserialize_into_structs_and_reject_bad_values() {
    let server = TestServer::start(app()).await;
    let mut c = server.http1().await;
    assert_eq!(c.get("/users/ann%20lee/posts/7").await.text(), "ann lee#7");
    let res = c.get("/users/ann/posts/seven").await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    let detail = res.json()["detail"].as_str().unwrap().to_owned();
    assert!(
        detail.contains("`post` is `seven`, which is not a valid u32"),
        "{detail}"
    );
    let res = c.get("/users/%FF/posts/1").await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.text().contains("not valid UTF-8"));
}

#[tokio::test]
async fn pagination_defaults_bounds_and_counts() {
    let server = TestServer::start(app()).await;
    let mut c = server.http1().await;
    let first = c.get("/paged?other=x").await.json();
    assert_eq!(
        (first["total"].clone(), first["limit"].clone()),
        (json!(120), json!(20))
    );
    assert_eq!(first["items"][0], 1);
    let last = c.get("/paged?offset=110&limit=50").await.json();
    assert_eq!(last["items"], json!((111..=120).collect::<Vec<_>>()));
    let over = c.get("/paged?limit=51").await;
    assert_eq!(over.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        over.json()["errors"]["limit"][0],
        "must be between 1 and 50"
    );
    assert_eq!(
        c.get("/paged?limit=0").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        c.get("/paged?offset=-1").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn json_bodies_round_trip() {
    let server = TestServer::start(app()).await;
    let mut c = server.http1().await;
    let res = c
        .post_json("/users", &json!({"name": "Ann", "age": 31}))
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(res.json(), json!({"name": "Ann", "age": 31}));
}

#[tokio::test]
async fn invalid_json_is_400_and_wrong_shape_is_422_saying_what_was_wrong() {
    let server = TestServer::start(app()).await;
    let mut c = server.http1().await;
    let json_header = [("content-type", "application/json")];

    let syntax = c
        .request(Method::POST, "/users", &json_header, "{\"name\": ")
        .await;
    assert_eq!(syntax.status, StatusCode::BAD_REQUEST);
    let detail = syntax.json()["detail"].as_str().unwrap().to_owned();
    assert!(
        detail.contains("not valid JSON") && detail.contains("line 1"),
        "{detail}"
    );

    let shape = c.post_json("/users", &json!({"name": "Ann"})).await;
    assert_eq!(shape.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        shape.json()["detail"]
            .as_str()
            .unwrap()
            .contains("missing field `age`")
    );

    let range = c
        .post_json("/users", &json!({"name": "Ann", "age": 300}))
        .await;
    assert_eq!(range.status, StatusCode::UNPROCESSABLE_ENTITY);

    let no_type = c.request(Method::POST, "/users", &[], "{}").await;
    assert_eq!(no_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(no_type.text().contains("application/json"));
}

#[tokio::test]
async fn head_extractors_and_raw_bodies() {
    let server = TestServer::start(app()).await;
    let mut c = server.http1().await;
    let res = c
        .request(Method::GET, "/headers?x=1", &[("x-agent", "probe")], "")
        .await;
    assert_eq!(res.text(), "GET /headers?x=1 probe");
    assert_eq!(
        c.request(Method::POST, "/bytes", &[], vec![7u8; 1000])
            .await
            .text(),
        "1000 bytes"
    );
    assert_eq!(
        c.request(Method::POST, "/string", &[], "shout")
            .await
            .text(),
        "SHOUT"
    );
    let res = c
        .request(Method::POST, "/string", &[], vec![0xff, 0xfe])
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.text().contains("not valid UTF-8"));
}

#[tokio::test]
async fn state_and_parts_of_state_are_shared() {
    let server = TestServer::start(app()).await;
    let mut c = server.http1().await;
    assert_eq!(c.get("/state").await.text(), "allframe");
    assert_eq!(c.get("/count").await.text(), "1");
    let mut other = server.http2().await;
    assert_eq!(other.get("/count").await.text(), "2");
}
