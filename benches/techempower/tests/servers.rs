//! The three servers as the verifier sees them: real processes on real sockets, and a real
//! PostgreSQL database made from `hello_world.sql` for the database routes.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use allframe_test::{Client, TestResponse};
use serde_json::Value;
use sqlx::{Connection, PgConnection};

/// The page TechEmpower expects, character references normalised as its verifier does (see
/// [`normalise`]): the verifier's own copy in xtask.
const FORTUNES_PAGE: &str = include_str!("../../../xtask/src/techempower/fortunes.html");

/// Askama escapes with numeric character references (`&#60;`); TechEmpower's verifier reads
/// them as the named ones (`&lt;`) before comparing pages.
fn normalise(page: &str) -> String {
    [
        ("&#34;", "&quot;"),
        ("&#38;", "&amp;"),
        ("&#39;", "&apos;"),
        ("&#60;", "&lt;"),
        ("&#62;", "&gt;"),
    ]
    .iter()
    .fold(page.to_owned(), |page, (numeric, named)| {
        page.replace(numeric, named)
    })
}

/// A running server binary, killed when the test ends, passed or not.
struct Running {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(binary: &str, database_url: Option<&str>) -> Running {
    // A free port: bind it, note it, release it for the child.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut command = Command::new(binary);
    command
        .env("ALLFRAME_ADDR", addr.to_string())
        .env_remove("DATABASE_URL")
        .stderr(Stdio::null());
    if let Some(url) = database_url {
        command.env("DATABASE_URL", url);
    }
    let running = Running {
        child: command.spawn().expect("start the server binary"),
        addr,
    };
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return running;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{binary} did not listen on {addr} within 10 s");
}

/// Asserts what every TechEmpower response needs and returns it.
async fn get(server: &Running, path: &str, content_type: &str) -> TestResponse {
    let res = Client::http1(server.addr).await.get(path).await;
    assert_eq!(res.status, 200, "{path}: {}", res.text());
    assert_eq!(res.header("content-type"), Some(content_type), "{path}");
    assert!(res.header("server").is_some(), "{path}: no Server header");
    assert!(res.header("date").is_some(), "{path}: no Date header");
    res
}

async fn worlds(server: &Running, path: &str) -> Vec<(i64, i64)> {
    let body = get(server, path, "application/json").await.json();
    let Value::Array(items) = body else {
        panic!("{path}: not an array: {body}");
    };
    items.iter().map(world).collect()
}

fn world(value: &Value) -> (i64, i64) {
    let id = value["id"].as_i64().expect("id");
    let number = value["randomNumber"].as_i64().expect("randomNumber");
    assert!((1..=10_000).contains(&id) && (1..=10_000).contains(&number));
    (id, number)
}

#[tokio::test]
async fn json_and_plaintext_need_no_database() {
    let servers = [
        (env!("CARGO_BIN_EXE_tfb-allframe"), "AllFrame"),
        (env!("CARGO_BIN_EXE_tfb-axum"), "axum"),
        (env!("CARGO_BIN_EXE_tfb-hyper"), "hyper"),
    ];
    for (binary, name) in servers {
        let server = start(binary, None).await;
        let res = get(&server, "/json", "application/json").await;
        assert_eq!(res.text(), r#"{"message":"Hello, World!"}"#);
        assert_eq!(res.header("server"), Some(name));
        let res = get(&server, "/plaintext", "text/plain; charset=utf-8")
            .await
            .text()
            .to_owned();
        assert_eq!(res, "Hello, World!", "{name}");
        let res = Client::http1(server.addr).await.get("/db").await;
        assert_eq!(res.status, 404, "{name} answers /db without a database");
    }
}

/// A database of its own, made from `hello_world.sql`, dropped at the end.
struct TestDatabase {
    admin: PgConnection,
    name: String,
    url: String,
}

impl TestDatabase {
    /// `None` (and a note saying why) when PostgreSQL cannot be reached.
    async fn create() -> Option<Self> {
        let admin_url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let mut admin = match PgConnection::connect(&admin_url).await {
            Ok(admin) => admin,
            Err(err) => {
                eprintln!("skipped: no PostgreSQL at {admin_url} ({err})");
                return None;
            }
        };
        let name = format!("tfb_test_{}", std::process::id());
        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        sqlx::raw_sql(&format!(
            "CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0"
        ))
        .execute(&mut admin)
        .await
        .unwrap();
        let mut url = url::Url::parse(&admin_url).unwrap();
        url.set_path(&name);
        Some(Self {
            admin,
            name,
            url: url.to_string(),
        })
    }

    async fn drop(mut self) {
        sqlx::raw_sql(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .execute(&mut self.admin)
            .await
            .unwrap();
    }
}

async fn count(db: &mut PgConnection, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(db)
        .await
        .unwrap()
}

#[tokio::test]
async fn database_routes_follow_techempower_rules() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let mut db = PgConnection::connect(&database.url).await.unwrap();
    for _ in 0..2 {
        sqlx::raw_sql(include_str!("../hello_world.sql"))
            .execute(&mut db)
            .await
            .unwrap();
        assert_eq!(count(&mut db, "world").await, 10_000);
        assert_eq!(count(&mut db, "fortune").await, 12);
    }
    let preloaded = allframe_techempower::Db::connect(&database.url)
        .await
        .unwrap();
    assert_eq!(
        preloaded.cached_len(),
        10_000,
        "the cache holds every world"
    );

    for binary in [
        env!("CARGO_BIN_EXE_tfb-allframe"),
        env!("CARGO_BIN_EXE_tfb-axum"),
    ] {
        let server = start(binary, Some(&database.url)).await;
        let res = get(&server, "/db", "application/json").await;
        world(&res.json());
        for (query, rows) in [("2", 2), ("0", 1), ("foo", 1), ("501", 500), ("", 1)] {
            let path = format!("/queries?queries={query}");
            assert_eq!(worlds(&server, &path).await.len(), rows, "{binary} {path}");
            let path = format!("/cached-queries?count={query}");
            assert_eq!(worlds(&server, &path).await.len(), rows, "{binary} {path}");
        }
        assert_eq!(worlds(&server, "/queries").await.len(), 1);

        let updated = worlds(&server, "/updates?queries=20").await;
        assert_eq!(updated.len(), 20);
        for (id, number) in updated {
            let stored: i32 = sqlx::query_scalar("SELECT randomnumber FROM world WHERE id = $1")
                .bind(id as i32)
                .fetch_one(&mut db)
                .await
                .unwrap();
            assert_eq!(i64::from(stored), number, "world {id} was written back");
        }

        let res = get(&server, "/fortunes", "text/html; charset=utf-8").await;
        assert_eq!(normalise(res.text()).trim_end(), FORTUNES_PAGE.trim_end());
    }
    drop(db);
    database.drop().await;
}
