//! GraphQL over HTTP: the request extractor, the response and the errors that stop a
//! request before it runs.

use allframe_core::{FromRequest, IntoResponse, Request, Response};
use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{BatchRequest, BatchResponse, Executor};
use bytes::Bytes;
use http::header::{ACCEPT, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

/// Most operations in one batch (a JSON array of requests).
pub(crate) const MAX_BATCH: usize = 16;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const APPLICATION_JSON: &str = "application/json";

/// The media type of a response, chosen from the request's `Accept` (GraphQL over HTTP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// `application/graphql-response+json`: a request that could not run is a 4xx.
    GraphQLResponse,
    /// `application/json` (the legacy format, and the one for clients that say nothing):
    /// every executed request is a 200.
    Json,
}

impl Format {
    fn from_headers(headers: &HeaderMap) -> Self {
        let accepts_graphql = headers
            .get_all(ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains(GRAPHQL_RESPONSE_JSON));
        if accepts_graphql {
            Self::GraphQLResponse
        } else {
            Self::Json
        }
    }

    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::GraphQLResponse => GRAPHQL_RESPONSE_JSON,
            Self::Json => APPLICATION_JSON,
        })
    }
}

/// A GraphQL request read from `GET ?query=&variables=&operationName=` or from a JSON `POST`
/// body (one request or a batch), with the response format its `Accept` asks for.
///
/// The body is read through the kernel, so the server's body limit applies (`413`). A
/// `GET` may not run a mutation (`405`): a link or an image must not change anything.
#[derive(Debug)]
pub struct GraphQLRequest {
    request: BatchRequest,
    format: Format,
}

impl GraphQLRequest {
    /// Adds `data` to every operation's context: resolvers read it with `ctx.data::<D>()`.
    #[must_use]
    pub fn data<D: std::any::Any + Clone + Send + Sync>(mut self, data: D) -> Self {
        self.request = self.request.data(data);
        self
    }

    /// Runs the request.
    pub async fn execute<E: Executor>(self, executor: &E) -> GraphQLResponse {
        GraphQLResponse {
            response: executor.execute_batch(self.request).await,
            format: self.format,
        }
    }

    /// The async-graphql request, to change before running it yourself.
    pub fn into_inner(self) -> BatchRequest {
        self.request
    }
}

impl<S: Send + Sync> FromRequest<S> for GraphQLRequest {
    type Rejection = GraphQLRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, GraphQLRejection> {
        let format = Format::from_headers(req.headers());
        let reject = |status, message: String| GraphQLRejection {
            status,
            message,
            format,
        };
        let request = if req.method() == Method::GET || req.method() == Method::HEAD {
            let query = req.uri().query().unwrap_or_default();
            let mut request = async_graphql::http::parse_query_string(query)
                .map_err(|err| reject(StatusCode::BAD_REQUEST, format!("{err}")))?;
            if is_mutation(&mut request) {
                return Err(reject(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "mutations are only accepted over POST".to_owned(),
                ));
            }
            BatchRequest::Single(request)
        } else {
            let json = req
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(is_json);
            // Only JSON: a cross-site form cannot send it without a CORS preflight.
            if !json {
                return Err(reject(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "a GraphQL POST body must be `Content-Type: application/json`".to_owned(),
                ));
            }
            let body = Bytes::from_request(req, state)
                .await
                .map_err(|rejection| reject(rejection.status(), rejection.to_string()))?;
            parse_body(&body).map_err(|message| reject(StatusCode::BAD_REQUEST, message))?
        };
        Ok(Self { request, format })
    }
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case(APPLICATION_JSON)
        || essence.to_ascii_lowercase().ends_with("+json")
}

/// Parses one request or a batch, keeping serde's message (an untagged enum would say only
/// "did not match any variant").
fn parse_body(body: &[u8]) -> Result<BatchRequest, String> {
    let batch = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    let invalid = |err: serde_json::Error| format!("invalid GraphQL request: {err}");
    if !batch {
        return serde_json::from_slice(body)
            .map(BatchRequest::Single)
            .map_err(invalid);
    }
    let requests: Vec<async_graphql::Request> = serde_json::from_slice(body).map_err(invalid)?;
    match requests.len() {
        0 => Err("invalid GraphQL request: an empty batch".to_owned()),
        n if n > MAX_BATCH => Err(format!(
            "a batch of {n} operations is more than the limit of {MAX_BATCH}"
        )),
        _ => Ok(BatchRequest::Batch(requests)),
    }
}

/// Whether the operation a `GET` selects is a mutation. A query that does not parse is left
/// to the executor, which reports the syntax error.
fn is_mutation(request: &mut async_graphql::Request) -> bool {
    let name = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else {
        return false;
    };
    let ty = match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => {
            ops.get(name.as_str()).map(|op| op.node.ty)
        }
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| op.node.ty)
        }
        (DocumentOperations::Multiple(_), None) => None,
    };
    ty == Some(OperationType::Mutation)
}

/// The result of a [`GraphQLRequest`]: `application/json`, or
/// `application/graphql-response+json` when the client accepts it (then a request that
/// could not run at all, such as one over the depth limit, is answered `400`).
#[derive(Debug)]
pub struct GraphQLResponse {
    response: BatchResponse,
    format: Format,
}

impl From<async_graphql::Response> for GraphQLResponse {
    fn from(response: async_graphql::Response) -> Self {
        BatchResponse::Single(response).into()
    }
}

impl From<BatchResponse> for GraphQLResponse {
    fn from(response: BatchResponse) -> Self {
        Self {
            response,
            format: Format::Json,
        }
    }
}

impl IntoResponse for GraphQLResponse {
    fn into_response(self) -> Response {
        let status = match &self.response {
            BatchResponse::Single(single)
                if self.format == Format::GraphQLResponse
                    && single.is_err()
                    && single.data == async_graphql::Value::Null =>
            {
                StatusCode::BAD_REQUEST
            }
            _ => StatusCode::OK,
        };
        let body = match serde_json::to_vec(&self.response) {
            Ok(body) => body,
            Err(err) => {
                return GraphQLRejection {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    message: format!("the response could not be serialized: {err}"),
                    format: self.format,
                }
                .into_response();
            }
        };
        let mut res = Response::new(body.into());
        *res.status_mut() = status;
        let headers = res.headers_mut();
        headers.insert(CONTENT_TYPE, self.format.content_type());
        if self.response.is_ok()
            && let Some(value) = self.response.cache_control().value()
            && let Ok(value) = HeaderValue::from_str(&value)
        {
            headers.insert(CACHE_CONTROL, value);
        }
        headers.extend(self.response.http_headers());
        res
    }
}

/// A request refused before it ran: a malformed body, a body over the limit, a mutation
/// over `GET`, a body that is not JSON. Answered with its status and a GraphQL error body,
/// `{"errors":[{"message":"..."}]}`, so GraphQL clients show the message.
#[derive(Debug)]
pub struct GraphQLRejection {
    status: StatusCode,
    message: String,
    format: Format,
}

impl GraphQLRejection {
    pub(crate) fn bad_request(message: &str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.to_owned(),
            format: Format::Json,
        }
    }

    pub(crate) fn forbidden(message: &str) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            ..Self::bad_request(message)
        }
    }

    pub(crate) fn unauthorized(message: &str) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            ..Self::bad_request(message)
        }
    }

    /// The response status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// What was wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for GraphQLRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

impl std::error::Error for GraphQLRejection {}

impl IntoResponse for GraphQLRejection {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "errors": [{ "message": self.message }] });
        let mut res = Response::new(body.to_string().into());
        *res.status_mut() = self.status;
        res.headers_mut()
            .insert(CONTENT_TYPE, self.format.content_type());
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            res.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST"));
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types_are_recognised() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/graphql+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/x-www-form-urlencoded"));
    }

    #[test]
    fn batches_are_bounded_and_errors_keep_their_detail() {
        assert!(matches!(
            parse_body(br#"{"query":"{a}"}"#),
            Ok(BatchRequest::Single(_))
        ));
        assert!(matches!(
            parse_body(br#" [{"query":"{a}"},{"query":"{b}"}]"#),
            Ok(BatchRequest::Batch(v)) if v.len() == 2
        ));
        let err = parse_body(b"{oops").unwrap_err();
        assert!(err.contains("line 1 column 2"), "{err}");
        assert!(parse_body(b"[]").is_err());
        let many = format!("[{}]", vec![r#"{"query":"{a}"}"#; MAX_BATCH + 1].join(","));
        assert!(parse_body(many.as_bytes()).unwrap_err().contains("limit"));
    }

    #[test]
    fn a_get_mutation_is_recognised() {
        let mut req = async_graphql::Request::new("mutation { add }");
        assert!(is_mutation(&mut req));
        let mut req =
            async_graphql::Request::new("query A { a } mutation B { b }").operation_name("B");
        assert!(is_mutation(&mut req));
        let mut req =
            async_graphql::Request::new("query A { a } mutation B { b }").operation_name("A");
        assert!(!is_mutation(&mut req));
        assert!(!is_mutation(&mut async_graphql::Request::new("{ a }")));
        assert!(!is_mutation(&mut async_graphql::Request::new("{ oops")));
    }
}
