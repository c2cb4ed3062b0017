//! The fortunes page, compared as TFB compares it: parsed, then re-printed in one canonical
//! form (TFB's `FortuneHTMLParser`), so templates may differ in whitespace between tags, tag
//! case, attributes and the choice among equivalent escapes, but not in content, order or
//! escaping.

use super::{Finding, Severity};

/// The page every server must produce, in canonical form (from techempower-rules.md).
const EXPECTED: &str = include_str!("../fortunes.html");

fn expected() -> &'static str {
    EXPECTED.strip_suffix('\n').unwrap_or(EXPECTED)
}

/// The body of `/fortunes`: UTF-8, and TFB's page once normalised.
pub(crate) fn check(url: &str, body: &[u8]) -> Vec<Finding> {
    let problem = match std::str::from_utf8(body) {
        Err(err) => Some(format!("the page is not UTF-8: {err}")),
        Ok(html) => mismatch(html),
    };
    problem
        .map(|message| Finding::new(Severity::Fail, url, message))
        .into_iter()
        .collect()
}

/// `None` when `html` is the expected page; else what differs, for the finding.
fn mismatch(html: &str) -> Option<String> {
    let got = normalise(html);
    if got == expected() {
        return None;
    }
    let mut got_lines = got.lines();
    for (n, want) in expected().lines().enumerate() {
        let line = got_lines.next().unwrap_or("(nothing)");
        if line != want {
            return Some(format!(
                "the page differs from TFB's at line {}: expected `{want}`, found `{line}`",
                n + 1
            ));
        }
    }
    let extra = got_lines.next().unwrap_or_default();
    Some(format!("the page has more than TFB's, from `{extra}`"))
}

/// TFB's canonical form: tags lower-cased without attributes, a newline after `<html>`,
/// `<table>`, `</head>` and `</tr>`, whitespace-only text dropped, comments dropped, `'` `"`
/// `>` in text written `&apos;` `&quot;` `&gt;`, and character references reduced to one
/// spelling (`&#39;` / `&#x27;` → `&apos;`, `&#60;` → `&lt;`, `&#x2B;` → `+`, `&mdash;` → `—`).
pub(crate) fn normalise(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while !rest.is_empty() {
        if let Some(comment) = rest.strip_prefix("<!--") {
            rest = comment.find("-->").map_or("", |end| &comment[end + 3..]);
        } else if let Some(decl) = rest.strip_prefix("<!") {
            let (inside, after) = split_at_gt(decl);
            out.push_str(&format!("<!{}>", inside.to_lowercase()));
            rest = after;
        } else if let Some(pi) = rest.strip_prefix("<?") {
            rest = split_at_gt(pi).1;
        } else if let Some(tag) = rest.strip_prefix("</").filter(|t| starts_with_letter(t)) {
            let (inside, after) = split_at_gt(tag);
            let name = tag_name(inside);
            out.push_str(&format!("</{name}>"));
            if name == "tr" || name == "head" {
                out.push('\n');
            }
            rest = after;
        } else if let Some(tag) = rest.strip_prefix('<').filter(|t| starts_with_letter(t)) {
            let (inside, after) = split_at_gt(tag);
            let name = tag_name(inside);
            out.push_str(&format!("<{name}>"));
            if name == "table" || name == "html" {
                out.push('\n');
            }
            rest = after;
        } else if let Some((reference, after)) = reference(rest) {
            out.push_str(&reference);
            rest = after;
        } else {
            // Text runs to the next tag or reference; a lone `<` or `&` is text.
            let first = rest.chars().next().map_or(1, char::len_utf8);
            let end = rest[first..]
                .find(['<', '&'])
                .map_or(rest.len(), |i| i + first);
            let text = &rest[..end];
            if !text.trim().is_empty() {
                out.push_str(
                    &text
                        .replace('\'', "&apos;")
                        .replace('"', "&quot;")
                        .replace('>', "&gt;"),
                );
            }
            rest = &rest[end..];
        }
    }
    out
}

fn starts_with_letter(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic())
}

/// What comes before the next `>`, and what comes after it.
fn split_at_gt(s: &str) -> (&str, &str) {
    s.find('>')
        .map_or((s, ""), |end| (&s[..end], &s[end + 1..]))
}

fn tag_name(inside: &str) -> String {
    inside
        .split(|c: char| c.is_whitespace() || c == '/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// A character or entity reference at the start of `s`, canonicalised, and what follows it.
fn reference(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('&')?;
    if let Some(number) = body.strip_prefix('#') {
        let (digits, radix) = match number.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16),
            None => (number, 10),
        };
        let len = digits
            .find(|c: char| !c.is_digit(radix))
            .unwrap_or(digits.len());
        let code = u32::from_str_radix(&digits[..len], radix).ok()?;
        let after = &digits[len..];
        let after = after.strip_prefix(';').unwrap_or(after);
        let canonical = match char::from_u32(code)? {
            '"' => "&quot;".to_owned(),
            '\'' => "&apos;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            c => c.to_string(),
        };
        return Some((canonical, after));
    }
    let len = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
        .unwrap_or(body.len());
    if len == 0 || !starts_with_letter(body) {
        return None;
    }
    let (name, after) = body.split_at(len);
    let after = after.strip_prefix(';').unwrap_or(after);
    let canonical = match name {
        "mdash" => "—".to_owned(),
        name => format!("&{name};"),
    };
    Some((canonical, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expected_page_is_its_own_canonical_form() {
        assert_eq!(normalise(expected()), expected());
        assert_eq!(mismatch(EXPECTED), None);
    }

    #[test]
    fn layout_case_and_attributes_do_not_matter() {
        let html =
            "<!DOCTYPE html>\n<HTML lang=\"en\">\n  <head> <title>Fortunes</title> </head>\n";
        assert_eq!(
            normalise(html),
            "<!doctype html><html>\n<head><title>Fortunes</title></head>\n"
        );
    }

    #[test]
    fn equivalent_escapes_have_one_spelling() {
        let text = "<td>&#39;&#x27;&#039;&apos;'&#34;&#x22;&quot;\"&#60;&#x3C;&#62;>&#38;&amp;&#43;&#x30D5;&mdash;</td>";
        assert_eq!(
            normalise(text),
            "<td>&apos;&apos;&apos;&apos;&apos;&quot;&quot;&quot;&quot;&lt;&lt;&gt;&gt;&amp;&amp;+フ—</td>"
        );
    }

    #[test]
    fn a_raw_tag_in_a_message_stays_a_tag() {
        assert_eq!(
            normalise("<td><script>alert(\"x\");</script></td>"),
            "<td><script>alert(&quot;x&quot;);</script></td>"
        );
    }

    #[test]
    fn mismatch_names_the_first_differing_line() {
        let broken = EXPECTED.replace("<td>4</td>", "<td>44</td>");
        let message = mismatch(&broken).expect("a mismatch");
        assert!(message.contains("line 6"), "{message}");
        assert!(message.contains("<td>44</td>"), "{message}");
    }
}
