//! The `/docs` page: Scalar's API reference reading the document the router serves.

use super::SCALAR_SCRIPT;

/// The HTML of the API reference page for the document at `spec_url`.
pub(crate) fn scalar_page(title: &str, spec_url: &str) -> String {
    // The URL goes into a script as a JSON string; `<` escaped so it cannot close the tag.
    let url = serde_json::to_string(spec_url)
        .expect("a string serializes")
        .replace('<', "\\u003c");
    let title = escape_html(title);
    format!(
        r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
</head>
<body>
<div id="app"></div>
<script src="{SCALAR_SCRIPT}"></script>
<script>Scalar.createApiReference("#app", {{ url: {url} }})</script>
</body>
</html>
"##
    )
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_loads_the_pinned_script_and_the_document() {
        let page = scalar_page("Pets <&> API", "/api/openapi.json");
        assert!(page.contains(&format!(r#"<script src="{SCALAR_SCRIPT}"></script>"#)));
        assert!(page.contains(r#"url: "/api/openapi.json""#));
        assert!(page.contains("<title>Pets &lt;&amp;&gt; API</title>"));
    }
}
