//! The `?queries=` / `?count=` rule of the multi-row tests.

use serde::Deserialize;

/// The most rows one request may ask for.
const MAX_COUNT: usize = 500;

/// How many rows a request asks for, clamped as TechEmpower requires: missing, empty,
/// non-integer or below 1 is 1; above 500 is 500.
pub fn count_param(raw: Option<&str>) -> usize {
    // A negative number does not parse as `usize`, and so counts as 1 like zero does.
    raw.and_then(|raw| raw.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, MAX_COUNT)
}

/// The query string of `/queries` and `/updates`: `?queries=N`. Kept as text so that a
/// value that is not a number counts as 1 instead of being refused.
#[derive(Debug, Deserialize)]
pub struct QueriesParams {
    /// The raw `queries` value.
    pub queries: Option<String>,
}

impl QueriesParams {
    /// The clamped count (see [`count_param`]).
    pub fn count(&self) -> usize {
        count_param(self.queries.as_deref())
    }
}

/// The query string of `/cached-queries`: `?count=N`.
#[derive(Debug, Deserialize)]
pub struct CountParams {
    /// The raw `count` value.
    pub count: Option<String>,
}

impl CountParams {
    /// The clamped count (see [`count_param`]).
    pub fn count(&self) -> usize {
        count_param(self.count.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::count_param;

    #[test]
    fn clamps_as_techempower_requires() {
        assert_eq!(count_param(Some("2")), 2);
        assert_eq!(count_param(Some("0")), 1);
        assert_eq!(count_param(Some("foo")), 1);
        assert_eq!(count_param(Some("501")), 500);
        assert_eq!(count_param(Some("")), 1);
        assert_eq!(count_param(None), 1);
    }
}
