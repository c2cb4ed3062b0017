//! The real binary: the public RealWorld suites, unchanged (today's Hurl files, run by hurl,
//! and the Postman collection before them, run by newman) against `cms` on a fresh data
//! directory and on PostgreSQL, and a restart that keeps users, articles and tokens.

use std::process::Command;

use allframe::cqrs::Storage;
use allframe_test::{Client, RunningBinary, TestPostgres};
use serde_json::json;

const CMS: &str = env!("CARGO_BIN_EXE_cms");
/// The newman the README's command runs.
const NEWMAN: &str = "newman@6.2.2";

/// Whether newman runs here; if not, says SKIPPED for `test` and why. npx fetches newman
/// from the npm registry once; without npx or the registry there is nothing to run the
/// suite with.
fn newman_runs(test: &str) -> bool {
    let probe = Command::new("npx")
        .args(["--yes", NEWMAN, "--version"])
        .output();
    let runs = probe.as_ref().is_ok_and(|o| o.status.success());
    if !runs {
        eprintln!("SKIPPED: {test}: `npx --yes {NEWMAN}` does not run: {probe:?}");
    }
    runs
}

/// Whether the `hurl` CLI runs here; if not, says SKIPPED for `test` and why (`.ci/run`
/// installs it with `cargo install hurl`).
fn hurl_runs(test: &str) -> bool {
    let probe = Command::new("hurl").arg("--version").output();
    let runs = probe.as_ref().is_ok_and(|o| o.status.success());
    if !runs {
        eprintln!("SKIPPED: {test}: `hurl --version` does not run: {probe:?}");
    }
    runs
}

/// The README's hurl command, every file of the suite in its order, against the CMS binary
/// started with `env`.
async fn hurl_suite_passes_against(env: &[(&str, &str)]) {
    let cms = RunningBinary::start_with_env(CMS, env).await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/realworld/hurl");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("the suite's directory")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "hurl"))
        .collect();
    files.sort();
    assert!(files.len() >= 13, "the suite's files: {files:?}");
    let out = Command::new("hurl")
        .args(["--test", "--jobs", "1", "--no-color"])
        .args(["--variable", &format!("host=http://{}", cms.addr())])
        // Not newman's `conduit`: both suites register `celeb_<name>` in one store.
        .args(["--variable", "uid=hurl"])
        .args(&files)
        .output()
        .expect("running hurl");
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the RealWorld Hurl suite failed:\n{report}"
    );
    // hurl aligns its summary with spaces: `Succeeded files:   13 (100.0%)`.
    let summary = report.split_whitespace().collect::<Vec<_>>().join(" ");
    let all = format!("Succeeded files: {} (100.0%)", files.len());
    assert!(summary.contains(&all), "not every file ran: {report}");
    cms.terminate().await;
}

/// The README's newman command against the CMS binary started with `env`.
async fn suite_passes_against(env: &[(&str, &str)]) {
    let cms = RunningBinary::start_with_env(CMS, env).await;
    let collection = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/realworld/Conduit.postman_collection.json"
    );
    let api = format!("APIURL=http://{}/api", cms.addr());
    let out = Command::new("npx")
        .args(["--yes", NEWMAN, "run", collection])
        .args(["--delay-request", "1", "--reporters", "cli"])
        .args(["--global-var", &api, "--global-var", "USERNAME=conduit"])
        .args(["--global-var", "EMAIL=conduit@example.com"])
        .args(["--global-var", "PASSWORD=password1"])
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
async fn the_public_realworld_suite_passes() {
    if !newman_runs("the_public_realworld_suite_passes") {
        return;
    }
    let data = tempfile::tempdir().expect("a temporary directory");
    let data_dir = data.path().to_str().expect("a UTF-8 path");
    suite_passes_against(&[("ALLFRAME_DATA", data_dir), ("DATABASE_URL", "")]).await;
}

#[tokio::test]
async fn the_public_realworld_hurl_suite_passes() {
    if !hurl_runs("the_public_realworld_hurl_suite_passes") {
        return;
    }
    let data = tempfile::tempdir().expect("a temporary directory");
    let data_dir = data.path().to_str().expect("a UTF-8 path");
    hurl_suite_passes_against(&[("ALLFRAME_DATA", data_dir), ("DATABASE_URL", "")]).await;
}

/// Both suites on PostgreSQL, in schemas of this test's own (`ALLFRAME_SCHEMA_PREFIX`),
/// removed at the end.
#[tokio::test]
async fn the_public_realworld_suite_passes_on_postgres() {
    let test = "the_public_realworld_suite_passes_on_postgres";
    let Some(storage) = TestPostgres::connect(test, &["events", "names"]).await else {
        return;
    };
    let (newman, hurl) = (newman_runs(test), hurl_runs(test));
    if !newman && !hurl {
        return;
    }
    let Storage::Postgres { url, schema_prefix } = &*storage else {
        unreachable!("TestPostgres is PostgreSQL");
    };
    let data = tempfile::tempdir().expect("a temporary directory");
    let data_dir = data.path().to_str().expect("a UTF-8 path");
    let env = [
        ("ALLFRAME_DATA", data_dir),
        ("DATABASE_URL", url.as_str()),
        ("ALLFRAME_SCHEMA_PREFIX", schema_prefix.as_str()),
    ];
    // One suite after the other on the same store: the second starts on the first's events.
    if newman {
        suite_passes_against(&env).await;
    }
    if hurl {
        hurl_suite_passes_against(&env).await;
    }
    // The events are in this test's schema, not in the CMS's default one.
    let events = storage
        .open::<cms::domain::CmsEvent>("events")
        .await
        .expect("the test's store opens");
    let written = events.read_all(0, 1).await.expect("readable");
    assert_eq!(written.len(), 1, "the suite's events are in {}", *storage);
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
