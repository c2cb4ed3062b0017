//! Result tables: printed on the terminal, and appended as markdown to
//! `$GITHUB_STEP_SUMMARY` when that is set (GitHub renders it on the run's page).

use std::io::Write;

use anyhow::{Context, Result};

/// A table with a header row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Table {
    pub(crate) title: String,
    pub(crate) header: Vec<String>,
    pub(crate) rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(title: &str, header: &[&str]) -> Self {
        Self {
            title: title.to_owned(),
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn widths(&self) -> Vec<usize> {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        widths
    }

    /// Aligned plain text.
    pub(crate) fn to_text(&self) -> String {
        let widths = self.widths();
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            padded.join("  ").trim_end().to_owned()
        };
        let mut out = format!("{}\n{}\n", self.title, line(&self.header));
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        out.push_str(&rule.join("  "));
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row));
            out.push('\n');
        }
        out
    }

    /// A GitHub-flavoured markdown table under a heading.
    pub(crate) fn to_markdown(&self) -> String {
        let mut out = format!("### {}\n\n| {} |\n", self.title, self.header.join(" | "));
        out.push_str(&format!("|{}\n", "---|".repeat(self.header.len())));
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        out
    }

    /// Prints the table and appends it to `$GITHUB_STEP_SUMMARY` when that is set.
    pub(crate) fn publish(&self) -> Result<()> {
        eprintln!("\n{}", self.to_text());
        if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("opening $GITHUB_STEP_SUMMARY ({})", path.display()))?;
            writeln!(file, "{}", self.to_markdown())
                .with_context(|| format!("writing $GITHUB_STEP_SUMMARY ({})", path.display()))?;
        }
        Ok(())
    }
}

/// A command's report as JSON on stdout (`--json`).
#[allow(
    clippy::print_stdout,
    reason = "the JSON report is the command's output"
)]
pub(crate) fn print_json<T: serde::Serialize>(report: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(report)?);
    Ok(())
}

/// A command's text output on stdout (`report --markdown`), as written.
#[allow(clippy::print_stdout, reason = "the text is the command's output")]
pub(crate) fn print_text(text: &str) -> Result<()> {
    use std::io::Write;
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("writing to stdout")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        let mut t = Table::new("cargo xtask ci", &["step", "status", "seconds"]);
        t.row(vec!["fmt".into(), "ok".into(), "0.4".into()]);
        t.row(vec!["clippy".into(), "FAILED".into(), "12.0".into()]);
        t
    }

    #[test]
    fn text_columns_line_up() {
        let text = table().to_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "step    status  seconds");
        assert_eq!(lines[3], "fmt     ok      0.4");
        assert_eq!(lines[4], "clippy  FAILED  12.0");
    }

    #[test]
    fn markdown_is_a_table_with_escaped_pipes() {
        let mut t = table();
        t.row(vec!["a|b".into(), "ok".into(), "1".into()]);
        let md = t.to_markdown();
        assert!(
            md.starts_with("### cargo xtask ci\n\n| step | status | seconds |\n|---|---|---|\n")
        );
        assert!(md.contains("| a\\|b | ok | 1 |"));
    }
}
