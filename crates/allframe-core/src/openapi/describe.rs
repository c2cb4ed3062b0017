//! How extractors and responders describe themselves: the kernel's own types here, an
//! application's types by implementing the two traits.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri};
use schemars::JsonSchema;
use serde_json::Value;

use super::{Operation, Parameter, ParameterIn, SchemaGenerator, inline_schema, ok, problem};
use crate::extract::{Path, Query, RawPathParams, State};
use crate::rejection::{
    BodyRejection, JsonRejection, PathRejection, QueryRejection, StringRejection,
};
use crate::response::{APPLICATION_JSON, Html, IntoHeaders, Json, Problem, Response};
use crate::{Body, Request};

/// An extractor that says what it reads (parameters, a request body) and how it fails (its
/// rejection's responses), for the operation of every described handler that takes it.
///
/// Implement it for an extractor of your own with nothing in it to say "reads nothing the
/// document shows"; call `<MyRejection as OperationOutput>::describe` to list its errors.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not describe itself for the OpenAPI document",
    note = "types inside `Json`, `Query` and `Path` must derive `JsonSchema` for a described route",
    note = "implement `OperationInput` for an extractor of your own, or route the handler with `allframe::routing` to leave it undescribed"
)]
pub trait OperationInput {
    /// Adds what this extractor reads and how it fails to `op`. By default: nothing.
    fn describe(op: &mut Operation, schemas: &mut SchemaGenerator) {
        let _ = (op, schemas);
    }
}

/// A responder that says which responses it produces (status, media type, schema).
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not describe its responses for the OpenAPI document",
    note = "the type inside `Json` must derive `JsonSchema` for a described route",
    note = "implement `OperationOutput` for a responder of your own, or route the handler with `allframe::routing` to leave it undescribed"
)]
pub trait OperationOutput {
    /// Adds the responses of this type to `op`. By default: none.
    fn describe(op: &mut Operation, schemas: &mut SchemaGenerator) {
        let _ = (op, schemas);
    }
}

// Extractors that read nothing a client must send, and fail in no way a client causes.
impl<T> OperationInput for State<T> {}
impl OperationInput for Method {}
impl OperationInput for Uri {}
impl OperationInput for HeaderMap {}
impl OperationInput for Request {}
// Its only failure is a route without parameters, a programming error.
impl OperationInput for RawPathParams {}
#[cfg(feature = "di")]
impl<T> OperationInput for crate::di::Inject<T> {}

impl OperationInput for Bytes {
    fn describe(op: &mut Operation, schemas: &mut SchemaGenerator) {
        op.set_request_body("application/octet-stream", None);
        BodyRejection::describe(op, schemas);
    }
}

#[cfg(feature = "multipart")]
impl OperationInput for crate::extract::Multipart {
    fn describe(op: &mut Operation, schemas: &mut SchemaGenerator) {
        op.set_request_body("multipart/form-data", None);
        crate::rejection::MultipartRejection::describe(op, schemas);
    }
}

impl OperationInput for String {
    fn describe(op: &mut Operation, schemas: &mut SchemaGenerator) {
        let schema = schemas.subschema_for::<String>();
        op.set_request_body("text/plain", Some(schema));
        StringRejection::describe(op, schemas);
    }
}

impl<T: JsonSchema> OperationInput for Json<T> {
    fn describe(op: &mut Operation, schemas: &mut SchemaGenerator) {
        let schema = schemas.subschema_for::<T>();
        op.set_request_body(APPLICATION_JSON, Some(schema));
        JsonRejection::describe(op, schemas);
    }
}

/// The inner extractor's description, and the `422` its rules may answer.
#[cfg(feature = "validate")]
impl<E: OperationInput> OperationInput for crate::validate::Valid<E> {
    fn describe(op: &mut Operation, schemas: &mut SchemaGenerator) {
        E::describe(op, schemas);
        problem(
            op,
            schemas,
            StatusCode::UNPROCESSABLE_ENTITY.as_str(),
            "A field breaks a rule of its schema (`errors` names each)",
        );
    }
}

/// `offset` and `limit`, with the bounds the extractor enforces.
impl<const MAX: usize> OperationInput for crate::extract::Pagination<MAX> {
    fn describe(op: &mut Operation, schemas: &mut SchemaGenerator) {
        let integer = |minimum: usize, maximum: Option<usize>, default: usize| {
            let mut schema =
                serde_json::json!({"type": "integer", "minimum": minimum, "default": default});
            if let Some(maximum) = maximum {
                schema["maximum"] = maximum.into();
            }
            schemars::Schema::try_from(schema).expect("an object is a schema")
        };
        let default_limit = crate::extract::Pagination::<MAX>::DEFAULT_LIMIT;
        for (name, description, schema) in [
            ("offset", "Items to skip", integer(0, None, 0)),
            (
                "limit",
                "Items to return at most",
                integer(1, Some(MAX), default_limit),
            ),
        ] {
            op.add_parameter(Parameter {
                name: name.to_owned(),
                location: ParameterIn::Query,
                required: false,
                description: Some(description.to_owned()),
                schema,
            });
        }
        problem(op, schemas, "400", "The query string does not parse");
        problem(op, schemas, "422", "`limit` is outside its range");
    }
}

/// Each property of `T`'s object schema is a query parameter, required when the schema says
/// so (a field that is neither `Option` nor `#[serde(default)]`).
impl<T: JsonSchema> OperationInput for Query<T> {
    fn describe(op: &mut Operation, schemas: &mut SchemaGenerator) {
        let schema = inline_schema::<T>(schemas);
        let required = |name: &str| {
            schema
                .get("required")
                .and_then(Value::as_array)
                .is_some_and(|names| names.iter().any(|n| n == name))
        };
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, property) in properties {
                let Ok(property) = schemars::Schema::try_from(property.clone()) else {
                    continue;
                };
                op.add_parameter(Parameter {
                    name: name.clone(),
                    location: ParameterIn::Query,
                    required: required(name),
                    description: property
                        .get("description")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    schema: property,
                });
            }
        }
        QueryRejection::describe(op, schemas);
    }
}

/// The router has listed the route's parameters (by name, as strings); `T`'s schema gives
/// their types: a struct's by property name, a tuple's by position, a single value the one
/// parameter's.
impl<T: JsonSchema> OperationInput for Path<T> {
    fn describe(op: &mut Operation, schemas: &mut SchemaGenerator) {
        let schema = inline_schema::<T>(schemas);
        let mut params: Vec<_> = op
            .parameters
            .iter_mut()
            .filter(|p| p.location == ParameterIn::Path)
            .collect();
        let typed = |value: &Value| schemars::Schema::try_from(value.clone()).ok();
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for param in params {
                if let Some(found) = properties.get(&param.name).and_then(typed) {
                    param.schema = found;
                }
            }
        } else if let Some(items) = schema.get("prefixItems").and_then(Value::as_array) {
            for (param, item) in params.iter_mut().zip(items) {
                if let Some(found) = typed(item) {
                    param.schema = found;
                }
            }
        } else if let [param] = params.as_mut_slice() {
            param.schema = schema;
        }
        PathRejection::describe(op, schemas);
    }
}

/// The statuses each rejection answers. `PathRejection::NoParams` (a handler extracting
/// `Path` on a route without parameters) is a programming error, not something a client can
/// cause, so it is not listed.
macro_rules! rejection_responses {
    ($($ty:ty => [$($status:ident: $why:literal),*],)*) => {$(
        impl OperationOutput for $ty {
            fn describe(op: &mut Operation, schemas: &mut SchemaGenerator) {
                $(problem(op, schemas, StatusCode::$status.as_str(), $why);)*
            }
        }
    )*};
}

#[cfg(feature = "multipart")]
rejection_responses!(
    crate::rejection::MultipartRejection => [
        BAD_REQUEST: "The body is not well-formed multipart",
        PAYLOAD_TOO_LARGE: "The request body is larger than the route's limit",
        UNSUPPORTED_MEDIA_TYPE: "The request has no `Content-Type: multipart/form-data`",
        REQUEST_TIMEOUT: "The request body stopped arriving for longer than the server's body read timeout"
    ],
);

rejection_responses!(
    BodyRejection => [
        BAD_REQUEST: "The request body could not be read",
        PAYLOAD_TOO_LARGE: "The request body is larger than the server's limit",
        REQUEST_TIMEOUT: "The request body stopped arriving for longer than the server's body read timeout"
    ],
    StringRejection => [
        BAD_REQUEST: "The request body could not be read",
        BAD_REQUEST: "The request body is not valid UTF-8",
        PAYLOAD_TOO_LARGE: "The request body is larger than the server's limit",
        REQUEST_TIMEOUT: "The request body stopped arriving for longer than the server's body read timeout"
    ],
    JsonRejection => [
        BAD_REQUEST: "The request body could not be read",
        BAD_REQUEST: "The request body is not valid JSON",
        PAYLOAD_TOO_LARGE: "The request body is larger than the server's limit",
        REQUEST_TIMEOUT: "The request body stopped arriving for longer than the server's body read timeout",
        UNSUPPORTED_MEDIA_TYPE: "The request has no `Content-Type: application/json`",
        UNPROCESSABLE_ENTITY: "The JSON request body does not match the expected shape"
    ],
    QueryRejection => [BAD_REQUEST: "The query string does not parse"],
    PathRejection => [BAD_REQUEST: "A path parameter does not parse"],
);

// Responders whose status or body is chosen at run time: the handler's operation gets a
// `default` response when nothing else documents a success.
impl OperationOutput for Response {}
impl OperationOutput for Infallible {}
impl OperationOutput for StatusCode {}
impl OperationOutput for Body {}

impl OperationOutput for () {
    fn describe(op: &mut Operation, _: &mut SchemaGenerator) {
        op.add_response("200", super::Response::new("OK"));
    }
}

impl OperationOutput for String {
    fn describe(op: &mut Operation, schemas: &mut SchemaGenerator) {
        ok(op, "text/plain", Some(schemas.subschema_for::<String>()));
    }
}

impl OperationOutput for &'static str {
    fn describe(op: &mut Operation, schemas: &mut SchemaGenerator) {
        <String as OperationOutput>::describe(op, schemas);
    }
}

impl OperationOutput for Bytes {
    fn describe(op: &mut Operation, _: &mut SchemaGenerator) {
        ok(op, "application/octet-stream", None);
    }
}

impl OperationOutput for Vec<u8> {
    fn describe(op: &mut Operation, schemas: &mut SchemaGenerator) {
        <Bytes as OperationOutput>::describe(op, schemas);
    }
}

/// Its media type is the representation's, chosen at run time.
impl OperationOutput for crate::response::Ranged {
    fn describe(op: &mut Operation, schemas: &mut SchemaGenerator) {
        ok(op, "*/*", None);
        let partial = "The byte range asked for (`Range`), with `Content-Range`";
        op.add_response("206", super::Response::new(partial).content("*/*", None));
        let current = "The client's copy is current (`If-None-Match` names the `ETag`)";
        op.add_response("304", super::Response::new(current));
        problem(op, schemas, "416", "The range asked for is past the end");
    }
}

impl<T> OperationOutput for Html<T> {
    fn describe(op: &mut Operation, schemas: &mut SchemaGenerator) {
        ok(op, "text/html", Some(schemas.subschema_for::<String>()));
    }
}

impl<T: JsonSchema> OperationOutput for Json<T> {
    fn describe(op: &mut Operation, schemas: &mut SchemaGenerator) {
        ok(op, APPLICATION_JSON, Some(schemas.subschema_for::<T>()));
    }
}

/// Its status is chosen at run time: a `default` response.
impl OperationOutput for Problem {
    fn describe(op: &mut Operation, schemas: &mut SchemaGenerator) {
        problem(
            op,
            schemas,
            "default",
            "An error, as RFC 9457 problem details",
        );
    }
}

impl<T: OperationOutput, E: OperationOutput> OperationOutput for Result<T, E> {
    fn describe(op: &mut Operation, schemas: &mut SchemaGenerator) {
        T::describe(op, schemas);
        E::describe(op, schemas);
    }
}

/// The status of a `(StatusCode, R)` is chosen at run time: `R`'s `200` becomes `default`.
fn describe_with_status<R: OperationOutput>(op: &mut Operation, schemas: &mut SchemaGenerator) {
    let mut inner = Operation::default();
    R::describe(&mut inner, schemas);
    for (status, response) in inner.responses {
        let status = if status == "200" { "default" } else { &status };
        op.add_response(status, response);
    }
}

impl<R: OperationOutput> OperationOutput for (StatusCode, R) {
    fn describe(op: &mut Operation, schemas: &mut SchemaGenerator) {
        describe_with_status::<R>(op, schemas);
    }
}

impl<H: IntoHeaders, R: OperationOutput> OperationOutput for (H, R) {
    fn describe(op: &mut Operation, schemas: &mut SchemaGenerator) {
        R::describe(op, schemas);
    }
}

impl<H: IntoHeaders, R: OperationOutput> OperationOutput for (StatusCode, H, R) {
    fn describe(op: &mut Operation, schemas: &mut SchemaGenerator) {
        describe_with_status::<R>(op, schemas);
    }
}
