//! A request mix: weighted requests (method, path, headers, body) read from a JSON file,
//! each pre-encoded once, and picked in a fixed interleaving (smooth weighted round robin)
//! so two runs of one profile send the same sequence.
//!
//! ```json
//! { "requests": [
//!     { "weight": 8, "method": "GET", "path": "/products?limit=20" },
//!     { "weight": 1, "method": "POST", "path": "/orders",
//!       "headers": ["Content-Type: application/json"], "body": "{\"sku\":\"A1\",\"quantity\":1}" }
//! ] }
//! ```

use std::path::Path;

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::args::{parse_header, parse_path};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    requests: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(default = "one")]
    weight: u32,
    #[serde(default = "get")]
    method: String,
    path: String,
    #[serde(default)]
    headers: Vec<String>,
    #[serde(default)]
    body: Option<String>,
}

fn one() -> u32 {
    1
}

fn get() -> String {
    "GET".to_owned()
}

/// The encoded requests and their weights.
#[derive(Debug, Clone)]
pub struct Mix {
    requests: Vec<Box<[u8]>>,
    weights: Vec<i64>,
    total: i64,
}

impl Mix {
    /// One request, every time.
    pub fn single(request: Vec<u8>) -> Self {
        Self {
            requests: vec![request.into_boxed_slice()],
            weights: vec![1],
            total: 1,
        }
    }

    /// Reads `path`; `host` goes in each request's Host header.
    pub fn load(path: &Path, host: &str) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the request mix {}", path.display()))?;
        Self::parse(&text, host).with_context(|| format!("in the request mix {}", path.display()))
    }

    pub fn parse(text: &str, host: &str) -> anyhow::Result<Self> {
        let file: File = serde_json::from_str(text).context(
            "expected {\"requests\": [{\"weight\", \"method\", \"path\", \"headers\", \"body\"}, ...]}",
        )?;
        if file.requests.is_empty() {
            bail!("`requests` is empty");
        }
        let mut requests = Vec::new();
        let mut weights = Vec::new();
        for (i, entry) in file.requests.iter().enumerate() {
            requests.push(
                encode(entry, host)
                    .with_context(|| format!("request {} ({})", i + 1, entry.path))?
                    .into_boxed_slice(),
            );
            if entry.weight == 0 {
                bail!(
                    "request {} ({}): weight must be at least 1",
                    i + 1,
                    entry.path
                );
            }
            weights.push(i64::from(entry.weight));
        }
        let total = weights.iter().sum();
        Ok(Self {
            requests,
            weights,
            total,
        })
    }

    /// The request bytes of `index`.
    pub fn request(&self, index: usize) -> &[u8] {
        &self.requests[index]
    }

    /// A picker that yields request indexes in the mix's proportions.
    pub fn picker(&self) -> Picker {
        Picker {
            current: vec![0; self.weights.len()],
        }
    }

    pub fn len(&self) -> usize {
        self.requests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// Smooth weighted round robin (nginx's): every pick raises each request by its weight
    /// and lowers the chosen one by the total, so weights 8:1 give eight reads, one command,
    /// spread evenly.
    pub fn next(&self, picker: &mut Picker) -> usize {
        let mut best = 0;
        for (i, weight) in self.weights.iter().enumerate() {
            picker.current[i] += weight;
            if picker.current[i] > picker.current[best] {
                best = i;
            }
        }
        picker.current[best] -= self.total;
        best
    }
}

/// The state of a mix's round robin.
#[derive(Debug, Clone)]
pub struct Picker {
    current: Vec<i64>,
}

fn encode(entry: &Entry, host: &str) -> anyhow::Result<Vec<u8>> {
    let method = &entry.method;
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        bail!("method `{method}` is not an HTTP method (GET, POST, ...)");
    }
    // The same rules as `--path` and `--header`.
    let path = parse_path(&entry.path).map_err(anyhow::Error::msg)?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for header in &entry.headers {
        parse_header(header).map_err(|e| anyhow::anyhow!("header `{header}`: {e}"))?;
        request.push_str(header);
        request.push_str("\r\n");
    }
    let body = entry.body.as_deref().unwrap_or_default();
    if entry.body.is_some() {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("Connection: keep-alive\r\n\r\n");
    request.push_str(body);
    Ok(request.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_interleave_evenly_and_requests_are_encoded_with_their_bodies() {
        let mix = Mix::parse(
            r#"{"requests": [
                {"weight": 3, "path": "/products"},
                {"weight": 1, "method": "POST", "path": "/orders",
                 "headers": ["Content-Type: application/json"], "body": "{\"n\":1}"}
            ]}"#,
            "127.0.0.1:8080",
        )
        .unwrap();
        let mut picker = mix.picker();
        let picks: Vec<usize> = (0..8).map(|_| mix.next(&mut picker)).collect();
        assert_eq!(picks, [0, 0, 1, 0, 0, 0, 1, 0]);
        assert_eq!(
            String::from_utf8_lossy(mix.request(1)),
            "POST /orders HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: application/json\r\n\
             Content-Length: 7\r\nConnection: keep-alive\r\n\r\n{\"n\":1}"
        );
    }

    #[test]
    fn a_bad_mix_is_an_error_that_says_what_is_wrong() {
        let host = "h:1";
        let error = |text: &str| format!("{:#}", Mix::parse(text, host).unwrap_err());
        assert!(error(r#"{"requests": []}"#).contains("empty"));
        assert!(error(r#"{"requests": [{"path": "x"}]}"#).contains("starts with '/'"));
        assert!(error(r#"{"requests": [{"path": "/", "weight": 0}]}"#).contains("weight"));
        assert!(error(r#"{"requests": [{"path": "/", "method": "get"}]}"#).contains("method"));
        assert!(error(r#"{"requests": [{"path": "/", "headers": ["x"]}]}"#).contains("header"));
        assert!(error(r#"{"requests": [{"path": "/", "wieght": 2}]}"#).contains("wieght"));
    }
}
