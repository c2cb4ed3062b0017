//! The report over a written history: lines go to a directory as the gates write them, and
//! are read back, placed on an axis and searched for change points.

use super::axis::Commit;
use super::*;

fn commits(n: usize) -> Vec<Commit> {
    (0..n)
        .map(|i| Commit {
            hash: format!("{i:04x}{}", "0".repeat(36)),
            unix_time: 1_795_000_000 + i as u64 * 3600,
            subject: format!("change number {i}"),
        })
        .collect()
}

fn line(gate: &str, commit: &Commit, cpu: &str, figures: serde_json::Value) -> String {
    serde_json::json!({
        "format": 2, "gate": gate, "unix_time": commit.unix_time + 60,
        "commit": commit.hash, "subject": commit.subject, "dirty": false,
        "fingerprint": {"rustc": "rustc 1.95.0", "target": "x86_64-unknown-linux-gnu",
                        "cpu": cpu, "cores": 2, "kernel": "6.18"},
        "units": {}, "figures": figures, "verdicts": {"default": "ok"},
    })
    .to_string()
}

/// 30 commits: the default binary grows by 2 KiB at commit 20, throughput only wobbles,
/// instructions wobble by 0.05% and rise 5% at commit 25.
fn stepped_history() -> (Vec<Commit>, Report) {
    let commits = commits(30);
    let mut size = String::new();
    let mut bench = String::new();
    let mut instructions = String::new();
    for (i, commit) in commits.iter().enumerate() {
        let bytes = if i >= 20 { 873_776 } else { 871_728 };
        let wobble = [0.0, 3.0, -2.0, 4.0, -5.0, 1.0, -3.0][i % 7];
        size += &line(
            "size",
            commit,
            "AMD EPYC",
            serde_json::json!({
                "default": {"stripped_bytes": bytes, "text_bytes": 1, "crates": {"hyper": 900, "allframe_core": 400 + i}},
            }),
        );
        size.push('\n');
        let ops = 1_000_000.0 + wobble * 10_000.0;
        bench += &line(
            "bench",
            commit,
            "AMD EPYC",
            serde_json::json!({
                "router/static": {"value": ops, "low": ops * 0.97, "high": ops * 1.03},
            }),
        );
        bench.push('\n');
        let instr = 1780.0 * (1.0 + wobble * 0.0001) * if i >= 25 { 1.05 } else { 1.0 };
        instructions += &line(
            "instructions",
            commit,
            "AMD EPYC",
            serde_json::json!({
                "command_bus/execute": instr,
            }),
        );
        instructions.push('\n');
    }
    let report = report_of(
        &commits,
        &[
            ("size.jsonl", size),
            ("bench.jsonl", bench),
            ("instructions.jsonl", instructions),
        ],
        &Annotations::default(),
        &mut Vec::new(),
    );
    (commits, report)
}

/// The report of `files` (file name, lines) written as a history directory and read back.
fn report_of(
    commits: &[Commit],
    files: &[(&str, String)],
    annotations: &Annotations,
    warnings: &mut Vec<String>,
) -> Report {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let (runs, unread) = runs::read_dir(dir.path()).unwrap();
    assert!(unread.is_empty(), "{unread:?}");
    Report::build(commits, runs, annotations, warnings, "now".into())
}

fn changes_of<'a>(report: &'a Report, id: &str) -> &'a [Change] {
    let index = report
        .dataset
        .series
        .iter()
        .position(|s| s.id == id)
        .unwrap_or_else(|| panic!("no series {id}"));
    &report.changes[index]
}

#[test]
fn an_injected_step_is_found_at_its_commit_and_a_flat_noisy_series_has_none() {
    let (_, report) = stepped_history();
    assert_eq!(report.dataset.stops.len(), 30);
    let size = changes_of(&report, "size/default");
    assert_eq!(size.len(), 1, "{size:?}");
    assert_eq!((size[0].before_stop, size[0].after_stop), (19, 20));
    assert_eq!((size[0].before, size[0].after), (871_728.0, 873_776.0));
    assert!(!size[0].improvement);

    let instructions = changes_of(&report, "instructions/command_bus/execute");
    assert_eq!(instructions.len(), 1, "{instructions:?}");
    assert_eq!(instructions[0].after_stop, 25);
    assert!((instructions[0].percent() - 5.0).abs() < 0.1);

    assert!(changes_of(&report, "bench/router/static").is_empty());
    // Series come in gate order, with the stacked crates of the default configuration.
    assert_eq!(report.dataset.series[0].gate, "size");
    assert_eq!(report.dataset.stacks[0].layers[0].0, "hyper");
}

#[test]
fn points_of_another_machine_are_another_environment_and_not_a_change() {
    let commits = commits(12);
    let lines: Vec<String> = commits
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (cpu, count) = if i < 8 {
                ("AMD EPYC", 1780.0)
            } else {
                ("Intel Xeon", 1650.0)
            };
            line(
                "instructions",
                c,
                cpu,
                serde_json::json!({"sagas/two_steps": count}),
            )
        })
        .collect();
    let report = report_of(
        &commits,
        &[("instructions.jsonl", lines.join("\n"))],
        &Annotations::default(),
        &mut Vec::new(),
    );
    assert_eq!(report.dataset.environments.len(), 2);
    assert!(changes_of(&report, "instructions/sagas/two_steps").is_empty());
    let series = &report.dataset.series[0];
    let markers = series.markers(&report.dataset.environments);
    assert_eq!(markers.len(), 1, "{markers:?}");
    assert_eq!(markers[0].stop, 8);
    assert!(
        markers[0].text.contains("Intel Xeon"),
        "{}",
        markers[0].text
    );
    let points = &series.points;
    assert_eq!((points[7].environment, points[8].environment), (0, 1));
}

#[test]
fn runs_on_another_branch_are_left_out_and_uncommitted_runs_get_their_own_stop() {
    let commits = commits(3);
    let mut other = commits[0].clone();
    other.hash = "f".repeat(40);
    let dirty = line(
        "instructions",
        &commits[2],
        "AMD EPYC",
        serde_json::json!({"x": 2.0}),
    )
    .replace("\"dirty\":false", "\"dirty\":true");
    let lines = [
        line(
            "instructions",
            &commits[2],
            "AMD EPYC",
            serde_json::json!({"x": 1.0}),
        ),
        dirty,
        line(
            "instructions",
            &other,
            "AMD EPYC",
            serde_json::json!({"x": 9.0}),
        ),
    ];
    let report = report_of(
        &commits,
        &[("instructions.jsonl", lines.join("\n"))],
        &Annotations::default(),
        &mut Vec::new(),
    );
    assert_eq!(report.dataset.left_out, 1);
    let labels: Vec<String> = report.dataset.stops.iter().map(|s| s.label()).collect();
    assert_eq!(labels, ["00020000", "00020000+"]);
}

#[test]
fn the_summary_leads_with_what_moved_against_the_base_under_one_marker() {
    let (commits, report) = stepped_history();
    let text = markdown::summary(&report, &commits, Some(&commits[18].hash));
    assert!(text.starts_with(markdown::MARKER), "{text}");
    let moved = text.split("<details>").next().unwrap();
    assert!(moved.contains("**2 figures moved**"), "{text}");
    assert!(
        moved.contains("🔴 | size: default: stripped binary | 851.3 KiB | 853.3 KiB | +0.23%"),
        "{text}"
    );
    assert!(!moved.contains("router/static"), "{text}");
    assert!(
        text.contains("| bench: router/static | 1.03 M ops/s |"),
        "{text}"
    );

    let unchanged = markdown::summary(&report, &commits, Some(&commits[28].hash));
    assert!(
        !unchanged.contains("HEAD has no measurement"),
        "{unchanged}"
    );
    assert!(
        unchanged.contains("No figure moved beyond its noise."),
        "{unchanged}"
    );
    assert_eq!(markdown::sparkline(&[1.0, 1.0, 8.0]), "▁▁█");
    assert_eq!(markdown::sparkline(&[5.0, 5.0]), "▄▄");
}

#[test]
fn the_summary_never_compares_figures_of_two_machines() {
    let commits = commits(6);
    let lines: Vec<String> = commits
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (cpu, bytes) = if i < 5 {
                ("AMD EPYC", 1000)
            } else {
                ("Intel Xeon", 2000)
            };
            line(
                "size",
                c,
                cpu,
                serde_json::json!({"default": {"stripped_bytes": bytes}}),
            )
        })
        .collect();
    let report = report_of(
        &commits,
        &[("size.jsonl", lines.join("\n"))],
        &Annotations::default(),
        &mut Vec::new(),
    );
    let text = markdown::summary(&report, &commits, Some(&commits[4].hash));
    assert!(text.contains("nothing to compare"), "{text}");
    assert!(text.contains("the base was measured elsewhere"), "{text}");
}

#[test]
fn the_page_is_self_contained_and_names_every_series() {
    let (_, report) = stepped_history();
    let html = page::render(&report).unwrap();
    assert!(html.contains("Content-Security-Policy"));
    // The only address is SVG's namespace, which names and fetches nothing.
    assert_eq!(
        html.matches("http://").count(),
        html.matches("http://www.w3.org/2000/svg").count()
    );
    assert!(
        !html.contains("https://"),
        "the page must not reference anything on the network"
    );
    for series in &report.dataset.series {
        assert!(
            html.contains(&format!("data-series=\"{}\"", series.id)),
            "{}",
            series.id
        );
    }
    let badges = badges::all(&report);
    assert_eq!(badges[0].0, "size-default");
    assert!(badges[0].1.contains("853.3 KiB"), "{}", badges[0].1);
}

#[test]
fn a_typo_in_the_annotations_is_an_error_and_an_unknown_commit_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("annotations.toml");
    std::fs::write(
        &path,
        "[[annotation]]\ncommit = \"0014000\"\ntxt = \"oops\"\n",
    )
    .unwrap();
    let err = format!("{:#}", load_annotations(&path).unwrap_err());
    assert!(err.contains("txt"), "{err}");
    std::fs::write(
        &path,
        "[[annotation]]\ncommit = \"0014000\"\ntext = \"the router got a new table\"\n\
         [[annotation]]\ncommit = \"deadbeef\"\ntext = \"not here\"\n",
    )
    .unwrap();
    let annotations = load_annotations(&path).unwrap();
    let (commits, _) = stepped_history();
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = commits
        .iter()
        .map(|c| line("instructions", c, "AMD EPYC", serde_json::json!({"x": 1.0})))
        .collect();
    let mut warnings = Vec::new();
    let report = report_of(
        &commits,
        &[("instructions.jsonl", lines.join("\n"))],
        &annotations,
        &mut warnings,
    );
    assert_eq!(
        report.annotations,
        vec![(20, "the router got a new table".to_owned())]
    );
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].contains("deadbeef"), "{warnings:?}");
    assert!(
        load_annotations(&dir.path().join("none.toml"))
            .unwrap()
            .annotation
            .is_empty()
    );
}

#[test]
fn dates_are_civil_utc() {
    assert_eq!(date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_eq!(date(1_795_489_664), "Tue, 24 Nov 2026 03:07:44 GMT");
    assert_eq!(date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
}
