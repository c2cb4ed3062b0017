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

pub use allframe_core::*;
