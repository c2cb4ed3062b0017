//! The OpenAPI 3.1 document of a router (the `openapi` feature), beside the kernel as aide
//! sits beside axum: the kernel's traits know nothing of it, so turning the feature on
//! changes no bound anywhere.
//!
//! A route is described when its handler is routed with this module's [`routing`]
//! functions (`openapi::routing::get(handler)` instead of `routing::get(handler)`): its
//! extractors add parameters, a request body and the error responses their rejections
//! answer ([`OperationInput`]); its output adds the responses ([`OperationOutput`]). JSON
//! Schemas come from [`schemars`] (draft 2020-12, the dialect of OpenAPI 3.1), named types
//! under `components/schemas`. A route routed with the kernel's functions is still listed,
//! with its path parameters and a note that it is not described, so a handler whose types
//! have no schema compiles and serves as before.
//!
//! [`Router::with_openapi`] serves the document at `/openapi.json` and a Scalar API
//! reference at `/docs`; [`Router::openapi`] returns it.
//!
//! [`Router::with_openapi`]: crate::Router::with_openapi
//! [`Router::openapi`]: crate::Router::openapi

mod describe;
mod document;
mod handler;
mod page;
mod router;
pub mod routing;

pub use schemars::{self, JsonSchema, Schema, SchemaGenerator};

/// For `#[schemars(transform = without_default)]` on a field that may be left out: removes
/// the `default: null` serde's `default` puts in its schema, which a client would send to a
/// field that refuses `null` (see [`crate::extract::fields`]).
pub fn without_default(schema: &mut Schema) {
    schema.remove("default");
}
use serde_json::Value;

pub use self::describe::{OperationInput, OperationOutput};
pub use self::document::{
    Components, Info, MediaType, OpenApi, Operation, Parameter, ParameterIn, PathItem, RequestBody,
    Response,
};
pub use self::handler::DescribeHandler;
use self::page::scalar_page;
use crate::response::PROBLEM_JSON;

/// The Scalar API reference script `/docs` loads, pinned to one release.
pub const SCALAR_SCRIPT: &str = "https://cdn.jsdelivr.net/npm/@scalar/api-reference@1.76.0";

/// Where `components/schemas` lives, as `$ref`s spell it.
const DEFINITIONS_PATH: &str = "/components/schemas";

/// The schema generator of one document: draft 2020-12, named types under
/// `components/schemas`.
pub(crate) fn generator() -> SchemaGenerator {
    schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = DEFINITIONS_PATH.into();
            // The document states its dialect once; schemas carry no `$schema` of their own.
            s.meta_schema = None;
        })
        .into_generator()
}

/// `T`'s schema with a top-level `$ref` into the definitions followed, so its properties or
/// items can be read; nested types stay references into `components/schemas`.
pub(crate) fn inline_schema<T: JsonSchema + ?Sized>(schemas: &mut SchemaGenerator) -> Schema {
    let mut schema = T::json_schema(schemas);
    let prefix = format!("#{DEFINITIONS_PATH}/");
    // A transparent newtype may refer to another named type; a few hops are plenty.
    for _ in 0..4 {
        let Some(name) = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix(prefix.as_str()))
        else {
            break;
        };
        match schemas
            .definitions()
            .get(name)
            .cloned()
            .map(Schema::try_from)
        {
            Some(Ok(found)) => schema = found,
            _ => break,
        }
    }
    schema
}

/// Documents an `application/problem+json` error response for `status` (`"400"`, or
/// `"default"` for a status chosen at run time).
pub(crate) fn problem(
    op: &mut Operation,
    schemas: &mut SchemaGenerator,
    status: &str,
    description: &str,
) {
    let schema = schemas.subschema_for::<ProblemSchema>();
    op.add_response(
        status,
        Response::new(description).content(PROBLEM_JSON, Some(schema)),
    );
}

/// The schema of the kernel's RFC 9457 problem body ([`crate::Problem`]); a test checks
/// that it names the fields the kernel writes.
#[derive(JsonSchema)]
#[schemars(rename = "Problem")]
#[allow(dead_code)]
struct ProblemSchema {
    /// A URI reference that identifies the problem type (`about:blank`: the status says it).
    #[serde(rename = "type")]
    kind: String,
    /// The status's reason phrase.
    title: String,
    /// The HTTP status code.
    status: u16,
    /// What went wrong with this request.
    #[serde(default)]
    detail: String,
    /// Each invalid field's messages, when the request was refused for its fields.
    #[serde(default)]
    errors: std::collections::BTreeMap<String, Vec<String>>,
}

/// Documents a `200` response with a body of `media_type`.
pub(crate) fn ok(op: &mut Operation, media_type: &str, schema: Option<Schema>) {
    op.add_response("200", Response::new("OK").content(media_type, schema));
}

/// The `operationId` a handler's type name gives: the function's name, or none for a
/// closure.
pub(crate) fn operation_id(type_name: &str) -> Option<&str> {
    let path = type_name.split('<').next().unwrap_or(type_name);
    let name = path.rsplit("::").next().unwrap_or(path);
    let valid = !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_');
    valid.then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IntoResponse;
    use http::StatusCode;
    use http_body_util::BodyExt;

    #[test]
    fn operation_ids_are_function_names() {
        assert_eq!(operation_id("my_app::users::create"), Some("create"));
        assert_eq!(operation_id("my_app::get_one<u64>"), Some("get_one"));
        assert_eq!(operation_id("my_app::main::{{closure}}"), None);
    }

    #[tokio::test]
    async fn the_problem_schema_names_the_fields_the_kernel_writes() {
        let res = crate::Problem::new(StatusCode::NOT_FOUND)
            .with_detail("gone")
            .with_field_error("name", "must not be empty")
            .into_response();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        let written: Value = serde_json::from_slice(&body).unwrap();
        let mut schemas = generator();
        let schema = inline_schema::<ProblemSchema>(&mut schemas);
        let mut described: Vec<&String> = schema
            .get("properties")
            .and_then(Value::as_object)
            .unwrap()
            .keys()
            .collect();
        let mut keys: Vec<&String> = written.as_object().unwrap().keys().collect();
        described.sort();
        keys.sort();
        assert_eq!(described, keys);
    }
}
