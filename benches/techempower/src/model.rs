//! The values the servers answer with.

use serde::Serialize;

/// The JSON test's body: `{"message":"Hello, World!"}`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Message {
    /// Always [`HELLO`](crate::HELLO).
    pub message: &'static str,
}

impl Message {
    /// The one message the JSON test expects.
    pub const HELLO: Self = Self {
        message: crate::HELLO,
    };
}

/// A row of `world`, serialised as `{"id":..,"randomNumber":..}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct World {
    /// 1..=10000.
    pub id: i32,
    /// 1..=10000.
    #[serde(rename = "randomNumber")]
    #[sqlx(rename = "randomnumber")]
    pub random_number: i32,
}

/// A row of `fortune`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Fortune {
    /// 1..=12 in the table; 0 for the one added at request time.
    pub id: i32,
    /// Plain text; the page template escapes it.
    pub message: String,
}
