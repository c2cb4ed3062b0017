//! Small SVG badges of the headline figures, in the two-part shape shields.io draws, for the
//! README (served from the published report). Twenty lines of SVG did not justify a
//! dependency.

use super::Report;
use super::page::escape;
use super::series::Series;

/// Name (the file is `badges/<name>.svg`) and SVG of every badge with a figure.
pub(crate) fn all(report: &Report) -> Vec<(&'static str, String)> {
    let latest = |id: &str| -> Option<(&Series, f64)> {
        let series = report.dataset.series(id)?;
        Some((series, series.points.last()?.value))
    };
    // A full TechEmpower run when there is one, else the smoke run CI makes.
    let techempower = [
        "techempower/json/axum/cpu",
        "techempower/json/axum/cpu/smoke",
    ]
    .into_iter()
    .find_map(latest);
    [
        ("size-default", "size (default)", latest("size/default")),
        ("size-full", "size (full)", latest("size/full")),
        ("techempower-axum", "CPU/req vs axum", techempower),
        (
            "heap-per-event",
            "heap per event",
            latest("memory/memory_store/bytes_per_event"),
        ),
    ]
    .into_iter()
    .filter_map(|(name, label, figure)| {
        let (series, value) = figure?;
        Some((name, badge(label, &series.unit.format(value))))
    })
    .collect()
}

fn badge(label: &str, value: &str) -> String {
    // Verdana 11 px averages about 7 px a character.
    let width = |text: &str| text.chars().count() as u32 * 7 + 10;
    let (left, right) = (width(label), width(value));
    let total = left + right;
    let (label, value) = (escape(label), escape(value));
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" aria-label="{label}: {value}"><title>{label}: {value}</title><rect width="{left}" height="20" fill="#555"/><rect x="{left}" width="{right}" height="20" fill="#2b7bb9"/><g fill="#fff" text-anchor="middle" font-family="Verdana,sans-serif" font-size="11"><text x="{lx}" y="14">{label}</text><text x="{rx}" y="14">{value}</text></g></svg>"##,
        lx = left / 2,
        rx = left + right / 2,
    )
}
