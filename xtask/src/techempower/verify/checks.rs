//! The checks of single responses, with TFB's severities: the headers every response
//! carries, and the body of each test type.

use serde_json::Value;

use super::Finding;
use super::Severity::{self, Fail, Warn};
use crate::http::Response;

/// What a test's Content-Type must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Json,
    Html,
    Plaintext,
}

impl Kind {
    /// TFB's pattern, quoted in findings so the fix is plain.
    fn pattern(self) -> &'static str {
        match self {
            Kind::Json => "^application/json(; ?charset=(UTF|utf)-8)?$",
            Kind::Html => "^text/html; ?charset=(UTF|utf)-8$",
            Kind::Plaintext => "^text/plain(; ?charset=(UTF|utf)-8)?$",
        }
    }

    /// [`Kind::pattern`], matched by hand.
    fn matches(self, content_type: &str) -> bool {
        let (mime, charset_required) = match self {
            Kind::Json => ("application/json", false),
            Kind::Html => ("text/html", true),
            Kind::Plaintext => ("text/plain", false),
        };
        let Some(rest) = content_type.strip_prefix(mime) else {
            return false;
        };
        if rest.is_empty() {
            return !charset_required;
        }
        let charset = rest
            .strip_prefix(';')
            .map(|r| r.strip_prefix(' ').unwrap_or(r));
        matches!(charset, Some("charset=UTF-8" | "charset=utf-8"))
    }
}

/// What every response must carry: status 200, `Server`, `Date`, `Content-Type` of the right
/// kind, a size header that agrees with the body.
pub(crate) fn headers(url: &str, response: &Response, kind: Kind) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut add = |severity, message: String| findings.push(Finding::new(severity, url, message));
    if response.status != 200 {
        add(Fail, format!("status {}, expected 200", response.status));
    }
    for name in ["Server", "Date", "Content-Type"] {
        if response.header(name).is_none() {
            add(Fail, format!("required response header missing: {name}"));
        }
    }
    if response.header("content-length").is_none() && response.header("transfer-encoding").is_none()
    {
        add(
            Fail,
            "required size header missing: send Content-Length or Transfer-Encoding".to_owned(),
        );
    }
    if let Some(problem) = &response.framing_problem {
        add(
            Fail,
            format!("Content-Length does not match the body: {problem}"),
        );
    }
    if let Some(date) = response.header("date")
        && httpdate::parse_http_date(date).is_err()
    {
        add(
            Warn,
            format!("Date `{date}` is not an HTTP date like `Sun, 06 Nov 1994 08:49:37 GMT`"),
        );
    }
    if let Some(content_type) = response.header("content-type")
        && !kind.matches(content_type)
    {
        add(
            Fail,
            format!(
                "Content-Type `{content_type}` does not match `{}`",
                kind.pattern()
            ),
        );
    }
    findings
}

/// `{"message": "Hello, World!"}`, keys and values compared lower-cased.
pub(crate) fn json(url: &str, body: &[u8]) -> Vec<Finding> {
    let fail = |message: String| vec![Finding::new(Fail, url, message)];
    let value = match parse(body) {
        Ok(value) => value,
        Err(message) => return fail(message),
    };
    let Value::Object(object) = value else {
        return fail(format!("expected a JSON object, found {}", excerpt(&value)));
    };
    let Some(message) = object
        .iter()
        .find(|(k, _)| k.to_lowercase() == "message")
        .map(|(_, v)| v)
    else {
        return fail("missing required key `message`".to_owned());
    };
    if message.as_str().map(str::to_lowercase).as_deref() != Some("hello, world!") {
        return fail(format!("expected message `Hello, World!`, found {message}"));
    }
    let extra: Vec<&str> = object
        .keys()
        .filter(|k| k.to_lowercase() != "message")
        .map(String::as_str)
        .collect();
    if extra.is_empty() {
        return Vec::new();
    }
    vec![Finding::new(
        Warn,
        url,
        format!("too many keys, consider removing: {}", extra.join(", ")),
    )]
}

/// `Hello, World!` (compared lower-cased), nothing more.
pub(crate) fn plaintext(url: &str, body: &[u8]) -> Vec<Finding> {
    let lower = body.to_ascii_lowercase();
    let expected = b"hello, world!";
    if !lower.windows(expected.len()).any(|w| w == expected) {
        return vec![Finding::new(
            Fail,
            url,
            format!("expected `Hello, World!`, found `{}`", excerpt_bytes(body)),
        )];
    }
    let extra = body.len() - expected.len();
    if extra == 0 {
        return Vec::new();
    }
    vec![Finding::new(
        Warn,
        url,
        format!("{extra} bytes more than `Hello, World!`"),
    )]
}

/// One world object (a one-element array is tolerated with a warning, as TFB does).
pub(crate) fn db(url: &str, body: &[u8]) -> Vec<Finding> {
    let value = match parse(body) {
        Ok(value) => value,
        Err(message) => return vec![Finding::new(Fail, url, message)],
    };
    let mut findings = Vec::new();
    let world = match value {
        Value::Array(items) => {
            findings.push(Finding::new(
                Warn,
                url,
                "the response is a JSON array, expected a JSON object".to_owned(),
            ));
            items.into_iter().next().unwrap_or(Value::Null)
        }
        value => value,
    };
    findings.extend(world_object(url, &world, Fail));
    findings
}

/// A JSON array of `expected` worlds; `severity` is how bad a wrong count or item is.
pub(crate) fn worlds(url: &str, body: &[u8], expected: usize, severity: Severity) -> Vec<Finding> {
    let value = match parse(body) {
        Ok(value) => value,
        Err(message) => return vec![Finding::new(Fail, url, message)],
    };
    let Value::Array(items) = value else {
        let mut findings = vec![Finding::new(
            Warn,
            url,
            "the response is a JSON object, expected an array".to_owned(),
        )];
        findings.extend(world_object(url, &value, severity));
        return findings;
    };
    let mut findings = Vec::new();
    if items.len() != expected {
        findings.push(Finding::new(
            severity,
            url,
            format!(
                "the JSON array has {} items, expected {expected}",
                items.len()
            ),
        ));
    }
    // The first wrong item says what is wrong; 500 copies of it would not say more.
    if let Some((index, problems)) = items
        .iter()
        .enumerate()
        .map(|(i, item)| (i, world_object(url, item, severity)))
        .find(|(_, problems)| !problems.is_empty())
    {
        findings.extend(problems.into_iter().map(|mut finding| {
            finding.message = format!("item {index}: {}", finding.message);
            finding
        }));
    }
    findings
}

/// `{"id": 1..=10000, "randomNumber": 1..=10000}`, keys compared lower-cased. As in TFB a
/// missing or non-integer key is `severity`, an extra key or a value out of range a warning.
fn world_object(url: &str, value: &Value, severity: Severity) -> Vec<Finding> {
    let Value::Object(object) = value else {
        return vec![Finding::new(
            severity,
            url,
            format!("expected a JSON object, found {}", excerpt(value)),
        )];
    };
    let mut findings = Vec::new();
    let field = |name: &str| {
        object
            .iter()
            .find(|(k, _)| k.to_lowercase() == name)
            .map(|(_, v)| v)
    };
    for name in ["id", "randomnumber"] {
        match field(name) {
            None => findings.push(Finding::new(
                severity,
                url,
                format!("missing required key `{name}`"),
            )),
            Some(v) => match v.as_i64() {
                None => findings.push(Finding::new(
                    severity,
                    url,
                    format!("`{name}` is {v}, not an integer"),
                )),
                Some(n) if !(1..=10_000).contains(&n) => findings.push(Finding::new(
                    Warn,
                    url,
                    format!("`{name}` is {n}, outside 1..=10000"),
                )),
                Some(_) => {}
            },
        }
    }
    let extra: Vec<&str> = object
        .keys()
        .filter(|k| !matches!(k.to_lowercase().as_str(), "id" | "randomnumber"))
        .map(String::as_str)
        .collect();
    if !extra.is_empty() {
        findings.push(Finding::new(
            Warn,
            url,
            format!("extra keys in the world object: {}", extra.join(", ")),
        ));
    }
    findings
}

fn parse(body: &[u8]) -> Result<Value, String> {
    if body.is_empty() {
        return Err("empty body".to_owned());
    }
    serde_json::from_slice(body)
        .map_err(|err| format!("the body is not JSON ({err}): `{}`", excerpt_bytes(body)))
}

/// A value shortened for a message.
fn excerpt(value: &Value) -> String {
    shorten(&value.to_string())
}

fn excerpt_bytes(body: &[u8]) -> String {
    shorten(&String::from_utf8_lossy(body))
}

fn shorten(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_follow_tfb_patterns() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "application/json;charset=UTF-8",
        ] {
            assert!(Kind::Json.matches(ok), "{ok}");
        }
        for bad in [
            "text/plain",
            "application/json; charset=latin1",
            "application/json;  charset=utf-8",
            "application/jsonx",
        ] {
            assert!(!Kind::Json.matches(bad), "{bad}");
        }
        assert!(Kind::Html.matches("text/html; charset=utf-8"));
        assert!(Kind::Html.matches("text/html;charset=UTF-8"));
        assert!(!Kind::Html.matches("text/html"));
        assert!(Kind::Plaintext.matches("text/plain"));
        assert!(!Kind::Plaintext.matches("text/html"));
    }

    #[test]
    fn world_objects_are_checked_case_insensitively() {
        let url = "http://x/db";
        assert!(db(url, br#"{"id":1,"randomNumber":10000}"#).is_empty());
        assert!(db(url, br#"{"ID":5,"RANDOMNUMBER":7}"#).is_empty());
        let warned = db(url, br#"[{"id":1,"randomNumber":2}]"#);
        assert!(
            warned.len() == 1 && warned[0].severity == Warn,
            "{warned:?}"
        );
        let missing = db(url, br#"{"id":1}"#);
        assert!(missing[0].severity == Fail && missing[0].message.contains("randomnumber"));
        let string = db(url, br#"{"id":"1","randomNumber":2}"#);
        assert!(string[0].severity == Fail, "{string:?}");
    }
}
