//! TechEmpower's verification rules (TFB's `toolset/test_types`), checked against a running
//! server before its numbers count: a fast server that breaks a rule measures nothing.
//!
//! [`verify`] checks one test type, [`verify_date_changes`] the `Date` header once per
//! server. Both return findings and never fail themselves: a refused connection, a hung
//! server or a broken response is a [`Severity::Fail`] finding naming the URL. A check that
//! could not run (no `pg_stat_statements`, no database) is a [`Severity::Note`], so the
//! report can say what was not checked.

mod checks;
mod count;
mod date;
mod fortunes;
mod queries;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::SocketAddr;

use checks::Kind;

use crate::http;
pub(crate) use date::verify_date_changes;

/// The TechEmpower test types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TestType {
    Json,
    Plaintext,
    Db,
    Queries,
    Fortunes,
    Updates,
    CachedQueries,
}

impl TestType {
    pub(crate) const ALL: [TestType; 7] = [
        TestType::Json,
        TestType::Plaintext,
        TestType::Db,
        TestType::Queries,
        TestType::Fortunes,
        TestType::Updates,
        TestType::CachedQueries,
    ];

    /// TFB's name, also the path.
    pub(crate) fn name(self) -> &'static str {
        match self {
            TestType::Json => "json",
            TestType::Plaintext => "plaintext",
            TestType::Db => "db",
            TestType::Queries => "queries",
            TestType::Fortunes => "fortunes",
            TestType::Updates => "updates",
            TestType::CachedQueries => "cached-queries",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Cached queries too: the cache is preloaded from `world`.
    pub(crate) fn needs_database(self) -> bool {
        !matches!(self, TestType::Json | TestType::Plaintext)
    }

    /// What the load generator requests (TFB's highest query level for the query tests).
    pub(crate) fn load_path(self) -> &'static str {
        match self {
            TestType::Json => "/json",
            TestType::Plaintext => "/plaintext",
            TestType::Db => "/db",
            TestType::Queries => "/queries?queries=20",
            TestType::Fortunes => "/fortunes",
            TestType::Updates => "/updates?queries=20",
            TestType::CachedQueries => "/cached-queries?count=100",
        }
    }

    fn kind(self) -> Kind {
        match self {
            TestType::Plaintext => Kind::Plaintext,
            TestType::Fortunes => Kind::Html,
            _ => Kind::Json,
        }
    }
}

/// How bad a finding is, with TFB's grading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Severity {
    /// A check that was not run, and why (not a problem of the server).
    Note,
    /// TFB accepts the server but says it should change.
    Warn,
    /// TFB rejects the server.
    Fail,
}

impl Severity {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Severity::Note => "not checked",
            Severity::Warn => "WARNING",
            Severity::Fail => "FAILED",
        }
    }
}

/// One broken rule (or skipped check) at one URL.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Finding {
    pub(crate) severity: Severity,
    pub(crate) url: String,
    pub(crate) message: String,
}

impl Finding {
    fn new(severity: Severity, url: &str, message: String) -> Self {
        Self {
            severity,
            url: url.to_owned(),
            message,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.severity.label(),
            self.url,
            self.message
        )
    }
}

/// What the verifier asks the database, answered by the caller's PostgreSQL connection.
pub(crate) trait DatabaseProbe {
    /// `SELECT randomnumber FROM world ORDER BY id`: compared before and after an update.
    fn world_numbers(&mut self) -> anyhow::Result<Vec<i32>>;
    /// The counts since the last reset; `None` when `pg_stat_statements` is not loaded.
    fn statement_stats(&mut self) -> anyhow::Result<Option<StatementStats>>;
    /// `SELECT pg_stat_statements_reset()`.
    fn reset_statement_stats(&mut self) -> anyhow::Result<()>;
}

/// Sums over `pg_stat_statements` rows whose query mentions the table, as TFB's
/// `verify_queries` does (`query ~* '\mworld\M'`, split by `query ~* 'select'` / `'update'`):
/// `calls` for the statement counts, `rows` for the row counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct StatementStats {
    pub(crate) world_selects: u64,
    pub(crate) world_rows: u64,
    pub(crate) world_updates: u64,
    pub(crate) world_updated_rows: u64,
    pub(crate) fortune_selects: u64,
    pub(crate) fortune_rows: u64,
}

/// Checks `test` against the server at `addr`. With `db`, also the rows an update changed and
/// the query counts (one query per row, as TFB requires).
pub(crate) fn verify(
    addr: SocketAddr,
    test: TestType,
    mut db: Option<&mut dyn DatabaseProbe>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    match test {
        TestType::Json => single(addr, test, &mut findings, checks::json),
        TestType::Plaintext => single(addr, test, &mut findings, checks::plaintext),
        TestType::Db => single(addr, test, &mut findings, checks::db),
        TestType::Fortunes => single(addr, test, &mut findings, fortunes::check),
        TestType::Queries => queries::cases(addr, test, "queries", None, &mut findings),
        TestType::Updates => {
            queries::cases(addr, test, "queries", db.as_deref_mut(), &mut findings);
        }
        TestType::CachedQueries => queries::cases(addr, test, "count", None, &mut findings),
    }
    findings.extend(count::check(addr, test, db));
    findings
}

fn url(addr: SocketAddr, target: &str) -> String {
    format!("http://{addr}{target}")
}

/// GETs `target` and checks what every response carries; the body when there is one to check.
fn fetch(
    addr: SocketAddr,
    target: &str,
    kind: Kind,
    findings: &mut Vec<Finding>,
) -> Option<Vec<u8>> {
    let url = url(addr, target);
    match http::get(addr, target) {
        Err(err) => {
            findings.push(Finding::new(
                Severity::Fail,
                &url,
                format!("request failed: {err:#}"),
            ));
            None
        }
        Ok(response) => {
            findings.extend(checks::headers(&url, &response, kind));
            (response.status == 200).then_some(response.body)
        }
    }
}

/// Tests with one URL: the load path.
fn single(
    addr: SocketAddr,
    test: TestType,
    findings: &mut Vec<Finding>,
    check_body: impl Fn(&str, &[u8]) -> Vec<Finding>,
) {
    let target = test.load_path();
    if let Some(body) = fetch(addr, target, test.kind(), findings) {
        findings.extend(check_body(&url(addr, target), &body));
    }
}
