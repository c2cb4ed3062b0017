#![doc = include_str!("../README.md")]

#[cfg(feature = "auth")]
pub mod auth;
pub mod body;
#[cfg(feature = "di")]
pub mod di;
pub mod extract;
pub mod handler;
pub mod middleware;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod rejection;
pub mod response;
pub mod routing;
pub mod server;
mod stall;
#[cfg(feature = "validate")]
pub mod validate;

pub use http;

pub use crate::body::Body;
pub use crate::extract::{FromRef, FromRequest, FromRequestParts, Json, Path, Query, State};
pub use crate::handler::Handler;
pub use crate::response::{Html, IntoResponse, Problem, Response};
pub use crate::routing::{Router, RouterService};
pub use crate::server::{ServerConfig, serve};

/// The request type handlers and middleware see.
pub type Request<B = Body> = http::Request<B>;
