//! GraphQL over HTTP, through a real server and hyper's client.

mod common;

use std::sync::atomic::Ordering;

use allframe_core::http::Method;
use allframe_core::{Router, ServerConfig};
use allframe_graphql::async_graphql::{Context, EmptyMutation, EmptySubscription, Object};
use allframe_graphql::{DEFAULT_MAX_COMPLEXITY, DEFAULT_MAX_DEPTH, GraphQL};
use allframe_test::{Client, TestResponse, TestServer};
use serde_json::{Value, json};

async fn post(c: &mut Client, query: &str) -> TestResponse {
    c.post_json("/graphql", &json!({ "query": query })).await
}

fn first_error(res: &TestResponse) -> String {
    res.json()["errors"][0]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no GraphQL error in {}", res.text()))
        .to_owned()
}

/// `{ node { child { child ... { value } } } }` selecting `depth` fields in a chain.
fn nested(depth: usize) -> String {
    let mut query = "value".to_owned();
    for _ in 0..depth.saturating_sub(2) {
        query = format!("child {{ {query} }}");
    }
    format!("{{ node {{ {query} }} }}")
}

#[tokio::test]
async fn a_query_reads_the_routers_state() {
    let server = TestServer::start(common::app()).await;
    let mut c = server.http1().await;
    let res = post(&mut c, "{ greeting }").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(res.json(), json!({ "data": { "greeting": "hello" } }));
}

#[tokio::test]
async fn a_mutation_is_seen_by_a_later_query_and_by_rest() {
    let server = TestServer::start(common::app()).await;
    let mut c = server.http1().await;
    let res = post(&mut c, "mutation { add(by: 5) }").await;
    assert_eq!(res.json(), json!({ "data": { "add": 5 } }));
    let res = c
        .post_json(
            "/graphql",
            &json!({
                "query": "mutation Add($by: Int!) { add(by: $by) }",
                "variables": { "by": 2 },
                "operationName": "Add",
            }),
        )
        .await;
    assert_eq!(res.json(), json!({ "data": { "add": 7 } }));

    let mut other = server.http1().await;
    let res = post(&mut other, "{ counter }").await;
    assert_eq!(res.json(), json!({ "data": { "counter": 7 } }));
    // The REST route shares the state the resolvers changed.
    assert_eq!(other.get("/counter").await.text(), "7");
}

#[tokio::test]
async fn a_get_runs_a_query_with_variables_and_refuses_a_mutation() {
    let server = TestServer::start(common::app()).await;
    let mut c = server.http1().await;
    let res = c.get("/graphql?query=%7B%20greeting%20%7D").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json(), json!({ "data": { "greeting": "hello" } }));

    // query Q($show: Boolean!) { greeting counter @include(if: $show) }
    let query = "query%20Q(%24show%3A%20Boolean!)%20%7B%20greeting%20counter%20%40include(if%3A%20%24show)%20%7D";
    let res = c
        .get(&format!(
            "/graphql?query={query}&variables=%7B%22show%22%3Afalse%7D&operationName=Q"
        ))
        .await;
    assert_eq!(res.json(), json!({ "data": { "greeting": "hello" } }));

    let res = c
        .get("/graphql?query=mutation%20%7B%20add(by%3A%201)%20%7D")
        .await;
    assert_eq!(res.status, 405);
    assert_eq!(res.header("allow"), Some("POST"));
    assert!(first_error(&res).contains("POST"));
    assert_eq!(
        post(&mut c, "{ counter }").await.json()["data"]["counter"],
        0
    );
}

#[tokio::test]
async fn the_graphql_response_media_type_is_negotiated() {
    let server = TestServer::start(common::app()).await;
    let mut c = server.http1().await;
    let accept = "application/graphql-response+json, application/json;q=0.9";
    let body = json!({ "query": "{ greeting }" }).to_string();
    let headers = [("content-type", "application/json"), ("accept", accept)];
    let res = c.request(Method::POST, "/graphql", &headers, body).await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("content-type"),
        Some("application/graphql-response+json")
    );
    assert_eq!(res.json()["data"]["greeting"], "hello");

    // An operation that cannot run at all is a 400 in this format (200 in application/json).
    let body = json!({ "query": nested(DEFAULT_MAX_DEPTH + 1) }).to_string();
    let res = c.request(Method::POST, "/graphql", &headers, body).await;
    assert_eq!(res.status, 400);
    assert_eq!(first_error(&res), "Query is nested too deep.");
}

#[tokio::test]
async fn an_over_deep_query_is_an_error_and_one_at_the_limit_runs() {
    let server = TestServer::start(common::app()).await;
    let mut c = server.http1().await;
    let res = post(&mut c, &nested(DEFAULT_MAX_DEPTH)).await;
    assert_eq!(res.status, 200);
    assert!(res.json()["errors"].is_null(), "{}", res.text());
    assert!(!res.json()["data"]["node"].is_null());

    let res = post(&mut c, &nested(DEFAULT_MAX_DEPTH + 1)).await;
    assert_eq!(res.status, 200);
    assert_eq!(first_error(&res), "Query is nested too deep.");
    assert!(res.json()["data"].is_null());
}

#[tokio::test]
async fn an_over_complex_query_is_an_error() {
    let server = TestServer::start(common::app()).await;
    let mut c = server.http1().await;
    // Shallow but wide: aliases of one field.
    let wide = |n: usize| {
        let fields: Vec<String> = (0..n).map(|i| format!("a{i}: greeting")).collect();
        format!("{{ {} }}", fields.join(" "))
    };
    let res = post(&mut c, &wide(DEFAULT_MAX_COMPLEXITY)).await;
    assert!(res.json()["errors"].is_null(), "{}", res.text());
    assert_eq!(res.json()["data"]["a999"], "hello");
    let res = post(&mut c, &wide(DEFAULT_MAX_COMPLEXITY + 1)).await;
    assert_eq!(first_error(&res), "Query is too complex.");
}

#[tokio::test]
async fn hostile_documents_are_errors_and_the_server_keeps_serving() {
    let server = TestServer::start(common::app()).await;
    let mut c = server.http1().await;
    // Nesting the parser itself refuses (it would otherwise recurse until the stack ends).
    let deep = format!("{}{}", "{ node ".repeat(5_000), "}".repeat(5_000));
    let res = post(&mut c, &deep).await;
    assert!(!first_error(&res).is_empty());

    // Fragments that spread the next one 16 times, 8 levels deep: 16^8 fields spread out.
    let mut bomb = String::from("query { node { ...F0 } }\nfragment F8 on Node { value }\n");
    for i in 0..8 {
        let next = i + 1;
        let spreads: Vec<String> = (0..16)
            .map(|k| format!("a{k}: child {{ ...F{next} }}"))
            .collect();
        bomb += &format!("fragment F{i} on Node {{ {} }}\n", spreads.join(" "));
    }
    // Refused before anything is spread out (without the guard this request runs for minutes).
    let res = post(&mut c, &bomb).await;
    assert_eq!(first_error(&res), "Query is too large.");

    assert_eq!(
        server.get("/counter").await.text(),
        "0",
        "the server still answers"
    );
}

#[tokio::test]
async fn the_introspection_query_of_graphiql_fits_the_default_limits() {
    let server = TestServer::start(common::app()).await;
    let mut c = server.http1().await;
    let res = post(&mut c, INTROSPECTION).await;
    assert!(res.json()["errors"].is_null(), "{}", res.text());
    let types = res.json()["data"]["__schema"]["types"]
        .as_array()
        .expect("types")
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect::<Vec<_>>();
    assert!(types.contains(&"Node".to_owned()), "{types:?}");
}

#[tokio::test]
async fn malformed_json_is_a_400_graphql_error_and_the_server_keeps_serving() {
    let server = TestServer::start(common::app()).await;
    let mut c = server.http1().await;
    let headers = [("content-type", "application/json")];
    let res = c
        .request(Method::POST, "/graphql", &headers, "{\"query\": \"{ gree")
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(res.header("content-type"), Some("application/json"));
    let message = first_error(&res);
    assert!(message.contains("invalid GraphQL request"), "{message}");
    assert!(res.json().get("data").is_none());

    let res = c
        .request(Method::POST, "/graphql", &headers, r#""{ greeting }""#)
        .await;
    assert_eq!(res.status, 400);
    assert!(first_error(&res).contains("invalid GraphQL request"));

    let res = c
        .request(
            Method::POST,
            "/graphql",
            &[("content-type", "text/plain")],
            r#"{"query":"{ greeting }"}"#,
        )
        .await;
    assert_eq!(res.status, 415);

    let mut fresh = server.http1().await;
    let res = post(&mut fresh, "{ greeting }").await;
    assert_eq!(res.json(), json!({ "data": { "greeting": "hello" } }));
}

#[tokio::test]
async fn the_servers_body_limit_applies() {
    let config = ServerConfig::default().body_limit(1024);
    let server = TestServer::start_with(common::app(), config).await;
    let mut c = server.http1().await;
    let padding = " ".repeat(2048);
    let res = post(&mut c, &format!("{{ greeting {padding} }}")).await;
    assert_eq!(res.status, 413);
    assert!(first_error(&res).contains("1024"));
    let mut fresh = server.http1().await;
    assert_eq!(post(&mut fresh, "{ greeting }").await.status, 200);
}

#[tokio::test]
async fn a_batch_runs_every_operation() {
    let server = TestServer::start(common::app()).await;
    let mut c = server.http1().await;
    let batch = json!([{ "query": "{ greeting }" }, { "query": "mutation { add(by: 3) }" }]);
    let res = c.post_json("/graphql", &batch).await;
    assert_eq!(
        res.json(),
        json!([{ "data": { "greeting": "hello" } }, { "data": { "add": 3 } }])
    );
    let too_many: Vec<Value> = (0..17)
        .map(|_| json!({ "query": "{ greeting }" }))
        .collect();
    let res = c.post_json("/graphql", &Value::Array(too_many)).await;
    assert_eq!(res.status, 400);
}

#[tokio::test]
async fn a_browser_gets_graphiql_and_other_clients_do_not() {
    let server = TestServer::start(common::app()).await;
    let mut c = server.http1().await;
    let res = c
        .request(
            Method::GET,
            "/graphql",
            &[("accept", "text/html,application/xhtml+xml,*/*;q=0.8")],
            "",
        )
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(res.text().contains("graphiql"), "{}", res.text());
    assert!(res.text().contains("createUrl('/graphql', true)"));

    // A browser that asks a query gets the result.
    let res = c
        .request(
            Method::GET,
            "/graphql?query=%7Bgreeting%7D",
            &[("accept", "text/html")],
            "",
        )
        .await;
    assert_eq!(res.json()["data"]["greeting"], "hello");

    // Without text/html there is no page, only a GraphQL error.
    let res = c.get("/graphql").await;
    assert_ne!(res.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(!first_error(&res).is_empty());
}

#[tokio::test]
async fn graphiql_can_be_turned_off() {
    let app = Router::new()
        .route(
            "/gql",
            GraphQL::new(common::schema()).graphiql(false).into_route(),
        )
        .with_state(common::state());
    let server = TestServer::start(app).await;
    let mut c = server.http1().await;
    let res = c
        .request(Method::GET, "/gql", &[("accept", "text/html")], "")
        .await;
    assert_ne!(res.header("content-type"), Some("text/html; charset=utf-8"));
}

#[tokio::test]
async fn a_part_of_the_state_can_be_the_data() {
    struct Query;

    #[Object]
    impl Query {
        async fn counter(&self, ctx: &Context<'_>) -> i64 {
            ctx.data_unchecked::<common::Counter>()
                .0
                .load(Ordering::SeqCst)
        }
    }

    let state = common::state();
    state.counter.0.store(42, Ordering::SeqCst);
    let schema = allframe_graphql::schema(Query, EmptyMutation, EmptySubscription).finish();
    let app = Router::new()
        .route(
            "/graphql",
            GraphQL::new(schema).into_route_with::<common::Counter, _>(),
        )
        .with_state(state);
    let server = TestServer::start(app).await;
    let mut c = server.http1().await;
    assert_eq!(
        post(&mut c, "{ counter }").await.json(),
        json!({ "data": { "counter": 42 } })
    );
}

#[tokio::test]
async fn http2_clients_are_served_too() {
    let server = TestServer::start(common::app()).await;
    let mut c = server.http2().await;
    let res = post(&mut c, "{ greeting }").await;
    assert_eq!(res.version, allframe_core::http::Version::HTTP_2);
    assert_eq!(res.json(), json!({ "data": { "greeting": "hello" } }));
}

/// graphql-js's `getIntrospectionQuery()`, which GraphiQL sends.
const INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description
    args { ...InputValue }
    type { ...TypeRef }
    isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue {
  name description
  type { ...TypeRef }
  defaultValue
}
fragment TypeRef on __Type {
  kind name
  ofType { kind name
    ofType { kind name
      ofType { kind name
        ofType { kind name
          ofType { kind name
            ofType { kind name
              ofType { kind name }
            }
          }
        }
      }
    }
  }
}
"#;

/// The `Authorization` header names the caller resolvers see; a refused one is a 401 that
/// says why; none leaves the caller out.
#[tokio::test]
async fn the_authorization_header_names_the_caller() {
    let online = std::sync::Arc::default();
    let server = TestServer::start(common::app_authenticating(online, None)).await;
    let mut c = server.http1().await;
    let body = json!({"query": "{ me }"}).to_string();
    let json = ("content-type", "application/json");
    let signed_in = c
        .request(
            Method::POST,
            "/graphql",
            &[json, ("authorization", "Bearer ann")],
            body.clone(),
        )
        .await;
    assert_eq!(
        signed_in.json()["data"]["me"],
        "ann",
        "{}",
        signed_in.text()
    );
    let anonymous = c
        .request(Method::POST, "/graphql", &[json], body.clone())
        .await;
    assert_eq!(
        anonymous.json()["data"]["me"],
        Value::Null,
        "{}",
        anonymous.text()
    );
    let forged = c
        .request(
            Method::POST,
            "/graphql",
            &[json, ("authorization", "Bearer forged")],
            body,
        )
        .await;
    assert_eq!(forged.status, 401, "{}", forged.text());
    assert!(
        first_error(&forged).contains("not a valid token"),
        "{}",
        forged.text()
    );
}
