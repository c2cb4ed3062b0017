//! `Multipart` over real TCP: fields read in turn, and each way a form can be wrong
//! answered with its status while the server keeps serving.

use allframe_core::extract::Multipart;
use allframe_core::http::{Method, StatusCode};
use allframe_core::rejection::MultipartRejection;
use allframe_core::routing::post;
use allframe_core::{Router, ServerConfig};
use allframe_test::TestServer;

const TYPE: &str = "multipart/form-data; boundary=XyZ";

/// Each field as `name (file name, claimed type): length`.
async fn fields(mut form: Multipart) -> Result<String, MultipartRejection> {
    let mut lines = Vec::new();
    while let Some(field) = form.next_field().await? {
        let head = format!(
            "{} ({}, {})",
            field.name().unwrap_or("?"),
            field.file_name().unwrap_or("-"),
            field.content_type().unwrap_or("-")
        );
        lines.push(format!("{head}: {}", field.bytes().await?.len()));
    }
    Ok(lines.join("\n"))
}

fn form(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file, bytes) in parts {
        let file = file.map_or(String::new(), |f| format!("; filename=\"{f}\""));
        let kind = if file.is_empty() {
            ""
        } else {
            "Content-Type: image/png\r\n"
        };
        body.extend_from_slice(
            format!("--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"{file}\r\n{kind}\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--XyZ--\r\n");
    body
}

async fn server() -> TestServer {
    let app = Router::new()
        .route("/form", post(fields).body_limit(64 * 1024))
        .into_service();
    TestServer::start_with(app, ServerConfig::default().body_limit(1024)).await
}

#[tokio::test]
async fn fields_are_read_in_turn_past_the_servers_limit() {
    let server = server().await;
    let mut c = server.http1().await;
    let body = form(&[
        ("title", None, b"Holiday"),
        ("photo", Some("a.png"), &[7; 20_000]),
    ]);
    let res = c
        .request(Method::POST, "/form", &[("content-type", TYPE)], body)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(
        res.text(),
        "title (-, -): 7\nphoto (a.png, image/png): 20000"
    );
}

#[tokio::test]
async fn a_wrong_type_a_broken_form_and_an_oversize_one_are_refused() {
    let server = server().await;
    let send = async |content_type: &str, body: Vec<u8>| {
        server
            .http1()
            .await
            .request(
                Method::POST,
                "/form",
                &[("content-type", content_type)],
                body,
            )
            .await
    };
    let res = send("application/json", b"{}".to_vec()).await;
    assert_eq!(res.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        res.json()["detail"]
            .as_str()
            .unwrap()
            .contains("multipart/form-data")
    );
    let res = send("multipart/form-data", form(&[("a", None, b"1")])).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "no boundary");
    assert!(res.json()["detail"].as_str().unwrap().contains("boundary"));

    let cut = form(&[("photo", Some("a.png"), &[7; 500])])[..300].to_vec();
    let res = send(TYPE, cut).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(
        res.json()["detail"]
            .as_str()
            .unwrap()
            .contains("malformed multipart")
    );

    let res = send(TYPE, form(&[("photo", Some("a.png"), &[7; 70_000])])).await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE);

    // Undeclared (chunked) and too large: refused while the fields stream in.
    let mut raw = server.raw().await;
    let big = form(&[("photo", Some("a.png"), &[b'x'; 70_000])]);
    let mut request = format!(
        "POST /form HTTP/1.1\r\nHost: x\r\nContent-Type: {TYPE}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    for chunk in big.chunks(8192) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    raw.write(&request).await;
    let answer = raw.read_response().await.expect("an answer");
    assert_eq!(answer.status, 413);

    let res = send(TYPE, form(&[("ok", None, b"yes")])).await;
    assert_eq!(res.text(), "ok (-, -): 3", "the server keeps serving");
}

/// A described upload route: the document names the media type, the route's limit and
/// every way the form is refused.
#[cfg(feature = "openapi")]
#[test]
fn the_document_states_the_form_its_limit_and_its_refusals() {
    use allframe_core::openapi::Info;
    use allframe_core::openapi::routing::post;
    let doc = Router::<()>::new()
        .route("/form", post(fields).body_limit(64 * 1024))
        .openapi(Info::new("t", "1"));
    let doc = serde_json::to_value(&doc).expect("a JSON document");
    let op = &doc["paths"]["/form"]["post"];
    let body = &op["requestBody"];
    assert!(body["content"]["multipart/form-data"].is_object(), "{body}");
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("65536 bytes"),
        "{body}"
    );
    for status in ["400", "413", "415"] {
        assert!(op["responses"][status].is_object(), "{status}: {op}");
    }
}
