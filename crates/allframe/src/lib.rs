//! AllFrame: a Rust web framework whose speed, size and reliability are measured by its own
//! repository.
//!
//! This facade re-exports the HTTP kernel ([`allframe_core`]) and, behind feature flags, the
//! rest of the framework. Every flag compiles real code; `cargo xtask size` reports what each
//! one costs.
//!
//! | feature | what it adds |
//! |---|---|
//! | `di` (default) | [`di::Inject`] and [`provide!`]: typed dependency injection checked at compile time |
//! | `http2` (default) | HTTP/2 over cleartext (h2c) beside HTTP/1.1 on the same listener |
//! | `openapi` (default) | [`openapi`]: the OpenAPI 3.1 document of the routes at `/openapi.json` and a Scalar API reference at `/docs` ([`Router::with_openapi`]); a route routed with [`openapi::routing`] describes itself from its types (those inside `Json`, `Query` and `Path` derive [`openapi::JsonSchema`]). Additive: the kernel's bounds do not change |
//! | `validate` | [`validate::Valid`]: a `Json`, `Query` or `Path` value checked by garde's rules before the handler runs (422 naming each field); schemars writes the same rules into the OpenAPI schemas |
//! | `auth` | [`auth`]: [`auth::Auth`] reads a signed token (JWT) from `Authorization` (401 without one), [`auth::hash_password`] and [`auth::verify_password`] (argon2id, on the blocking pool) |
//! | `cqrs` | [`cqrs`]: commands, aggregates, an event store in memory, projections, upcasting, sagas |
//! | `cqrs-wal` | [`cqrs::WalBackend`]: the durable event store on local segment files |
//! | `cqrs-postgres` | [`cqrs::PostgresBackend`]: the event store on PostgreSQL (sqlx) |
//! | `router-graphql` | [`graphql`]: an async-graphql schema on the router, with GraphiQL and subscriptions over WebSocket |
//! | `router-grpc` | [`grpc`]: tonic services, health and reflection on the REST server's port |
//! | `router-full` | `router-graphql` and `router-grpc`: REST, GraphQL and gRPC on one listener |

pub use allframe_core::*;

/// CQRS and event sourcing ([`allframe_cqrs`]).
#[cfg(feature = "cqrs")]
pub use allframe_cqrs as cqrs;

/// GraphQL on the router ([`allframe_graphql`]).
#[cfg(feature = "router-graphql")]
pub use allframe_graphql as graphql;

/// gRPC services on the same server and port as REST ([`allframe_grpc`]).
#[cfg(feature = "router-grpc")]
pub use allframe_grpc as grpc;
