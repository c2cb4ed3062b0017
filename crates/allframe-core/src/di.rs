//! Typed dependency injection, checked at compile time.
//!
//! The application state lists its providers once with [`provide!`](crate::provide); a
//! handler asks for a dependency with [`Inject<T>`]. A handler that injects a type the
//! state does not provide is rejected by the compiler when it is routed, never at run time:
//!
//! ```
//! use allframe_core::{Router, di::Inject, provide, routing::get};
//!
//! #[derive(Clone)]
//! struct Greeter(&'static str);
//! #[derive(Clone)]
//! struct Counter(std::sync::Arc<std::sync::atomic::AtomicU64>);
//!
//! #[derive(Clone)]
//! struct AppState { greeter: Greeter, counter: Counter }
//! provide!(AppState { greeter: Greeter, counter: Counter });
//!
//! async fn hello(Inject(greeter): Inject<Greeter>) -> &'static str {
//!     greeter.0
//! }
//!
//! let state = AppState { greeter: Greeter("hi"), counter: Counter(Default::default()) };
//! let app = Router::new().route("/", get(hello)).with_state(state);
//! # drop(app);
//! ```

use std::convert::Infallible;

use http::request::Parts;

use crate::extract::FromRequestParts;

/// The application state `Self` can hand out a `T`. Implement it with
/// [`provide!`](crate::provide), or by hand for a value derived from several fields.
#[diagnostic::on_unimplemented(
    message = "no provider for `{T}` in the application state `{Self}`",
    label = "`{Self}` does not provide `{T}`",
    note = "add a field of type `{T}` to `{Self}` and list it in `provide!({Self} {{ field: {T} }})`"
)]
pub trait Provide<T> {
    /// Hands out the dependency (usually a cheap clone of an `Arc` or a handle).
    fn provide(&self) -> T;
}

/// A dependency injected into a handler from the application state.
#[derive(Debug, Clone, Copy)]
pub struct Inject<T>(pub T);

impl<S, T> FromRequestParts<S> for Inject<T>
where
    S: Provide<T> + Send + Sync,
{
    type Rejection = Infallible;

    async fn from_request_parts(_: &mut Parts, state: &S) -> Result<Self, Infallible> {
        Ok(Inject(state.provide()))
    }
}

/// Declares which fields of the application state are injectable:
/// `provide!(AppState { db: DbPool, mailer: Mailer })` implements [`Provide<DbPool>`] and
/// [`Provide<Mailer>`] for `AppState` by cloning those fields.
#[macro_export]
macro_rules! provide {
    ($state:ty { $($field:ident : $ty:ty),* $(,)? }) => {
        $(
            impl $crate::di::Provide<$ty> for $state {
                fn provide(&self) -> $ty {
                    ::core::clone::Clone::clone(&self.$field)
                }
            }
        )*
    };
}
