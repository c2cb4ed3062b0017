use allframe_core::http::header::{HeaderName, HeaderValue};
use allframe_core::http::{HeaderMap, Method, StatusCode};
use allframe_core::response::Ranged;
use allframe_core::routing::get;
use allframe_core::{Html, Json, Problem, Router};
use allframe_test::TestServer;
use bytes::Bytes;
use serde_json::json;

#[derive(Debug)]
enum AppError {
    NotFound(u32),
    Forbidden,
}

impl From<AppError> for Problem {
    fn from(err: AppError) -> Self {
        match err {
            AppError::NotFound(id) => {
                Problem::new(StatusCode::NOT_FOUND).with_detail(format!("no item {id}"))
            }
            AppError::Forbidden => Problem::new(StatusCode::FORBIDDEN),
        }
    }
}

fn find(id: u32) -> Result<u32, AppError> {
    match id {
        1 => Ok(1),
        2 => Err(AppError::Forbidden),
        other => Err(AppError::NotFound(other)),
    }
}

async fn item(allframe_core::Path(id): allframe_core::Path<u32>) -> Result<Json<u32>, Problem> {
    if id == 0 {
        return Err(Problem::invalid_field("id", "must be at least 1")
            .with_field_error("id", "must be odd"));
    }
    let found = find(id)?;
    Ok(Json(found))
}

fn app() -> allframe_core::RouterService {
    Router::new()
        .route("/text", get(|| async { "plain" }))
        .route("/string", get(|| async { String::from("owned") }))
        .route(
            "/json",
            get(|| async { Json(json!({"message": "Hello, World!"})) }),
        )
        .route("/html", get(|| async { Html("<h1>hi</h1>") }))
        .route("/status", get(|| async { StatusCode::NO_CONTENT }))
        .route("/unit", get(|| async {}))
        .route("/bytes", get(|| async { Bytes::from_static(b"\x00\x01") }))
        .route(
            "/created",
            get(|| async { (StatusCode::CREATED, Json(json!({"id": 1}))) }),
        )
        .route(
            "/headers",
            get(|| async {
                let name = HeaderName::from_static("x-custom");
                ([(name, HeaderValue::from_static("yes"))], "with header")
            }),
        )
        .route(
            "/all",
            get(|| async {
                let mut headers = HeaderMap::new();
                headers.insert("x-a", HeaderValue::from_static("1"));
                (StatusCode::ACCEPTED, headers, Html("accepted"))
            }),
        )
        .route("/items/{id}", get(item))
        .into_service()
}

#[tokio::test]
async fn responders_set_body_and_content_type() {
    let server = TestServer::start(app()).await;
    let mut c = server.http1().await;
    let cases = [
        ("/text", "text/plain; charset=utf-8", "plain"),
        ("/string", "text/plain; charset=utf-8", "owned"),
        (
            "/json",
            "application/json",
            r#"{"message":"Hello, World!"}"#,
        ),
        ("/html", "text/html; charset=utf-8", "<h1>hi</h1>"),
        ("/bytes", "application/octet-stream", "\u{0}\u{1}"),
    ];
    for (path, content_type, body) in cases {
        let res = c.get(path).await;
        assert_eq!(res.status, StatusCode::OK, "{path}");
        assert_eq!(res.header("content-type"), Some(content_type), "{path}");
        assert_eq!(res.text(), body, "{path}");
        assert_eq!(
            res.header("content-length"),
            Some(body.len().to_string().as_str())
        );
    }
}

#[tokio::test]
async fn status_and_header_tuples() {
    let server = TestServer::start(app()).await;
    let mut c = server.http1().await;
    assert_eq!(c.get("/status").await.status, StatusCode::NO_CONTENT);
    let unit = c.get("/unit").await;
    assert_eq!((unit.status, unit.body.len()), (StatusCode::OK, 0));
    let created = c.get("/created").await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.json(), json!({"id": 1}));
    let with_header = c.get("/headers").await;
    assert_eq!(with_header.header("x-custom"), Some("yes"));
    assert_eq!(with_header.text(), "with header");
    let all = c.get("/all").await;
    assert_eq!(all.status, StatusCode::ACCEPTED);
    assert_eq!(all.header("x-a"), Some("1"));
    assert_eq!(all.header("content-type"), Some("text/html; charset=utf-8"));
}

#[tokio::test]
async fn result_errors_become_problem_responses() {
    let server = TestServer::start(app()).await;
    let mut c = server.http1().await;
    assert_eq!(c.get("/items/1").await.json(), json!(1));
    let forbidden = c.get("/items/2").await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert_eq!(
        forbidden.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(
        forbidden.json(),
        json!({"type": "about:blank", "title": "Forbidden", "status": 403})
    );
    let missing = c.get("/items/9").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json()["detail"], "no item 9");
    let invalid = c.get("/items/0").await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        invalid.json()["errors"],
        json!({"id": ["must be at least 1", "must be odd"]})
    );
}

/// `0123456789` as a `Ranged` answer, tagged `v1`.
async fn digits(method: Method, headers: HeaderMap) -> Ranged {
    Ranged::new(&b"0123456789"[..], "text/plain", "v1")
        .expect("valid header text")
        .cache_control("max-age=60")
        .for_request(&method, &headers)
}

/// An empty body: no byte of it can be asked for.
async fn nothing(method: Method, headers: HeaderMap) -> Ranged {
    Ranged::new(Bytes::new(), "text/plain", "empty")
        .expect("valid header text")
        .for_request(&method, &headers)
}

#[tokio::test]
async fn ranged_answers_conditional_and_range_requests() {
    let app = Router::new()
        .route("/digits", get(digits).post(digits))
        .route("/empty", get(nothing))
        .into_service();
    let server = TestServer::start(app).await;
    let mut c = server.http1().await;
    let mut ask = async |method: Method, headers: &[(&str, &str)]| {
        c.request(method, "/digits", headers, Bytes::new()).await
    };

    let whole = ask(Method::GET, &[]).await;
    assert_eq!((whole.status, whole.text()), (StatusCode::OK, "0123456789"));
    assert_eq!(whole.header("etag"), Some("\"v1\""));
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
    assert_eq!(whole.header("content-type"), Some("text/plain"));
    assert_eq!(whole.header("cache-control"), Some("max-age=60"));

    for matching in ["\"v1\"", "\"v0\", W/\"v1\"", "*"] {
        let cached = ask(Method::GET, &[("if-none-match", matching)]).await;
        assert_eq!(cached.status, StatusCode::NOT_MODIFIED, "{matching}");
        assert!(cached.body.is_empty());
        assert_eq!(cached.header("etag"), Some("\"v1\""));
    }
    let changed = ask(Method::GET, &[("if-none-match", "\"v0\"")]).await;
    assert_eq!(changed.status, StatusCode::OK);

    for (range, part, content_range) in [
        ("bytes=2-4", "234", "bytes 2-4/10"),
        ("bytes=7-", "789", "bytes 7-9/10"),
        ("bytes=-2", "89", "bytes 8-9/10"),
        ("bytes=8-100", "89", "bytes 8-9/10"),
        ("bytes=-500", "0123456789", "bytes 0-9/10"),
    ] {
        let res = ask(Method::GET, &[("range", range)]).await;
        assert_eq!(res.status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(res.text(), part, "{range}");
        assert_eq!(res.header("content-range"), Some(content_range), "{range}");
    }
    let past = ask(Method::GET, &[("range", "bytes=10-")]).await;
    assert_eq!(past.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(past.header("content-range"), Some("bytes */10"));
    assert_eq!(
        past.header("content-type"),
        Some("application/problem+json")
    );

    // Served whole: several ranges, a malformed one, a stale `If-Range`, a POST.
    for headers in [
        &[("range", "bytes=0-1, 4-5")][..],
        &[("range", "lines=1-2")],
        &[("range", "bytes=0-1"), ("if-range", "\"v0\"")],
        &[("range", "bytes=5-2")],
        &[("range", "bytes=0-1, 20-30")],
    ] {
        let res = ask(Method::GET, headers).await;
        assert_eq!(
            (res.status, res.text()),
            (StatusCode::OK, "0123456789"),
            "{headers:?}"
        );
    }
    let current = ask(
        Method::GET,
        &[("range", "bytes=0-1"), ("if-range", "\"v1\"")],
    )
    .await;
    assert_eq!(current.status, StatusCode::PARTIAL_CONTENT);
    let posted = ask(Method::POST, &[("range", "bytes=0-1")]).await;
    assert_eq!(posted.status, StatusCode::OK);
    let conditional_post = ask(Method::POST, &[("if-none-match", "\"v1\"")]).await;
    assert_eq!(conditional_post.status, StatusCode::PRECONDITION_FAILED);

    // No byte of an empty body can be asked for.
    let empty = c
        .request(
            Method::GET,
            "/empty",
            &[("range", "bytes=0-")],
            Bytes::new(),
        )
        .await;
    assert_eq!(empty.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(empty.header("content-range"), Some("bytes */0"));

    assert!(Ranged::new(&b""[..], "text/plain", "a\"b").is_none());
}
