//! The query tests (`queries`, `updates`, `cached-queries`): TFB's parameter cases, and for
//! `updates` the rows the largest case changed in the database.

use std::net::SocketAddr;

use super::checks::{self, Kind};
use super::{DatabaseProbe, Finding, Severity, TestType, fetch, url};

/// TFB's cases for the query tests: the parameter clamped to 1..=500, anything else 1. A
/// wrong count fails, except above 500, which warns (as in TFB).
pub(super) fn cases(
    addr: SocketAddr,
    test: TestType,
    parameter: &str,
    mut db: Option<&mut (dyn DatabaseProbe + '_)>,
    findings: &mut Vec<Finding>,
) {
    let path = test.load_path().split('?').next().unwrap_or_default();
    for (value, expected, severity) in [
        ("2", 2, Severity::Fail),
        ("0", 1, Severity::Fail),
        ("foo", 1, Severity::Fail),
        ("501", 500, Severity::Warn),
        ("", 1, Severity::Fail),
    ] {
        let target = format!("{path}?{parameter}={value}");
        let url = url(addr, &target);
        // TFB compares the table around the largest case only: a single row may be given its
        // old number again.
        let before = match db.as_deref_mut() {
            Some(db) if expected == 500 => match db.world_numbers() {
                Ok(numbers) => Some(numbers),
                Err(err) => {
                    findings.push(Finding::new(
                        Severity::Fail,
                        &url,
                        format!("reading world before the update failed: {err:#}"),
                    ));
                    None
                }
            },
            _ => None,
        };
        if let Some(body) = fetch(addr, &target, Kind::Json, findings) {
            findings.extend(checks::worlds(&url, &body, expected, severity));
        }
        if let (Some(before), Some(db)) = (before, db.as_deref_mut()) {
            findings.extend(rows_changed(&url, &before, db.world_numbers(), expected));
        }
    }
    if test == TestType::Updates && db.is_none() {
        findings.push(Finding::new(
            Severity::Note,
            &url(addr, path),
            "rows changed by an update not checked: no database to ask".to_owned(),
        ));
    }
}

/// TFB's `verify_updates`: at most 90% of the rows changed fails, at most 95% warns (an id
/// drawn twice, or a number drawn again, leaves a few unchanged).
fn rows_changed(
    url: &str,
    before: &[i32],
    after: anyhow::Result<Vec<i32>>,
    expected: usize,
) -> Option<Finding> {
    let after = match after {
        Ok(after) => after,
        Err(err) => {
            return Some(Finding::new(
                Severity::Fail,
                url,
                format!("reading world after the update failed: {err:#}"),
            ));
        }
    };
    let changed = before.iter().zip(&after).filter(|(b, a)| b != a).count();
    let severity = if changed * 10 <= expected * 9 {
        Severity::Fail
    } else if changed * 20 <= expected * 19 {
        Severity::Warn
    } else {
        return None;
    };
    Some(Finding::new(
        severity,
        url,
        format!("{changed} rows of world changed, about {expected} expected"),
    ))
}
