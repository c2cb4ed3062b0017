//! `cargo xtask report` run as a user runs it, on a history written the way the gates write
//! it, and its page opened from disk in Debian's chromium (headless): every chart drawn, a
//! hover that names the commit, the `#a..b` comparison, no network request, a screenshot.
//!
//! Without chromium the test prints SKIPPED and why; `cargo xtask test` then leaves this
//! binary out, so nextest counts it as skipped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use headless_chrome::protocol::cdp::types::Event;
use headless_chrome::protocol::cdp::{Network, Page};
use headless_chrome::{Browser, LaunchOptions};
use serde_json::{Value, json};

fn chromium() -> Option<PathBuf> {
    // Debian's chromium here; the Chrome GitHub's runners carry.
    ["/usr/bin/chromium", "/usr/bin/google-chrome"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The last `n` commits of HEAD's history, oldest first: (hash, subject).
fn recent_commits(n: usize) -> Vec<(String, String)> {
    let out = Command::new("git")
        .args([
            "log",
            "--topo-order",
            &format!("-{n}"),
            "--format=%H%x1f%s",
            "HEAD",
        ])
        .current_dir(root())
        .output()
        .expect("git runs");
    let mut commits: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('\x1f'))
        .map(|(h, s)| (h.to_owned(), s.to_owned()))
        .collect();
    commits.reverse();
    commits
}

/// Lines of gates this repository does not have, so nothing committed mixes in: an exact
/// count that steps up at `step`, and a noisy throughput that only wobbles.
fn write_history(dir: &Path, commits: &[(String, String)], step: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let lines: Vec<String> = commits
        .iter()
        .enumerate()
        .flat_map(|(i, (hash, subject))| {
            let wobble = [0.0, 2.0, -1.0, 3.0, -2.0][i % 5];
            let stepped = if i >= step { 1500 } else { 1000 };
            let fingerprint = json!({"rustc": "rustc 1.95.0", "target": "x86_64-unknown-linux-gnu",
                                     "cpu": "Test CPU", "cores": 2, "kernel": "6.18"});
            [
                json!({"format": 2, "gate": "browsertest", "unix_time": 1_900_000_000 + i,
                       "commit": hash, "subject": subject, "dirty": false, "fingerprint": fingerprint,
                       "units": {}, "figures": {"stepped": stepped},
                       "verdicts": {"stepped": "ok"}}),
                json!({"format": 2, "gate": "bench", "unix_time": 1_900_000_000 + i,
                       "commit": hash, "subject": subject, "dirty": false, "fingerprint": fingerprint,
                       "units": {}, "figures": {"browsertest/flat": {"value": 1e6 + wobble * 1e4,
                       "low": 0.98e6 + wobble * 1e4, "high": 1.02e6 + wobble * 1e4}},
                       "verdicts": {"browsertest/flat": "ok"}}),
            ]
        })
        .map(|v: Value| v.to_string())
        .collect();
    std::fs::write(dir.join("browsertest.jsonl"), lines.join("\n")).unwrap();
}

fn report(history: &Path, out: &Path, extra: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("report")
        .arg("--out")
        .arg(out)
        .args(extra)
        .env("ALLFRAME_HISTORY_DIR", history)
        .current_dir(root())
        .output()
        .expect("xtask runs");
    assert!(
        output.status.success(),
        "cargo xtask report failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_report_page_draws_every_chart_names_the_hovered_commit_and_fetches_nothing() {
    let Some(chromium) = chromium() else {
        eprintln!(
            "SKIPPED: no /usr/bin/chromium (nor /usr/bin/google-chrome); install it with `apt-get install -y chromium`"
        );
        return;
    };
    let commits = recent_commits(10);
    assert!(
        commits.len() >= 4,
        "the test needs a history of at least 4 commits"
    );
    let step = commits.len() - 3;
    let work = tempfile::tempdir().unwrap();
    let history = work.path().join("history");
    let out = work.path().join("report");
    write_history(&history, &commits, step);

    // The JSON finds the injected step at its commit, and nothing in the flat series.
    let json: Value = serde_json::from_str(&report(&history, &out, &["--json"])).unwrap();
    let series = json["dataset"]["series"].as_array().unwrap();
    let index = |id: &str| series.iter().position(|s| s["id"] == id).unwrap();
    let stops = json["dataset"]["stops"].as_array().unwrap();
    let stepped = &json["changes"][index("browsertest/stepped")];
    assert_eq!(stepped.as_array().unwrap().len(), 1, "{stepped}");
    let after = stepped[0]["after_stop"].as_u64().unwrap() as usize;
    assert_eq!(stops[after]["commit"], commits[step].0.as_str());
    assert_eq!(json["changes"][index("bench/browsertest/flat")], json!([]));

    let launch = LaunchOptions::default_builder()
        .path(Some(chromium))
        .sandbox(false)
        .window_size(Some((1400, 1000)))
        .build()
        .unwrap();
    let browser = Browser::new(launch).expect("chromium starts");
    let tab = browser.new_tab().unwrap();
    let requests = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = requests.clone();
    tab.add_event_listener(Arc::new(move |event: &Event| {
        if let Event::NetworkRequestWillBeSent(e) = event {
            seen.lock().unwrap().push(e.params.request.url.clone());
        }
    }))
    .unwrap();
    tab.call_method(Network::Enable {
        max_total_buffer_size: None,
        max_resource_buffer_size: None,
        max_post_data_size: None,
        report_direct_socket_traffic: None,
        enable_durable_messages: None,
    })
    .unwrap();
    let page = format!("file://{}", out.join("index.html").display());
    tab.navigate_to(&page)
        .unwrap()
        .wait_until_navigated()
        .unwrap();

    let eval = |script: &str| -> Value {
        tab.evaluate(script, false)
            .unwrap_or_else(|e| panic!("{script}: {e}"))
            .value
            .unwrap_or(Value::Null)
    };
    // Every chart is an SVG with drawn points (a stack, with its areas).
    let charts: Value = serde_json::from_str(
        eval(
            r#"JSON.stringify([...document.querySelectorAll("figure.chart")].map(f => ({
        series: f.dataset.series || null,
        points: f.querySelectorAll("svg circle:not(.hovered)").length,
        areas: f.querySelectorAll("svg polygon, svg path").length,
    })))"#,
        )
        .as_str()
        .unwrap(),
    )
    .unwrap();
    let charts = charts.as_array().unwrap();
    assert_eq!(
        charts.iter().filter(|c| !c["series"].is_null()).count(),
        series.len(),
        "one chart per series"
    );
    for chart in charts {
        let drawn = chart["points"].as_u64().unwrap() + chart["areas"].as_u64().unwrap();
        assert!(drawn > 0, "a chart drew nothing: {chart}");
    }

    // Hover the stepped series' last point: the tooltip names its commit's subject.
    let at: Value = serde_json::from_str(
        eval(
            r#"(() => {
        const figure = document.querySelector('figure.chart[data-series="browsertest/stepped"]');
        figure.scrollIntoView({block: "center"});
        const chart = data.charts[Number(figure.dataset.chart)];
        const hover = chart.hover[chart.hover.length - 1];
        const svg = figure.querySelector("svg");
        const point = svg.createSVGPoint();
        point.x = hover.x; point.y = hover.y;
        const client = point.matrixTransform(svg.getScreenCTM());
        return JSON.stringify({x: client.x, y: client.y});
    })()"#,
        )
        .as_str()
        .unwrap(),
    )
    .unwrap();
    tab.move_mouse_to_point(headless_chrome::browser::tab::point::Point {
        x: at["x"].as_f64().unwrap(),
        y: at["y"].as_f64().unwrap(),
    })
    .unwrap();
    let tooltip = eval(
        r#"document.getElementById("tooltip").hidden ? "" : document.getElementById("tooltip").textContent"#,
    );
    let last = commits.last().unwrap();
    assert!(
        tooltip.as_str().unwrap().contains(&last.1),
        "the tooltip should name `{}`: {tooltip}",
        last.1
    );

    // `#a..b` compares the two commits: the stepped figure is worse, the flat one unchanged.
    let a = &commits[step - 1].0[..8];
    let b = &commits[step].0[..8];
    eval(&format!("location.hash = '{a}..{b}'"));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let rows = eval(
        r##"[...document.querySelectorAll("#comparison tr")].map(r => r.textContent).join("\n")"##,
    );
    let rows = rows.as_str().unwrap();
    assert!(
        rows.contains("browsertest: stepped")
            && rows
                .lines()
                .any(|r| r.contains("stepped") && r.ends_with("worse")),
        "{rows}"
    );
    assert!(
        rows.lines()
            .any(|r| r.contains("browsertest/flat") && r.ends_with("unchanged")),
        "{rows}"
    );
    // One band per chart, drawn over the white background, not hidden under it.
    let bands = eval(
        r##"[...document.querySelectorAll("rect.range")].filter(b => b.previousElementSibling.getAttribute("fill") === "#FFFFFF").length"##,
    );
    assert_eq!(bands.as_u64().unwrap() as usize, charts.len());

    let png = tab
        .capture_screenshot(Page::CaptureScreenshotFormatOption::Png, None, None, true)
        .unwrap();
    // Kept after the test, in cargo's directory for integration tests' files.
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-in-browser.png");
    std::fs::write(&shot, png).unwrap();
    eprintln!("screenshot: {}", shot.display());

    let resources = eval(r#"performance.getEntriesByType("resource").length"#);
    assert_eq!(resources.as_u64(), Some(0), "the page loaded resources");
    let requests = requests.lock().unwrap();
    // The listener saw the page itself: it would have seen anything else.
    assert!(
        requests.iter().any(|u| u.starts_with(&page)),
        "{requests:?}"
    );
    let others: Vec<&String> = requests.iter().filter(|u| !u.starts_with(&page)).collect();
    assert!(others.is_empty(), "the page made requests: {others:?}");
}
