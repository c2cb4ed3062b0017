//! How bad a gate's finding is: shared by the size and memory gates.

use serde::Serialize;

/// How bad a finding is. A failure makes the gate exit non-zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Level {
    Ok,
    /// Above one of our own goals: reported, never failed.
    AboveGoal,
    Warning,
    Failure,
}

impl Level {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::AboveGoal => "above goal",
            Level::Warning => "WARNING",
            Level::Failure => "FAILED",
        }
    }
}
