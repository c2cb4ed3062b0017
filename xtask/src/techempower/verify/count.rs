//! TFB's query-count check: the database's own statistics (`pg_stat_statements`) must show
//! one query per row read, so a server cannot cache, batch rows into `IN (...)`, or skip
//! work, and still pass.

use std::net::SocketAddr;

use anyhow::{Context, Result};

use super::Severity::{Fail, Note, Warn};
use super::{DatabaseProbe, Finding, StatementStats, TestType, url};
use crate::http;

/// Requests sent for one check (TFB sends 512; 64 shows the same thing on two cores).
pub(crate) const REQUESTS: u64 = 64;
const THREADS: u64 = 4;
/// Rows per request of the `queries` and `updates` load paths (`?queries=20`).
const ROWS_PER_REQUEST: u64 = 20;
/// A count above this percentage of the expected one is reported as waste. (TFB uses 105%;
/// 150% keeps the warning for real waste, such as a query repeated per row.)
const EXCESS_PERCENT: u64 = 150;

/// One figure and the least it must be.
struct Bound {
    what: &'static str,
    figure: fn(&StatementStats) -> u64,
    least: u64,
    /// What a server doing the expected work shows; far above it is waste.
    expected: u64,
}

impl Bound {
    fn new(what: &'static str, figure: fn(&StatementStats) -> u64, least: u64) -> Self {
        Self::between(what, figure, least, least)
    }

    /// `least` to `EXCESS_PERCENT` of `expected`, for a figure that may legitimately be below
    /// `expected`.
    fn between(
        what: &'static str,
        figure: fn(&StatementStats) -> u64,
        least: u64,
        expected: u64,
    ) -> Self {
        Self {
            what,
            figure,
            least,
            expected,
        }
    }
}

/// What `REQUESTS` requests of the test's load path must show; `None` for tests that do not
/// query (json, plaintext) or must not (cached-queries).
fn bounds(test: TestType) -> Option<Vec<Bound>> {
    let rows = REQUESTS * ROWS_PER_REQUEST;
    Some(match test {
        TestType::Db => vec![
            Bound::new("world queries", |s| s.world_selects, REQUESTS),
            Bound::new("world rows read", |s| s.world_rows, REQUESTS),
        ],
        TestType::Queries => vec![
            Bound::new("world queries", |s| s.world_selects, rows),
            Bound::new("world rows read", |s| s.world_rows, rows),
        ],
        TestType::Fortunes => vec![
            Bound::new("fortune queries", |s| s.fortune_selects, REQUESTS),
            Bound::new("fortune rows read", |s| s.fortune_rows, REQUESTS * 12),
        ],
        TestType::Updates => vec![
            Bound::new("world queries", |s| s.world_selects, rows),
            Bound::new("world rows read", |s| s.world_rows, rows),
            // One bulk UPDATE per request, or one per row: both are allowed.
            Bound::between("world updates", |s| s.world_updates, REQUESTS, rows),
            // A bulk UPDATE merges an id drawn twice; TFB allows 5% fewer rows for it.
            Bound::between(
                "world rows updated",
                |s| s.world_updated_rows,
                rows * 95 / 100,
                rows,
            ),
        ],
        TestType::Json | TestType::Plaintext | TestType::CachedQueries => return None,
    })
}

/// Resets the statistics, sends `REQUESTS` requests of the test's load path, and compares.
pub(crate) fn check(
    addr: SocketAddr,
    test: TestType,
    probe: Option<&mut dyn DatabaseProbe>,
) -> Vec<Finding> {
    let Some(bounds) = bounds(test) else {
        return Vec::new();
    };
    let target = test.load_path();
    let url = url(addr, target);
    let Some(probe) = probe else {
        return vec![Finding::new(
            Note,
            &url,
            "query counts not checked: no database to ask".to_owned(),
        )];
    };
    measure(addr, target, &url, probe, &bounds).unwrap_or_else(|err| {
        vec![Finding::new(
            Fail,
            &url,
            format!("query counts: asking the database failed: {err:#}"),
        )]
    })
}

fn measure(
    addr: SocketAddr,
    target: &str,
    url: &str,
    probe: &mut dyn DatabaseProbe,
    bounds: &[Bound],
) -> Result<Vec<Finding>> {
    if probe.statement_stats()?.is_none() {
        return Ok(vec![Finding::new(
            Note,
            url,
            "query counts not checked: pg_stat_statements is not loaded \
             (shared_preload_libraries = 'pg_stat_statements')"
                .to_owned(),
        )]);
    }
    probe.reset_statement_stats()?;
    let mut findings = load(addr, target, url);
    let stats = probe
        .statement_stats()?
        .context("pg_stat_statements went away during the check")?;
    for bound in bounds {
        let got = (bound.figure)(&stats);
        if got < bound.least {
            findings.push(Finding::new(
                Fail,
                url,
                format!(
                    "only {got} {} in pg_stat_statements for {REQUESTS} requests, at least {} expected",
                    bound.what, bound.least
                ),
            ));
        } else if got > bound.expected * EXCESS_PERCENT / 100 {
            findings.push(Finding::new(
                Warn,
                url,
                format!(
                    "{got} {} in pg_stat_statements for {REQUESTS} requests, more than {EXCESS_PERCENT}% of the {} expected",
                    bound.what, bound.expected
                ),
            ));
        }
    }
    Ok(findings)
}

/// `REQUESTS` requests from `THREADS` threads; a failed one is a finding (TFB: failed
/// transactions).
fn load(addr: SocketAddr, target: &str, url: &str) -> Vec<Finding> {
    let errors: Vec<String> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                scope.spawn(|| {
                    (0..REQUESTS / THREADS)
                        .filter_map(|_| match http::get(addr, target) {
                            Ok(response) if response.status == 200 => None,
                            Ok(response) => Some(format!("status {}", response.status)),
                            Err(err) => Some(format!("{err:#}")),
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| {
                t.join()
                    .unwrap_or_else(|_| vec!["a request thread panicked".to_owned()])
            })
            .collect()
    });
    match errors.first() {
        None => Vec::new(),
        Some(first) => vec![Finding::new(
            Fail,
            url,
            format!(
                "{} of {REQUESTS} requests failed during the query count, the first: {first}",
                errors.len()
            ),
        )],
    }
}
