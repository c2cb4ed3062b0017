//! Shared application state.

use std::convert::Infallible;

use http::request::Parts;

use super::FromRequestParts;

/// The application state, or a part of it (see [`FromRef`]).
///
/// ```
/// use allframe_core::{Router, State, routing::get};
///
/// #[derive(Clone)]
/// struct AppState { greeting: &'static str }
///
/// async fn hello(State(state): State<AppState>) -> &'static str {
///     state.greeting
/// }
///
/// let app = Router::new().route("/", get(hello)).with_state(AppState { greeting: "hi" });
/// # drop(app);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct State<T>(pub T);

/// Derives a part `Self` of the application state `S`, so handlers can ask for only what
/// they use: `State<DbPool>` from an `AppState` that implements `FromRef<AppState> for
/// DbPool`. Every `Clone` type is a part of itself.
pub trait FromRef<S> {
    /// Takes the part out of the state.
    fn from_ref(state: &S) -> Self;
}

impl<T: Clone> FromRef<T> for T {
    fn from_ref(state: &T) -> Self {
        state.clone()
    }
}

impl<S, T> FromRequestParts<S> for State<T>
where
    S: Send + Sync,
    T: FromRef<S>,
{
    type Rejection = Infallible;

    async fn from_request_parts(_: &mut Parts, state: &S) -> Result<Self, Infallible> {
        Ok(State(T::from_ref(state)))
    }
}
