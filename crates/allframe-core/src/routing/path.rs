//! Route patterns: AllFrame accepts `/users/:id`, `/users/{id}`, `/files/*rest` and
//! `/files/{*rest}`, and hands matchit its own `{id}` / `{*rest}` syntax.

/// A route pattern translated for matchit, with its parameter names in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    pub(crate) matchit: String,
    pub(crate) names: Vec<Box<str>>,
}

/// Translates and checks a route pattern; the error says what is wrong with it.
pub(crate) fn parse(path: &str) -> Result<Pattern, String> {
    if !path.starts_with('/') {
        return Err("a route must start with `/`".into());
    }
    let segments: Vec<&str> = path[1..].split('/').collect();
    let mut matchit = String::with_capacity(path.len() + 4);
    let mut names: Vec<Box<str>> = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        matchit.push('/');
        let (name, wildcard) = if let Some(name) = segment.strip_prefix(':') {
            (name, false)
        } else if let Some(name) = segment.strip_prefix('*') {
            (name, true)
        } else if let Some(inner) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            match inner.strip_prefix('*') {
                Some(name) => (name, true),
                None => (inner, false),
            }
        } else {
            if segment.contains(['{', '}']) {
                return Err(format!(
                    "segment `{segment}`: a parameter must be a whole segment, `{{name}}` or `:name`"
                ));
            }
            matchit.push_str(segment);
            continue;
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "segment `{segment}`: a parameter name must be letters, digits and `_`"
            ));
        }
        if names.iter().any(|n| &**n == name) {
            return Err(format!("parameter `{name}` appears twice"));
        }
        if wildcard && !last {
            return Err(format!("wildcard `{segment}` must be the last segment"));
        }
        matchit.push('{');
        if wildcard {
            matchit.push('*');
        }
        matchit.push_str(name);
        matchit.push('}');
        names.push(name.into());
    }
    Ok(Pattern { matchit, names })
}

/// Joins a nesting prefix and a route of the nested router: `/api` + `/users` is
/// `/api/users`, and `/api` + `/` is `/api`.
pub(crate) fn join(prefix: &str, path: &str) -> String {
    let prefix = prefix.trim_end_matches('/');
    if path == "/" {
        if prefix.is_empty() {
            "/".into()
        } else {
            prefix.into()
        }
    } else {
        format!("{prefix}{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(path: &str) -> (String, Vec<String>) {
        let p = parse(path).unwrap();
        (p.matchit, p.names.into_iter().map(String::from).collect())
    }

    #[test]
    fn translates_both_syntaxes() {
        assert_eq!(ok("/"), ("/".into(), vec![]));
        assert_eq!(ok("/users/:id"), ("/users/{id}".into(), vec!["id".into()]));
        assert_eq!(ok("/users/{id}/posts/{post_id}").1, vec!["id", "post_id"]);
        assert_eq!(
            ok("/files/*rest"),
            ("/files/{*rest}".into(), vec!["rest".into()])
        );
        assert_eq!(
            ok("/files/{*rest}"),
            ("/files/{*rest}".into(), vec!["rest".into()])
        );
    }

    #[test]
    fn rejects_bad_patterns_with_a_reason() {
        assert!(parse("users").unwrap_err().contains("start with `/`"));
        assert!(
            parse("/files/*rest/more")
                .unwrap_err()
                .contains("last segment")
        );
        assert!(parse("/a/:id/b/{id}").unwrap_err().contains("twice"));
        assert!(parse("/a/:").unwrap_err().contains("parameter name"));
        assert!(parse("/a/x{id}").unwrap_err().contains("whole segment"));
    }

    #[test]
    fn joins_prefixes() {
        assert_eq!(join("/api", "/users"), "/api/users");
        assert_eq!(join("/api/", "/users"), "/api/users");
        assert_eq!(join("/api", "/"), "/api");
        assert_eq!(join("/", "/"), "/");
    }
}
