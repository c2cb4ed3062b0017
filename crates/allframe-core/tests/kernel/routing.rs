use allframe_core::extract::RawPathParams;
use allframe_core::http::{Method, StatusCode};
use allframe_core::routing::{any, get, post};
use allframe_core::{Path, Router};
use allframe_test::TestServer;

async fn list() -> &'static str {
    "list"
}

async fn create() -> (StatusCode, &'static str) {
    (StatusCode::CREATED, "created")
}

async fn user(Path(id): Path<u64>) -> String {
    format!("user {id}")
}

async fn post_of(Path((user, post)): Path<(String, u32)>) -> String {
    format!("{user}/{post}")
}

async fn file(Path(rest): Path<String>) -> String {
    format!("file {rest}")
}

async fn raw(params: RawPathParams) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn app() -> Router {
    let api = Router::new()
        .route("/users", get(list).post(create))
        .route("/users/:id", get(user))
        .route("/users/{user}/posts/{post}", get(post_of));
    Router::new()
        .route("/", get(|| async { "root" }))
        .route("/files/*rest", get(file))
        .route("/raw/{a}/{b}", get(raw))
        .route(
            "/anything",
            any(|method: Method| async move { method.to_string() }),
        )
        .nest("/api", api)
}

#[tokio::test]
async fn static_param_and_wildcard_routes_match() {
    let server = TestServer::start(app().into_service()).await;
    let mut c = server.http1().await;
    assert_eq!(c.get("/").await.text(), "root");
    assert_eq!(c.get("/api/users").await.text(), "list");
    assert_eq!(c.get("/api/users/42").await.text(), "user 42");
    assert_eq!(c.get("/api/users/ann/posts/7").await.text(), "ann/7");
    assert_eq!(
        c.get("/files/css/site.css").await.text(),
        "file css/site.css"
    );
    assert_eq!(c.get("/raw/x%20y/2").await.text(), "a=x%20y,b=2");
    assert_eq!(c.get("/anything").await.text(), "GET");
    let deleted = c.request(Method::DELETE, "/anything", &[], "").await;
    assert_eq!(deleted.text(), "DELETE");
}

#[tokio::test]
async fn methods_are_routed_per_route() {
    let server = TestServer::start(app().into_service()).await;
    let mut c = server.http1().await;
    let created = c.request(Method::POST, "/api/users", &[], "").await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.text(), "created");
    let head = c.request(Method::HEAD, "/api/users", &[], "").await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty(), "HEAD has no body");
    assert_eq!(
        head.header("content-length"),
        Some("4"),
        "the length GET would send"
    );
    // HTTP/2 sends whatever body a response has: HEAD must still get none.
    let head = server
        .http2()
        .await
        .request(Method::HEAD, "/api/users", &[], "")
        .await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty(), "HEAD has no body over HTTP/2");
    assert_eq!(head.header("content-length"), Some("4"));
}

#[tokio::test]
async fn unknown_path_is_404_with_a_problem_body() {
    let server = TestServer::start(app().into_service()).await;
    let res = server.get("/nope").await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(res.header("content-type"), Some("application/problem+json"));
    let body = res.json();
    assert_eq!(body["status"], 404);
    assert_eq!(body["title"], "Not Found");
    assert!(body["detail"].as_str().unwrap().contains("/nope"));
    // A trailing slash is a different route.
    assert_eq!(
        server.get("/api/users/").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn wrong_method_is_405_with_allow() {
    let server = TestServer::start(app().into_service()).await;
    let mut c = server.http1().await;
    let res = c.request(Method::DELETE, "/api/users", &[], "").await;
    assert_eq!(res.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.header("allow"), Some("GET, HEAD, POST"));
    assert_eq!(res.json()["status"], 405);
    let res = c.request(Method::PUT, "/api/users/1", &[], "").await;
    assert_eq!(res.header("allow"), Some("GET, HEAD"));
}

#[tokio::test]
async fn both_parameter_syntaxes_name_one_route() {
    let app = Router::new()
        .route("/items/:id", get(|| async { "get" }))
        .route("/items/{id}", post(|| async { "post" }));
    let server = TestServer::start(app.into_service()).await;
    let mut c = server.http1().await;
    assert_eq!(c.get("/items/1").await.text(), "get");
    assert_eq!(
        c.request(Method::POST, "/items/1", &[], "").await.text(),
        "post"
    );
}

#[tokio::test]
async fn fallback_replaces_the_404() {
    let app = Router::new()
        .route("/", get(|| async { "root" }))
        .fallback(|| async { (StatusCode::NOT_FOUND, "custom not found") });
    let server = TestServer::start(app.into_service()).await;
    let res = server.get("/missing").await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(res.text(), "custom not found");
}

#[tokio::test]
async fn merged_routers_serve_both_route_sets() {
    let a = Router::new().route("/a", get(|| async { "a" }));
    let b = Router::new()
        .route("/b", get(|| async { "b" }))
        .route("/a", post(|| async { "a!" }));
    let server = TestServer::start(a.merge(b).into_service()).await;
    let mut c = server.http1().await;
    assert_eq!(c.get("/a").await.text(), "a");
    assert_eq!(c.get("/b").await.text(), "b");
    assert_eq!(c.request(Method::POST, "/a", &[], "").await.text(), "a!");
}

#[test]
#[should_panic(
    expected = "invalid route `/files/*rest/x`: wildcard `*rest` must be the last segment"
)]
fn a_bad_pattern_panics_at_build_time_naming_it() {
    let _ = Router::<()>::new().route("/files/*rest/x", get(list));
}

#[test]
#[should_panic(expected = "this route already has a GET handler")]
fn two_handlers_for_one_method_panic() {
    let _ = get::<_, _, ()>(list).get(list);
}

#[test]
#[should_panic(expected = "route `/users/{name}` cannot be added")]
fn indistinguishable_routes_panic_when_frozen() {
    let _ = Router::new()
        .route("/users/:id", get(list))
        .route("/users/{name}", get(list))
        .into_service();
}
