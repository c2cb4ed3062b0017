//! The verifier against a fixture server on a real socket: a TFB-compliant fixture passes
//! every test, and each rule broken on purpose is caught with its own finding.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::*;

const JSON: &str = "application/json";
const HTML: &str = "text/html; charset=utf-8";

/// The fortune table (TFB's rows, unescaped).
const FORTUNES: [(i32, &str); 12] = [
    (1, "fortune: No such file or directory"),
    (
        2,
        "A computer scientist is someone who fixes things that aren't broken.",
    ),
    (3, "After enough decimal places, nobody gives a damn."),
    (
        4,
        "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1",
    ),
    (
        5,
        "A computer program does what you tell it to do, not what you want it to do.",
    ),
    (
        6,
        "Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen",
    ),
    (7, "Any program that runs right is obsolete."),
    (
        8,
        "A list is only as strong as its weakest link. — Donald Knuth",
    ),
    (9, "Feature: A bug with seniority."),
    (10, "Computers make very fast, very accurate mistakes."),
    (
        11,
        "<script>alert(\"This should not be displayed in a browser alert box.\");</script>",
    ),
    (12, "フレームワークのベンチマーク"),
];

/// The fixture's database: the world table and the statistics its requests add up to.
#[derive(Debug)]
struct FakeDb {
    world: Mutex<Vec<i32>>,
    stats: Mutex<StatementStats>,
    stats_loaded: bool,
}

impl FakeDb {
    fn count(&self, add: impl FnOnce(&mut StatementStats)) {
        add(&mut self.stats.lock().unwrap());
    }

    fn world_selects(&self, rows: u64) {
        self.count(|s| {
            s.world_selects += rows;
            s.world_rows += rows;
        });
    }
}

/// The test's side of the fake database: scaffolding, not the thing under test.
#[derive(Debug)]
struct Probe(Arc<FakeDb>);

impl DatabaseProbe for Probe {
    fn world_numbers(&mut self) -> anyhow::Result<Vec<i32>> {
        Ok(self.0.world.lock().unwrap().clone())
    }

    fn statement_stats(&mut self) -> anyhow::Result<Option<StatementStats>> {
        Ok(self.0.stats_loaded.then(|| *self.0.stats.lock().unwrap()))
    }

    fn reset_statement_stats(&mut self) -> anyhow::Result<()> {
        *self.0.stats.lock().unwrap() = StatementStats::default();
        Ok(())
    }
}

/// A raw response: built TFB-compliant, then broken one rule at a time.
#[derive(Debug, Clone)]
struct Canned {
    status: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Canned {
    fn new(content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        let body = body.into();
        Self {
            status: "200 OK",
            headers: vec![
                ("Server", "fixture".to_owned()),
                ("Date", httpdate::fmt_http_date(SystemTime::now())),
                ("Content-Type", content_type.to_owned()),
                ("Content-Length", body.len().to_string()),
            ],
            body,
        }
    }

    fn without(mut self, name: &str) -> Self {
        self.headers.retain(|(n, _)| *n != name);
        self
    }

    fn with(self, name: &'static str, value: impl Into<String>) -> Self {
        let mut canned = self.without(name);
        canned.headers.push((name, value.into()));
        canned
    }

    fn bytes(&self) -> Vec<u8> {
        let mut raw = format!("HTTP/1.1 {}\r\n", self.status);
        for (name, value) in &self.headers {
            raw.push_str(&format!("{name}: {value}\r\n"));
        }
        raw.push_str("\r\n");
        let mut raw = raw.into_bytes();
        raw.extend_from_slice(&self.body);
        raw
    }
}

/// Serves `respond(target, db)` on 127.0.0.1, one request per connection.
fn serve(respond: impl Fn(&str, &FakeDb) -> Canned + Send + Sync + 'static) -> (SocketAddr, Probe) {
    serve_with(true, respond)
}

fn serve_with(
    stats_loaded: bool,
    respond: impl Fn(&str, &FakeDb) -> Canned + Send + Sync + 'static,
) -> (SocketAddr, Probe) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let db = Arc::new(FakeDb {
        world: Mutex::new((1..=10_000).map(|id| id % 97 + 1).collect()),
        stats: Mutex::new(StatementStats::default()),
        stats_loaded,
    });
    let respond = Arc::new(respond);
    let server_db = Arc::clone(&db);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (respond, db) = (Arc::clone(&respond), Arc::clone(&server_db));
            std::thread::spawn(move || answer(stream, |target| respond(target, &db)));
        }
    });
    (addr, Probe(db))
}

/// Reads one request entirely (so closing does not reset the connection) and answers it.
fn answer(mut stream: TcpStream, respond: impl Fn(&str) -> Canned) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut request = Vec::new();
    let mut chunk = [0; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&chunk[..n]),
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Request::new(&mut headers);
    parsed.parse(&request).unwrap();
    let canned = respond(parsed.path.unwrap());
    let _ = stream.write_all(&canned.bytes());
}

/// The fixture as TFB wants it.
fn good(target: &str, db: &FakeDb) -> Canned {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let count = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("queries=").or(kv.strip_prefix("count=")))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, 500);
    match path {
        "/json" => Canned::new(JSON, r#"{"message":"Hello, World!"}"#),
        "/plaintext" => Canned::new("text/plain", "Hello, World!"),
        "/db" => {
            db.world_selects(1);
            Canned::new(JSON, world(42, 4242))
        }
        "/queries" | "/cached-queries" | "/updates" => Canned::new(JSON, worlds(path, count, db)),
        "/fortunes" => {
            db.count(|s| {
                s.fortune_selects += 1;
                s.fortune_rows += 12;
            });
            Canned::new(HTML, fortunes_page(escape, true))
        }
        _ => Canned {
            status: "404 Not Found",
            ..Canned::new("text/plain", "")
        },
    }
}

fn world(id: usize, number: i32) -> String {
    format!(r#"{{"id":{id},"randomNumber":{number}}}"#)
}

/// `count` distinct worlds; `/updates` gives each a new number, as a real server would.
fn worlds(path: &str, count: usize, db: &FakeDb) -> String {
    let ids: Vec<usize> = (0..count).map(|i| i * 19 % 10_000 + 1).collect();
    let mut table = db.world.lock().unwrap();
    if path == "/updates" {
        for &id in &ids {
            table[id - 1] = table[id - 1] % 10_000 + 1;
        }
        db.count(|s| {
            s.world_updates += 1;
            s.world_updated_rows += count as u64;
        });
    }
    if path != "/cached-queries" {
        db.world_selects(count as u64);
    }
    let items: Vec<String> = ids.iter().map(|&id| world(id, table[id - 1])).collect();
    format!("[{}]", items.join(","))
}

/// What an HTML template escapes (askama's choice of references).
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
}

/// The page laid out as a template would: indented, newlines between tags.
fn fortunes_page(escape: fn(&str) -> String, sorted: bool) -> String {
    let mut rows: Vec<(i32, String)> = FORTUNES
        .iter()
        .map(|(id, m)| (*id, (*m).to_owned()))
        .collect();
    rows.push((0, "Additional fortune added at request time.".to_owned()));
    if sorted {
        rows.sort_by(|a, b| a.1.cmp(&b.1));
    }
    let mut page = "<!DOCTYPE html>\n<html>\n<head><title>Fortunes</title></head>\n<body>\n<table>\n  <tr><th>id</th><th>message</th></tr>\n".to_owned();
    for (id, message) in rows {
        page.push_str(&format!(
            "  <tr><td>{id}</td><td>{}</td></tr>\n",
            escape(&message)
        ));
    }
    page.push_str("</table>\n</body>\n</html>\n");
    page
}

/// Findings other than notes.
fn problems(findings: &[Finding]) -> Vec<&Finding> {
    findings
        .iter()
        .filter(|f| f.severity != Severity::Note)
        .collect()
}

/// `findings` holds one of `severity` whose message contains `needle`.
#[track_caller]
fn assert_found(findings: &[Finding], severity: Severity, needle: &str) {
    assert!(
        findings
            .iter()
            .any(|f| f.severity == severity && f.message.contains(needle)),
        "expected a {severity:?} finding with `{needle}`, found: {findings:#?}"
    );
}

#[test]
fn a_compliant_server_passes_every_test() {
    let (addr, mut probe) = serve(good);
    for test in TestType::ALL {
        let findings = verify(addr, test, Some(&mut probe));
        assert!(findings.is_empty(), "{}: {findings:#?}", test.name());
    }
}

#[test]
fn a_date_rendered_every_second_passes() {
    let (addr, _) = serve(good);
    let findings = verify_date_changes(addr);
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn a_missing_date_fails() {
    let (addr, _) = serve(|t, db| good(t, db).without("Date"));
    assert_found(
        &verify(addr, TestType::Json, None),
        Severity::Fail,
        "missing: Date",
    );
    assert_found(&verify_date_changes(addr), Severity::Fail, "missing: Date");
}

#[test]
fn a_cached_date_fails() {
    let (addr, _) = serve(|t, db| good(t, db).with("Date", "Sun, 06 Nov 1994 08:49:37 GMT"));
    let start = Instant::now();
    assert_found(&verify_date_changes(addr), Severity::Fail, "stayed");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_missing_server_header_fails() {
    let (addr, _) = serve(|t, db| good(t, db).without("Server"));
    assert_found(
        &verify(addr, TestType::Plaintext, None),
        Severity::Fail,
        "missing: Server",
    );
}

#[test]
fn json_served_as_text_plain_fails() {
    let (addr, _) = serve(|t, db| good(t, db).with("Content-Type", "text/plain"));
    assert_found(
        &verify(addr, TestType::Json, None),
        Severity::Fail,
        "Content-Type `text/plain` does not match",
    );
}

#[test]
fn html_without_charset_fails() {
    let (addr, _) = serve(|t, db| good(t, db).with("Content-Type", "text/html"));
    let findings = verify(addr, TestType::Fortunes, None);
    assert_found(
        &findings,
        Severity::Fail,
        "Content-Type `text/html` does not match",
    );
    assert_eq!(problems(&findings).len(), 1, "{findings:#?}");
}

#[test]
fn a_content_length_that_disagrees_with_the_body_fails() {
    let (addr, _) = serve(|t, db| good(t, db).with("Content-Length", "10"));
    assert_found(
        &verify(addr, TestType::Plaintext, None),
        Severity::Fail,
        "3 more bytes followed",
    );
    let (addr, _) = serve(|t, db| good(t, db).with("Content-Length", "20"));
    assert_found(
        &verify(addr, TestType::Plaintext, None),
        Severity::Fail,
        "the connection closed after 13 body bytes",
    );
}

#[test]
fn a_response_without_a_size_header_fails() {
    let (addr, _) = serve(|t, db| good(t, db).without("Content-Length"));
    let findings = verify(addr, TestType::Plaintext, None);
    assert_found(&findings, Severity::Fail, "size header missing");
    assert_eq!(problems(&findings).len(), 1, "{findings:#?}");
}

#[test]
fn a_chunked_response_is_read() {
    let (addr, _) = serve(|t, db| {
        let mut canned = good(t, db)
            .without("Content-Length")
            .with("Transfer-Encoding", "chunked");
        canned.body = b"5\r\n{\"mes\r\n16\r\nsage\":\"Hello, World!\"}\r\n0\r\n\r\n".to_vec();
        canned
    });
    let findings = verify(addr, TestType::Json, None);
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn a_wrong_json_body_fails() {
    let (addr, _) = serve(|_, _| Canned::new(JSON, r#"{"message":"Hello, Word!"}"#));
    assert_found(
        &verify(addr, TestType::Json, None),
        Severity::Fail,
        "expected message",
    );
    let (addr, _) = serve(|_, _| Canned::new(JSON, r#"{"msg":"Hello, World!"}"#));
    assert_found(
        &verify(addr, TestType::Json, None),
        Severity::Fail,
        "missing required key",
    );
}

#[test]
fn unsorted_fortunes_fail() {
    let (addr, _) = serve(|_, _| Canned::new(HTML, fortunes_page(escape, false)));
    assert_found(
        &verify(addr, TestType::Fortunes, None),
        Severity::Fail,
        "differs from TFB's",
    );
}

#[test]
fn unescaped_fortunes_fail() {
    let (addr, _) = serve(|_, _| Canned::new(HTML, fortunes_page(str::to_owned, true)));
    assert_found(
        &verify(addr, TestType::Fortunes, None),
        Severity::Fail,
        "found `<tr><td>11</td><td><script>",
    );
}

#[test]
fn fortunes_escaped_with_numeric_references_pass() {
    fn numeric(text: &str) -> String {
        text.replace('&', "&#38;")
            .replace('<', "&#60;")
            .replace('>', "&#x3E;")
            .replace('"', "&#34;")
            .replace('\'', "&#39;")
    }
    let (addr, _) = serve(|_, _| Canned::new(HTML, fortunes_page(numeric, true)));
    let findings = verify(addr, TestType::Fortunes, None);
    assert!(problems(&findings).is_empty(), "{findings:#?}");
}

#[test]
fn unclamped_queries_fail() {
    // `queries=0` answered with no rows instead of one.
    let (addr, _) = serve(|t, db| {
        if t == "/queries?queries=0" {
            Canned::new(JSON, "[]")
        } else {
            good(t, db)
        }
    });
    let findings = verify(addr, TestType::Queries, None);
    assert_found(&findings, Severity::Fail, "has 0 items, expected 1");
}

#[test]
fn more_than_500_queries_warn() {
    let (addr, _) = serve(|t, db| {
        if t == "/queries?queries=501" {
            let items: Vec<String> = (1..=501).map(|id| world(id, 7)).collect();
            Canned::new(JSON, format!("[{}]", items.join(",")))
        } else {
            good(t, db)
        }
    });
    let findings = verify(addr, TestType::Queries, None);
    assert_found(&findings, Severity::Warn, "has 501 items, expected 500");
    assert!(
        findings.iter().all(|f| f.severity != Severity::Fail),
        "{findings:#?}"
    );
}

#[test]
fn a_world_out_of_range_is_reported() {
    let (addr, _) = serve(|_, _| Canned::new(JSON, world(10_001, 0)));
    let findings = verify(addr, TestType::Db, None);
    assert_found(
        &findings,
        Severity::Warn,
        "`id` is 10001, outside 1..=10000",
    );
    assert_found(
        &findings,
        Severity::Warn,
        "`randomnumber` is 0, outside 1..=10000",
    );
}

#[test]
fn updates_that_change_nothing_fail() {
    // The update is answered but never written.
    let (addr, mut probe) = serve(|t, db| good(&t.replace("/updates", "/queries"), db));
    let findings = verify(addr, TestType::Updates, Some(&mut probe));
    assert_found(&findings, Severity::Fail, "0 rows of world changed");
    assert_found(&findings, Severity::Fail, "only 0 world updates");
}

#[test]
fn a_cached_db_answer_fails_the_query_count() {
    let (addr, mut probe) = serve(|t, db| match t {
        "/db" => Canned::new(JSON, world(42, 4242)),
        _ => good(t, db),
    });
    let findings = verify(addr, TestType::Db, Some(&mut probe));
    assert_found(&findings, Severity::Fail, "only 0 world queries");
}

#[test]
fn a_query_count_without_pg_stat_statements_is_a_note() {
    let (addr, mut probe) = serve_with(false, good);
    let findings = verify(addr, TestType::Fortunes, Some(&mut probe));
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_found(
        &findings,
        Severity::Note,
        "pg_stat_statements is not loaded",
    );
}

#[test]
fn a_refused_connection_fails() {
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let findings = verify(addr, TestType::Json, None);
    assert_found(&findings, Severity::Fail, "request failed");
    assert_eq!(findings[0].url, format!("http://{addr}/json"));
}

#[test]
fn a_hung_server_fails_within_the_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let held: Vec<TcpStream> = listener.incoming().flatten().collect();
        drop(held);
    });
    let start = Instant::now();
    assert_found(
        &verify(addr, TestType::Plaintext, None),
        Severity::Fail,
        "no complete response within 5 s",
    );
    assert!(
        start.elapsed() < Duration::from_secs(7),
        "{:?}",
        start.elapsed()
    );
}
