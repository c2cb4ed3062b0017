//! The `Date` header, once per server: present, an HTTP date, and rendered at least once a
//! second rather than cached.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{Finding, Severity, TestType, url};
use crate::http;

/// How long after the first response the `Date` header must have changed. TFB waits 3 s;
/// a server that renders the date once a second shows a new one within a second.
const DATE_WAIT: Duration = Duration::from_millis(1500);

/// The `Date` header is present, an HTTP date, and not cached: a response after the wall
/// clock's next second carries another one.
pub(crate) fn verify_date_changes(addr: SocketAddr) -> Vec<Finding> {
    let target = TestType::Json.load_path();
    let url = url(addr, target);
    let date = |findings: &mut Vec<Finding>| match http::get(addr, target) {
        Err(err) => {
            findings.push(Finding::new(
                Severity::Fail,
                &url,
                format!("request failed: {err:#}"),
            ));
            None
        }
        Ok(response) => {
            let date = response.header("date").map(str::to_owned);
            if date.is_none() {
                findings.push(Finding::new(
                    Severity::Fail,
                    &url,
                    "required response header missing: Date".to_owned(),
                ));
            }
            date
        }
    };
    let mut findings = Vec::new();
    let Some(first) = date(&mut findings) else {
        return findings;
    };
    if httpdate::parse_http_date(&first).is_err() {
        findings.push(Finding::new(
            Severity::Warn,
            &url,
            format!("Date `{first}` is not an HTTP date like `Sun, 06 Nov 1994 08:49:37 GMT`"),
        ));
    }
    let start = Instant::now();
    // Into the next wall-clock second, then poll: a server may re-render on its own timer.
    let into_second = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(Duration::ZERO, |d| {
            Duration::from_nanos(d.subsec_nanos().into())
        });
    std::thread::sleep(
        Duration::from_secs(1).saturating_sub(into_second) + Duration::from_millis(20),
    );
    loop {
        let Some(again) = date(&mut findings) else {
            return findings;
        };
        if again != first {
            return findings;
        }
        if start.elapsed() >= DATE_WAIT {
            findings.push(Finding::new(
                Severity::Fail,
                &url,
                format!(
                    "Date stayed `{first}` for {} ms: it must be rendered at least once a second, not cached",
                    start.elapsed().as_millis()
                ),
            ));
            return findings;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
