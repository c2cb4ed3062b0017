//! The real binary: the public RealWorld suite (its Postman collection, unchanged, run by
//! newman) against `cms` on a fresh data directory, and a restart that keeps users,
//! articles and tokens.

use std::process::Command;

use allframe_test::{Client, RunningBinary};
use serde_json::json;

const CMS: &str = env!("CARGO_BIN_EXE_cms");
/// The newman the README's command runs.
const NEWMAN: &str = "newman@6.2.2";

#[tokio::test]
async fn the_public_realworld_suite_passes() {
    // npx fetches newman from the npm registry once; without npx or the registry there is
    // nothing to run the suite with.
    let probe = Command::new("npx")
        .args(["--yes", NEWMAN, "--version"])
        .output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!(
            "SKIPPED: the_public_realworld_suite_passes: `npx --yes {NEWMAN}` does not run: {probe:?}"
        );
        return;
    }
    let data = tempfile::tempdir().expect("a temporary directory");
    let data_dir = data.path().to_str().expect("a UTF-8 path");
    let cms =
        RunningBinary::start_with_env(CMS, &[("ALLFRAME_DATA", data_dir), ("DATABASE_URL", "")])
            .await;
    let collection = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/realworld/Conduit.postman_collection.json"
    );
    let api = format!("APIURL=http://{}/api", cms.addr());
    let out = Command::new("npx")
        .args([
            "--yes",
            NEWMAN,
            "run",
            collection,
            "--delay-request",
            "1",
            "--reporters",
            "cli",
        ])
        .args([
            "--global-var",
            &api,
            "--global-var",
            "USERNAME=conduit",
            "--global-var",
        ])
        .args([
            "EMAIL=conduit@example.com",
            "--global-var",
            "PASSWORD=password1",
        ])
        .output()
        .expect("running newman");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the RealWorld suite failed:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("assertions"), "{report}");
    cms.terminate().await;
}

#[tokio::test]
async fn a_restart_keeps_users_articles_and_tokens() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let env = [
        ("ALLFRAME_DATA", data.path().to_str().expect("a UTF-8 path")),
        ("DATABASE_URL", ""),
    ];
    let cms = RunningBinary::start_with_env(CMS, &env).await;
    let mut client = Client::http1(cms.addr()).await;
    let user =
        json!({"user": {"username": "ann", "email": "ann@example.com", "password": "password1"}});
    let registered = client.post_json("/api/users", &user).await.json();
    let token = registered["user"]["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let auth = format!("Token {token}");
    let article = json!({"article": {"title": "Kept", "description": "d", "body": "b"}});
    let body = serde_json::to_vec(&article).unwrap();
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let created = client
        .request(http::Method::POST, "/api/articles", &headers, body)
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    cms.terminate().await;

    let cms = RunningBinary::start_with_env(CMS, &env).await;
    let mut client = Client::http1(cms.addr()).await;
    let me = client
        .request(http::Method::GET, "/api/user", &headers[..1], Vec::new())
        .await;
    assert_eq!(
        me.status,
        200,
        "the token signed before the restart: {}",
        me.text()
    );
    let listed = client.get("/api/articles?author=ann").await.json();
    assert_eq!(listed["articles"][0]["title"], "Kept", "{listed}");
    let login = json!({"user": {"email": "ann@example.com", "password": "password1"}});
    let logged_in = client.post_json("/api/users/login", &login).await;
    assert_eq!(logged_in.status, 200, "{}", logged_in.text());
    cms.terminate().await;
}
