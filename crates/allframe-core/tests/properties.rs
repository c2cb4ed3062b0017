//! Property tests of the request path's parsers (issue 18): random and mutated paths,
//! queries, JSON and multipart bodies, `Range` and `Authorization` headers go through the
//! router in process. None may panic or answer 5xx, and every refusal is a problem document
//! (`application/problem+json` whose `status` is the answer's).
//!
//! A few thousand cases per property in every `cargo xtask test`; `cargo xtask test --long`
//! sets `ALLFRAME_PROPERTY_CASES=1000000`.

use allframe_core::auth::JwtKeys;
use allframe_core::extract::{Multipart, Pagination};
use allframe_core::http::{HeaderMap, Method, StatusCode};
use allframe_core::rejection::MultipartRejection;
use allframe_core::response::Ranged;
use allframe_core::routing::{get, post};
use allframe_core::{Body, Json, Path, Query, Request, Router, RouterService};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde::Deserialize;
use tower::ServiceExt;

const BOUNDARY: &str = "XyZ";

fn cases() -> u32 {
    std::env::var("ALLFRAME_PROPERTY_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000)
}

#[derive(Deserialize)]
struct Search {
    q: String,
    page: Option<u32>,
    exact: Option<bool>,
}

#[derive(Deserialize)]
struct Item {
    name: String,
    count: u8,
    tags: Option<Vec<String>>,
}

async fn upload(mut form: Multipart) -> Result<String, MultipartRejection> {
    let mut total = 0;
    while let Some(field) = form.next_field().await? {
        total += field.bytes().await?.len();
    }
    Ok(total.to_string())
}

async fn file(method: Method, headers: HeaderMap) -> Ranged {
    Ranged::new(&b"0123456789abcdef"[..], "text/plain", "v1")
        .expect("valid header text")
        .for_request(&method, &headers)
}

fn app() -> RouterService<()> {
    Router::new()
        .route("/items/{id}", get(|Path(id): Path<u32>| async move { id.to_string() }))
        .route(
            "/pairs/{name}/{n}",
            get(|Path((name, n)): Path<(String, i64)>| async move { format!("{name}{n}") }),
        )
        .route(
            "/search",
            get(|Query(s): Query<Search>| async move {
                format!("{}{:?}{:?}", s.q, s.page, s.exact)
            }),
        )
        .route(
            "/paged",
            get(|page: Pagination<50>| async move { Json(page.page(0..500u32)) }),
        )
        .route(
            "/items",
            post(|Json(item): Json<Item>| async move {
                format!("{}{}{:?}", item.name, item.count, item.tags)
            }),
        )
        .route("/upload", post(upload))
        .route("/file", get(file))
        .into_service()
}

/// Sends `request` and checks the answer: no panic (the test would fail), no 5xx, and a
/// refusal is a problem document.
fn answer(runtime: &tokio::runtime::Runtime, request: Request) -> Result<(), TestCaseError> {
    let (status, content_type, body) = runtime.block_on(async {
        let response = app().oneshot(request).await.expect("infallible");
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.into_body().to_bytes().await.expect("a body");
        (status, content_type, body)
    });
    prop_assert!(
        !status.is_server_error(),
        "answered {status}: {}",
        String::from_utf8_lossy(&body)
    );
    // 416 carries `Content-Range: bytes */len`, as RFC 9110 asks, with no document.
    if status.is_client_error() && status != StatusCode::RANGE_NOT_SATISFIABLE {
        prop_assert_eq!(&content_type, "application/problem+json", "{}", status);
        let problem: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| TestCaseError::fail(format!("{status}: the problem is not JSON: {e}")))?;
        prop_assert_eq!(problem["status"].as_u64(), Some(u64::from(status.as_u16())));
    }
    Ok(())
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Text where parsers trip: percent signs, separators, digits, signs, non-ASCII, controls.
fn tricky() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("%".to_owned()),
        Just("%2".to_owned()),
        Just("%FF".to_owned()),
        Just("%C3%28".to_owned()),
        Just("%00".to_owned()),
        Just("%2F".to_owned()),
        Just("+".to_owned()),
        Just("&".to_owned()),
        Just("=".to_owned()),
        Just("-".to_owned()),
        Just("1".to_owned()),
        Just("99999999999999999999".to_owned()),
        Just("é".to_owned()),
        Just("[]".to_owned()),
        any::<u8>().prop_map(|b| format!("%{b:02X}")),
        prop::collection::vec(prop::sample::select(b"az09".to_vec()), 0..3)
            .prop_map(|b| String::from_utf8(b).expect("ASCII")),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|p| p.concat())
}

/// Encodes what a URI cannot hold as it is, so every generated path is a valid URI.
fn in_uri(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'%' | b'-' | b'+' | b'&' | b'=' => {
                (b as char).to_string()
            }
            b'[' | b']' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[test]
fn random_paths_and_queries_get_an_answer_or_a_problem() {
    let runtime = runtime();
    let strategy = (
        prop_oneof![
            Just("/items/"),
            Just("/pairs/"),
            Just("/search"),
            Just("/paged"),
            Just("/nowhere/"),
        ],
        prop::collection::vec(tricky(), 0..4),
        prop::collection::vec((tricky(), tricky()), 0..5),
        prop_oneof![Just(Method::GET), Just(Method::POST), Just(Method::DELETE)],
    );
    runner()
        .run(&strategy, |(route, segments, query, method)| {
            let path = segments
                .iter()
                .map(|s| in_uri(s))
                .collect::<Vec<_>>()
                .join("/");
            let query = query
                .iter()
                .map(|(k, v)| format!("{}={}", in_uri(k), in_uri(v)))
                .collect::<Vec<_>>()
                .join("&");
            let uri = format!("{route}{path}?{query}");
            let Ok(request) = Request::builder()
                .method(method)
                .uri(&uri)
                .body(Body::empty())
            else {
                return Ok(());
            };
            answer(&runtime, request)
        })
        .unwrap();
}

/// A valid item, then bytes flipped, cut, inserted or repeated.
fn mutated(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = valid.len();
    prop::collection::vec((0..len.max(1), any::<u8>(), 0..4u8), 0..6).prop_map(move |edits| {
        let mut bytes = valid.clone();
        for (at, byte, kind) in edits {
            let at = at.min(bytes.len().saturating_sub(1));
            match kind {
                0 if !bytes.is_empty() => bytes[at] = byte,
                1 => bytes.truncate(at),
                2 => bytes.insert(at.min(bytes.len()), byte),
                _ => {
                    let tail = bytes[at.min(bytes.len())..].to_vec();
                    bytes.extend_from_slice(&tail);
                }
            }
        }
        bytes
    })
}

#[test]
fn mutated_json_bodies_get_an_answer_or_a_problem() {
    let runtime = runtime();
    let valid = br#"{"name":"widget","count":3,"tags":["a","b"]}"#.to_vec();
    let strategy = (
        prop_oneof![mutated(valid), prop::collection::vec(any::<u8>(), 0..64)],
        prop_oneof![
            Just("application/json"),
            Just("application/json; charset=utf-8"),
            Just("application/problem+json"),
            Just("text/plain"),
            Just("application/jsonx"),
            Just(""),
        ],
    );
    runner()
        .run(&strategy, |(body, content_type)| {
            let mut request = Request::builder().method(Method::POST).uri("/items");
            if !content_type.is_empty() {
                request = request.header("content-type", content_type);
            }
            answer(&runtime, request.body(Body::from(body)).expect("request"))
        })
        .unwrap();
}

fn form() -> Vec<u8> {
    format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhello\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\
         Content-Type: image/png\r\n\r\n\x01\x02\x03\r\n--{BOUNDARY}--\r\n"
    )
    .into_bytes()
}

#[test]
fn mutated_multipart_forms_get_an_answer_or_a_problem() {
    let runtime = runtime();
    let strategy = (
        mutated(form()),
        prop_oneof![
            Just(format!("multipart/form-data; boundary={BOUNDARY}")),
            Just("multipart/form-data".to_owned()),
            Just("multipart/form-data; boundary=".to_owned()),
            Just("multipart/mixed; boundary=XyZ".to_owned()),
            tricky().prop_map(|b| format!("multipart/form-data; boundary={b}")),
        ],
    );
    runner()
        .run(&strategy, |(body, content_type)| {
            let Ok(request) = Request::builder()
                .method(Method::POST)
                .uri("/upload")
                .header("content-type", content_type)
                .body(Body::from(body))
            else {
                return Ok(());
            };
            answer(&runtime, request)
        })
        .unwrap();
}

#[test]
fn random_range_and_condition_headers_get_an_answer() {
    let runtime = runtime();
    let value = prop_oneof![
        (0..40u64, 0..40u64).prop_map(|(a, b)| format!("bytes={a}-{b}")),
        (0..40u64).prop_map(|a| format!("bytes={a}-")),
        (0..40u64).prop_map(|a| format!("bytes=-{a}")),
        Just("bytes=0-1,3-4".to_owned()),
        Just("bytes=18446744073709551615-".to_owned()),
        Just("bytes=-0".to_owned()),
        Just("items=0-1".to_owned()),
        tricky(),
    ];
    let strategy = (
        value,
        prop_oneof![
            Just(None),
            Just(Some("\"v1\"")),
            Just(Some("\"v0\"")),
            Just(Some("*")),
            Just(Some("W/\"v1\", garbage"))
        ],
        prop_oneof![Just(Method::GET), Just(Method::HEAD)],
    );
    runner()
        .run(&strategy, |(range, condition, method)| {
            let mut request = Request::builder().method(method).uri("/file");
            if let Ok(range) = allframe_core::http::HeaderValue::from_str(&range) {
                request = request.header("range", range);
            }
            if let Some(tag) = condition {
                request = request.header("if-none-match", tag).header("if-range", tag);
            }
            answer(&runtime, request.body(Body::empty()).expect("request"))
        })
        .unwrap();
}

#[test]
fn random_authorization_values_are_refused_with_a_typed_reason() {
    let keys = JwtKeys::hs256(b"a secret of at least thirty-two bytes!").expect("keys");
    let token = keys.issue("ann").expect("token");
    let valid = format!("Bearer {token}").into_bytes();
    let strategy = prop_oneof![
        mutated(valid),
        prop::collection::vec(any::<u8>(), 0..80),
        tricky().prop_map(|t| format!("Bearer {t}").into_bytes()),
    ];
    runner()
        .run(&strategy, |value| {
            let Ok(text) = String::from_utf8(value) else {
                return Ok(());
            };
            // Any outcome but a panic: the claims of a token these keys signed, or a reason.
            if let Ok(claims) = keys.verify_authorization(&text) {
                prop_assert_eq!(claims.sub.as_str(), "ann");
            }
            Ok(())
        })
        .unwrap();
}
