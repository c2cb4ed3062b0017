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

pub use allframe_core::*;
