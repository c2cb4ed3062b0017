//! The dashboard: one self-contained `index.html`. Charts are SVG drawn by plotters; the
//! page's own small script (`page.js`) adds hover, zoom and the `#a..b` comparison from the
//! data embedded beside them. Its content security policy forbids every fetch, so the page
//! works the same opened from disk, as a CI artifact or on GitHub Pages.

use std::fmt::Write as _;

use anyhow::{Result, anyhow};
use plotters::prelude::*;
use serde::Serialize;

use super::Report;
use super::changes::Change;
use super::series::{Series, Stack, Unit};

const WIDTH: u32 = 440;
const HEIGHT: u32 = 210;
/// One colour per environment, in the order environments first appear (and per stacked
/// layer; the stack has fewer layers than colours, its last one, every other crate, grey).
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    // Not green: green and red are the change points'.
    RGBColor(227, 119, 194),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(23, 190, 207),
];
const IMPROVED: RGBColor = RGBColor(30, 150, 60);
const REGRESSED: RGBColor = RGBColor(210, 40, 40);
const NOTE: RGBColor = RGBColor(120, 60, 170);
const GREY: RGBColor = RGBColor(150, 150, 150);

/// What the script needs: where each drawn point is, what to show on hover, and every
/// figure's value per stop for the comparison table.
#[derive(Serialize)]
struct PageData<'a> {
    stops: Vec<StopData>,
    charts: Vec<ChartData>,
    figures: Vec<FigureData<'a>>,
}

#[derive(Serialize)]
struct StopData {
    commit: String,
    dirty: bool,
    label: String,
    subject: String,
    date: String,
}

#[derive(Serialize)]
struct ChartData {
    /// Pixel x of stop 0 and the pixels between two stops, and the plot's top and bottom.
    x0: f64,
    dx: f64,
    top: i32,
    bottom: i32,
    hover: Vec<Hover>,
}

#[derive(Serialize)]
struct Hover {
    x: i32,
    y: i32,
    lines: Vec<String>,
}

#[derive(Serialize)]
struct FigureData<'a> {
    title: &'a str,
    gate: &'a str,
    lower_is_better: bool,
    threshold: Option<f64>,
    /// `[stop, value, text, environment, dirty]` of each point.
    values: Vec<(usize, f64, String, usize, bool)>,
}

pub(crate) fn render(report: &Report) -> Result<String> {
    let data = &report.dataset;
    let mut charts = Vec::new();
    let mut sections = String::new();
    let mut gate = "";
    for (index, series) in data.series.iter().enumerate() {
        if series.gate != gate {
            if !gate.is_empty() {
                sections.push_str("</div></section>\n");
            }
            gate = &series.gate;
            let _ = writeln!(
                sections,
                "<section id=\"gate-{}\"><h2>{}</h2><div class=\"grid\">",
                escape(gate),
                escape(gate_title(gate))
            );
            if gate == "size" {
                for stack in &data.stacks {
                    let (svg, chart) = stack_chart(report, stack)?;
                    let legend: String = stack
                        .layers
                        .iter()
                        .enumerate()
                        .map(|(i, (name, _))| {
                            let RGBColor(r, g, b) = if i + 1 == stack.layers.len() {
                                GREY
                            } else {
                                PALETTE[i % PALETTE.len()]
                            };
                            format!(
                                "<span><i style=\"background:rgb({r},{g},{b})\"></i>{}</span>",
                                escape(name)
                            )
                        })
                        .collect();
                    let _ = writeln!(
                        sections,
                        "<figure class=\"chart\" data-chart=\"{}\"><figcaption>{}</figcaption>{svg}\
                         <div class=\"legend\">{legend}</div></figure>",
                        charts.len(),
                        escape(&stack.title)
                    );
                    charts.push(chart);
                }
            }
        }
        let changes = &report.changes[index];
        let (svg, chart) = series_chart(report, series, changes)?;
        let latest = series
            .points
            .last()
            .map(|p| series.unit.format(p.value))
            .unwrap_or_default();
        let moved: String = changes
            .iter()
            .map(|c| {
                format!(
                    "<span class=\"{}\">{:+.2}% at {}</span>",
                    if c.improvement { "better" } else { "worse" },
                    c.percent(),
                    escape(&data.stops[c.after_stop].label())
                )
            })
            .collect::<Vec<_>>()
            .join(" ");
        let _ = writeln!(
            sections,
            "<figure class=\"chart\" data-chart=\"{}\" data-series=\"{}\"><figcaption>{}\
             <b>{}</b>{moved}</figcaption>{svg}</figure>",
            charts.len(),
            escape(&series.id),
            escape(&series.title),
            escape(&latest),
        );
        charts.push(chart);
    }
    if !gate.is_empty() {
        sections.push_str("</div></section>\n");
    }

    let page_data = PageData {
        stops: data
            .stops
            .iter()
            .map(|s| StopData {
                commit: s.commit.hash.clone(),
                dirty: s.dirty,
                label: s.label(),
                subject: s.subject(),
                date: super::date(s.commit.unix_time),
            })
            .collect(),
        charts,
        figures: data
            .series
            .iter()
            .zip(&report.thresholds)
            .map(|(s, threshold)| FigureData {
                title: &s.title,
                gate: &s.gate,
                lower_is_better: s.better == super::series::Better::Lower,
                threshold: *threshold,
                values: s
                    .points
                    .iter()
                    .map(|p| {
                        (
                            p.stop,
                            p.value,
                            s.unit.format(p.value),
                            p.environment,
                            p.dirty,
                        )
                    })
                    .collect(),
            })
            .collect(),
    };
    // `<` inside a JSON string could end the script element early.
    let json = serde_json::to_string(&page_data)?.replace('<', "\\u003c");
    let options: String = data
        .stops
        .iter()
        .map(|s| {
            format!(
                "<option value=\"{0}\">{0} {1}</option>",
                escape(&s.label()),
                escape(&truncate(&s.subject(), 60))
            )
        })
        .collect();
    let environments: String = data
        .environments
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let RGBColor(r, g, b) = PALETTE[i % PALETTE.len()];
            format!(
                "<li><i style=\"background:rgb({r},{g},{b})\"></i>{}</li>",
                escape(&e.label())
            )
        })
        .collect();
    let head = data.stops.last();
    Ok(format!(
        include_str!("page.html"),
        style = include_str!("page.css"),
        script = include_str!("page.js"),
        head = escape(&head.map(|s| s.label()).unwrap_or_default()),
        head_subject = escape(&head.map(|s| s.subject()).unwrap_or_default()),
        generated = escape(&report.generated),
        stops = data.stops.len(),
        runs = report.runs,
        environments = environments,
        moves = moves_table(report),
        notes = notes_list(report),
        flamegraphs = flamegraph_list(report),
        options = options,
        sections = sections,
        data = json,
    ))
}

fn gate_title(gate: &str) -> &str {
    match gate {
        "size" => "Binary size (stripped, per feature configuration)",
        "instructions" => "Instructions per operation (callgrind)",
        "bench" => "Throughput (criterion, 95% interval)",
        "memory" => "Heap (dhat)",
        "techempower" => "TechEmpower: AllFrame against axum and hyper",
        "demos" => "Demo applications",
        "load" => "Load profiles",
        other => other,
    }
}

/// Every change point, newest first: what a reader looks for first.
fn moves_table(report: &Report) -> String {
    let data = &report.dataset;
    let mut rows: Vec<(&Series, &Change)> = data
        .series
        .iter()
        .zip(&report.changes)
        .flat_map(|(s, changes)| changes.iter().map(move |c| (s, c)))
        .collect();
    if rows.is_empty() {
        return "<p>No figure moved beyond its noise in this range.</p>".to_owned();
    }
    rows.sort_by_key(|(_, c)| std::cmp::Reverse(c.after_stop));
    let body: String = rows
        .iter()
        .map(|(s, c)| {
            let after = &data.stops[c.after_stop];
            format!(
                "<tr class=\"{}\"><td>{}</td><td><a href=\"#{}..{}\">{}..{}</a> {}</td>\
                 <td>{}</td><td>{}</td><td>{:+.2}%</td></tr>",
                if c.improvement { "better" } else { "worse" },
                escape(&s.title),
                escape(&data.stops[c.before_stop].label()),
                escape(&after.label()),
                escape(&data.stops[c.before_stop].label()),
                escape(&after.label()),
                escape(&truncate(&after.subject(), 70)),
                escape(&s.unit.format(c.before)),
                escape(&s.unit.format(c.after)),
                c.percent(),
            )
        })
        .collect();
    format!(
        "<table class=\"moves\"><tr><th>figure</th><th>commits</th><th>before</th>\
         <th>after</th><th>change</th></tr>{body}</table>"
    )
}

/// Links to the flamegraphs beside the page (navigations, not loads: the page still
/// fetches nothing).
fn flamegraph_list(report: &Report) -> String {
    if report.flamegraphs.is_empty() {
        return String::new();
    }
    let items: String = report
        .flamegraphs
        .iter()
        .map(|name| {
            format!(
                "<li><a href=\"flamegraphs/{0}\">{1}</a></li>",
                escape(name),
                escape(name.trim_end_matches(".svg"))
            )
        })
        .collect();
    format!(
        "<section id=\"profiles\"><h2>Where the time goes</h2><p>Flamegraphs of \
         <code>cargo xtask profile</code>.</p><ul class=\"notes\">{items}</ul></section>"
    )
}

fn notes_list(report: &Report) -> String {
    if report.annotations.is_empty() {
        return String::new();
    }
    let items: String = report
        .annotations
        .iter()
        .map(|(stop, text)| {
            format!(
                "<li><code>{}</code> {}</li>",
                escape(&report.dataset.stops[*stop].label()),
                escape(text)
            )
        })
        .collect();
    format!("<h2>Annotations</h2><ul class=\"notes\">{items}</ul>")
}

fn series_chart(
    report: &Report,
    series: &Series,
    changes: &[Change],
) -> Result<(String, ChartData)> {
    let data = &report.dataset;
    let values = series
        .points
        .iter()
        .flat_map(|p| [p.value, p.low.unwrap_or(p.value), p.high.unwrap_or(p.value)]);
    let (y0, y1) = y_range(values);
    let unit = series.unit;
    let mut svg = String::new();
    let mut hover = Vec::new();
    let frame;
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        let step = (y1 - y0) / 5.0;
        let mut chart = frame_chart(
            &root,
            data.stops.len(),
            y0,
            y1,
            &|v| tick(unit, *v, y0.abs().max(y1.abs()), step),
            report,
        )?;
        frame = chart_frame(&chart, y0, y1);
        let markers = series.markers(&data.environments);
        axis_marks(&mut chart, report, &markers, y0, y1)?;
        for change in changes {
            let x = (change.before_stop + change.after_stop) as f64 / 2.0;
            let colour = if change.improvement {
                IMPROVED
            } else {
                REGRESSED
            };
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x, y0), (x, y1)],
                    colour.stroke_width(2),
                )))
                .map_err(drawing)?;
        }
        // One line per environment through its committed points: two machines' figures are
        // never joined, and uncommitted runs stand alone.
        for environment in 0..data.environments.len() {
            let line: Vec<(f64, f64)> = series
                .points
                .iter()
                .filter(|p| p.environment == environment && !p.dirty)
                .map(|p| (p.stop as f64, p.value))
                .collect();
            if line.len() > 1 {
                chart
                    .draw_series(LineSeries::new(
                        line,
                        PALETTE[environment % PALETTE.len()].stroke_width(2),
                    ))
                    .map_err(drawing)?;
            }
        }
        for point in &series.points {
            let colour = PALETTE[point.environment % PALETTE.len()];
            let x = point.stop as f64;
            if let (Some(low), Some(high)) = (point.low, point.high) {
                chart
                    .draw_series(std::iter::once(ErrorBar::new_vertical(
                        x,
                        low,
                        point.value,
                        high,
                        colour,
                        5,
                    )))
                    .map_err(drawing)?;
            }
            let style = if data.stops[point.stop].dirty {
                colour.stroke_width(2)
            } else {
                colour.filled()
            };
            chart
                .draw_series(std::iter::once(Circle::new((x, point.value), 3, style)))
                .map_err(drawing)?;
            let (px, py) = chart.backend_coord(&(x, point.value));
            let stop = &data.stops[point.stop];
            let mut lines = vec![
                format!("{} {}", stop.label(), stop.subject()),
                super::date(stop.commit.unix_time),
                match (point.low, point.high) {
                    (Some(low), Some(high)) => format!(
                        "{} ({} to {})",
                        unit.format(point.value),
                        unit.format(low),
                        unit.format(high)
                    ),
                    _ => unit.format(point.value),
                },
                format!(
                    "verdict: {}",
                    point.verdict.as_deref().unwrap_or("not recorded")
                ),
                format!(
                    "{} run{} on {}, kernel {}",
                    point.runs,
                    if point.runs == 1 { "" } else { "s" },
                    data.environments[point.environment].label(),
                    point.kernel
                ),
            ];
            lines.extend(
                markers
                    .iter()
                    .filter(|m| m.stop == point.stop)
                    .map(|m| format!("machine changed: {}", m.text)),
            );
            lines.extend(
                report
                    .annotations
                    .iter()
                    .filter(|(s, _)| *s == point.stop)
                    .map(|(_, text)| format!("note: {text}")),
            );
            hover.push(Hover {
                x: px,
                y: py,
                lines,
            });
        }
        root.present().map_err(drawing)?;
    }
    Ok((svg, ChartData { hover, ..frame }))
}

fn stack_chart(report: &Report, stack: &Stack) -> Result<(String, ChartData)> {
    let data = &report.dataset;
    let totals: Vec<f64> = (0..stack.stops.len())
        .map(|i| stack.layers.iter().map(|(_, v)| v[i]).sum())
        .collect();
    let top = totals.iter().copied().fold(0.0, f64::max) * 1.08;
    let mut svg = String::new();
    let mut hover = Vec::new();
    let frame;
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        let mut chart = frame_chart(
            &root,
            data.stops.len(),
            0.0,
            top.max(1.0),
            &|v| tick(Unit::Bytes, *v, top, top.max(1.0) / 5.0),
            report,
        )?;
        frame = chart_frame(&chart, 0.0, top.max(1.0));
        // Draw the cumulative sums from the whole stack down, each layer over the last.
        for layer in (0..stack.layers.len()).rev() {
            let colour = if layer + 1 == stack.layers.len() {
                GREY
            } else {
                PALETTE[layer % PALETTE.len()]
            };
            let heights = stack.stops.iter().enumerate().map(|(i, &stop)| {
                let height: f64 = stack.layers[..=layer].iter().map(|(_, v)| v[i]).sum();
                (stop as f64, height)
            });
            chart
                .draw_series(AreaSeries::new(heights, 0.0, colour.mix(0.85)))
                .map_err(drawing)?;
        }
        for (i, &stop) in stack.stops.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(stop as f64, totals[i]));
            let s = &data.stops[stop];
            let mut lines = vec![
                format!("{} {}", s.label(), s.subject()),
                format!(".text of all crates: {}", Unit::Bytes.format(totals[i])),
            ];
            lines.extend(
                stack
                    .layers
                    .iter()
                    .map(|(name, v)| format!("{name}: {}", Unit::Bytes.format(v[i]))),
            );
            hover.push(Hover {
                x: px,
                y: py,
                lines,
            });
        }
        root.present().map_err(drawing)?;
    }
    Ok((svg, ChartData { hover, ..frame }))
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

fn frame_chart<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    stops: usize,
    y0: f64,
    y1: f64,
    y_label: &dyn Fn(&f64) -> String,
    report: &Report,
) -> Result<Chart<'a, 'b>> {
    let mut chart = ChartBuilder::on(root)
        .margin(8)
        .x_label_area_size(22)
        .y_label_area_size(62)
        .build_cartesian_2d(-0.5..(stops.max(1) as f64 - 0.5), y0..y1)
        .map_err(drawing)?;
    let x_label = |x: &f64| {
        let i = x.round();
        if (x - i).abs() > 0.01 || i < 0.0 {
            return String::new();
        }
        report
            .dataset
            .stops
            .get(i as usize)
            .map(|s| s.label()[..7.min(s.label().len())].to_owned())
            .unwrap_or_default()
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .max_light_lines(0)
        .bold_line_style(RGBColor(232, 232, 232))
        .x_labels(stops.clamp(1, 5))
        .y_labels(5)
        .x_label_formatter(&x_label)
        .y_label_formatter(y_label)
        .label_style(("sans-serif", 11))
        .draw()
        .map_err(drawing)?;
    Ok(chart)
}

fn chart_frame(chart: &Chart<'_, '_>, y0: f64, y1: f64) -> ChartData {
    let (x0, top) = chart.backend_coord(&(0.0, y1));
    let (x1, bottom) = chart.backend_coord(&(1.0, y0));
    ChartData {
        x0: f64::from(x0),
        dx: f64::from(x1 - x0),
        top,
        bottom,
        hover: Vec::new(),
    }
}

/// This series' machine changes (grey) and the annotations (purple) as vertical lines.
fn axis_marks(
    chart: &mut Chart<'_, '_>,
    report: &Report,
    markers: &[super::series::Marker],
    y0: f64,
    y1: f64,
) -> Result<()> {
    let marks = markers
        .iter()
        .map(|m| (m.stop as f64 - 0.5, GREY))
        .chain(report.annotations.iter().map(|(s, _)| (*s as f64, NOTE)));
    for (x, colour) in marks {
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(x, y0), (x, y1)],
                colour.stroke_width(1),
            )))
            .map_err(drawing)?;
    }
    Ok(())
}

fn y_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (min, max) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if min > max {
        return (0.0, 1.0);
    }
    let pad = ((max - min) * 0.1).max(max.abs() * 0.01).max(1e-9);
    (min - pad, max + pad)
}

/// A tick label in one unit for the whole axis (chosen by its largest magnitude `top`), with
/// enough decimals to tell ticks `step` apart, without the unit words the caption carries.
fn tick(unit: Unit, v: f64, top: f64, step: f64) -> String {
    let (divisor, suffix) = match unit {
        Unit::Bytes if top >= 1048576.0 => (1048576.0, " MiB"),
        Unit::Bytes if top >= 1024.0 => (1024.0, " KiB"),
        Unit::Bytes => (1.0, " B"),
        Unit::OpsPerSec if top >= 1e6 => (1e6, " M"),
        Unit::OpsPerSec if top >= 1e3 => (1e3, " k"),
        Unit::Ratio => (1.0, "×"),
        Unit::Micros => (1.0, " µs"),
        Unit::Millis => (1.0, " ms"),
        _ => (1.0, ""),
    };
    let decimals = (-(step / divisor).log10()).ceil().clamp(0.0, 4.0) as usize;
    format!("{:.decimals$}{suffix}", v / divisor)
}

fn drawing<E: std::fmt::Debug>(err: E) -> anyhow::Error {
    anyhow!("drawing a chart: {err:?}")
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(max - 1).collect::<String>())
    }
}

pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
