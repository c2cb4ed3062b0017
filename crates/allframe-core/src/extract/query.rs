//! The query string, deserialized.

use http::request::Parts;
use serde::de::DeserializeOwned;

use super::{FromRequestParts, HasSchema};
#[cfg(feature = "openapi")]
use crate::openapi::{Operation, SchemaGenerator};
use crate::rejection::QueryRejection;

/// The query string deserialized into `T` (with `serde_urlencoded`).
///
/// A missing query string is the empty one, so a struct whose fields are all `Option` or
/// `#[serde(default)]` always extracts. A value that does not parse answers 400.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: DeserializeOwned + HasSchema,
{
    type Rejection = QueryRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, QueryRejection> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(Query)
            .map_err(QueryRejection)
    }

    /// Each property of `T`'s object schema is a query parameter, required when the schema
    /// says so (a field that is neither `Option` nor `#[serde(default)]`).
    #[cfg(feature = "openapi")]
    fn describe(op: &mut Operation, schemas: &mut SchemaGenerator) {
        use crate::openapi::{Parameter, ParameterIn, inline_schema};
        use serde_json::Value;

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
        <QueryRejection as crate::IntoResponse>::describe_responses(op, schemas);
    }
}
