//! The OpenAPI 3.1 document's types: what the router's description is made of.

use std::collections::BTreeMap;

use http::Method;
use schemars::Schema;
use serde::Serialize;
use serde_json::{Map, Value};

/// An OpenAPI 3.1 document.
#[derive(Debug, Clone, Serialize)]
pub struct OpenApi {
    /// The OpenAPI version: `3.1.0`.
    pub openapi: String,
    /// The API's title, version and description.
    pub info: Info,
    /// Every documented route, keyed by its path template (`/users/{id}`).
    pub paths: BTreeMap<String, PathItem>,
    /// The named schemas the operations refer to.
    #[serde(skip_serializing_if = "Components::is_empty")]
    pub components: Components,
}

impl OpenApi {
    /// An empty document.
    pub fn new(info: Info) -> Self {
        Self {
            openapi: "3.1.0".into(),
            info,
            paths: BTreeMap::new(),
            components: Components::default(),
        }
    }
}

/// The API's title, version and description.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Info {
    /// The API's name.
    pub title: String,
    /// The API's version (not the OpenAPI version).
    pub version: String,
    /// A longer description (CommonMark).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Info {
    /// An API named `title` at `version`.
    pub fn new(title: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            version: version.into(),
            description: None,
        }
    }

    /// Adds a description (CommonMark).
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}

/// The operations of one path, one per method.
#[derive(Debug, Clone, Default, Serialize)]
#[allow(missing_docs)]
pub struct PathItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub get: Option<Operation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub put: Option<Operation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post: Option<Operation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete: Option<Operation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Operation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head: Option<Operation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<Operation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<Operation>,
}

impl PathItem {
    /// The slot of `method`, if OpenAPI has one for it.
    pub fn operation_mut(&mut self, method: &Method) -> Option<&mut Option<Operation>> {
        Some(match *method {
            Method::GET => &mut self.get,
            Method::PUT => &mut self.put,
            Method::POST => &mut self.post,
            Method::DELETE => &mut self.delete,
            Method::OPTIONS => &mut self.options,
            Method::HEAD => &mut self.head,
            Method::PATCH => &mut self.patch,
            Method::TRACE => &mut self.trace,
            _ => return None,
        })
    }
}

/// One method of one path: what it reads and what it answers.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    /// A unique name (the handler's function name when it has one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    /// A one-line summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// A longer description (CommonMark).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Path, query, header and cookie parameters.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Parameter>,
    /// The request body, if the handler reads one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<RequestBody>,
    /// Responses by status code (`"200"`) or `"default"` (any other status).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub responses: BTreeMap<String, Response>,
}

impl Operation {
    /// Adds `parameter`, replacing one of the same name and location.
    pub fn add_parameter(&mut self, parameter: Parameter) {
        let same =
            |p: &&mut Parameter| p.name == parameter.name && p.location == parameter.location;
        match self.parameters.iter_mut().find(same) {
            Some(existing) => *existing = parameter,
            None => self.parameters.push(parameter),
        }
    }

    /// Sets the (required) request body: one media type and its schema.
    pub fn set_request_body(&mut self, media_type: &str, schema: Option<Schema>) {
        let mut content = BTreeMap::new();
        content.insert(media_type.to_owned(), MediaType { schema });
        self.request_body = Some(RequestBody {
            description: None,
            content,
            required: true,
        });
    }

    /// Adds a response for `status` (`"200"`, `"4XX"`, `"default"`). A response already
    /// there for it is combined with this one: both descriptions, every media type, and
    /// `anyOf` both schemas where one media type has two.
    pub fn add_response(&mut self, status: &str, response: Response) {
        let Some(existing) = self.responses.get_mut(status) else {
            self.responses.insert(status.to_owned(), response);
            return;
        };
        if !existing
            .description
            .split("; ")
            .any(|d| d == response.description)
        {
            existing.description.push_str("; ");
            existing.description.push_str(&response.description);
        }
        for (media_type, added) in response.content {
            let Some(present) = existing.content.get_mut(&media_type) else {
                existing.content.insert(media_type, added);
                continue;
            };
            if let (Some(a), Some(b)) = (&present.schema, added.schema)
                && *a != b
            {
                let mut any_of = Map::new();
                any_of.insert(
                    "anyOf".into(),
                    Value::Array(vec![a.clone().to_value(), b.to_value()]),
                );
                present.schema = Some(any_of.into());
            }
        }
    }

    /// Whether a response other than an error (1xx-3xx, or `default`) is documented.
    pub(crate) fn has_success(&self) -> bool {
        self.responses
            .keys()
            .any(|k| k == "default" || k.starts_with(['1', '2', '3']))
    }
}

/// One parameter of an operation.
#[derive(Debug, Clone, Serialize)]
pub struct Parameter {
    /// Its name (case-sensitive).
    pub name: String,
    /// Where it is: path, query, header or cookie.
    #[serde(rename = "in")]
    pub location: ParameterIn,
    /// Whether a request must have it (path parameters always do).
    pub required: bool,
    /// What it means.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its type.
    pub schema: Schema,
}

/// Where a [`Parameter`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum ParameterIn {
    Path,
    Query,
    Header,
    Cookie,
}

/// A request body: its media types and whether it must be sent.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RequestBody {
    /// What it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Schemas by media type.
    pub content: BTreeMap<String, MediaType>,
    /// Whether a request must have it.
    pub required: bool,
}

/// One possible response.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Response {
    /// What it means (required by OpenAPI).
    pub description: String,
    /// Schemas by media type; empty for a response without a body.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub content: BTreeMap<String, MediaType>,
}

impl Response {
    /// A response without a body.
    pub fn new(description: impl Into<String>) -> Self {
        Self {
            description: description.into(),
            content: BTreeMap::new(),
        }
    }

    /// Adds a body of `media_type`, with `schema` if there is one.
    pub fn content(mut self, media_type: &str, schema: Option<Schema>) -> Self {
        self.content
            .insert(media_type.to_owned(), MediaType { schema });
        self
    }
}

/// The schema of one media type.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MediaType {
    /// The body's JSON Schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<Schema>,
}

/// Reusable parts of the document: the named schemas.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Components {
    /// Schemas by name, as `#/components/schemas/{name}` refers to them.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub schemas: Map<String, Value>,
}

impl Components {
    fn is_empty(&self) -> bool {
        self.schemas.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_for_one_status_combine() {
        let mut op = Operation::default();
        let string: Schema = serde_json::from_value(serde_json::json!({"type": "string"})).unwrap();
        let int: Schema = serde_json::from_value(serde_json::json!({"type": "integer"})).unwrap();
        op.add_response(
            "400",
            Response::new("a").content("application/json", Some(string)),
        );
        op.add_response(
            "400",
            Response::new("b").content("application/json", Some(int)),
        );
        op.add_response("400", Response::new("a"));
        let res = &op.responses["400"];
        assert_eq!(res.description, "a; b");
        let schema = res.content["application/json"].schema.as_ref().unwrap();
        assert_eq!(
            schema.get("anyOf").and_then(Value::as_array).map(Vec::len),
            Some(2)
        );
    }
}
