//! What the TechEmpower servers share, so that comparing them measures the framework and not
//! the database code: the row types, the queries, the cache of worlds, the `?queries=` rule
//! and the fortunes page.
//!
//! The binaries (`tfb-allframe`, `tfb-axum`, `tfb-hyper`) listen on `ALLFRAME_ADDR`; the
//! database routes exist only when `DATABASE_URL` is set. `hello_world.sql` beside this crate
//! creates the schema they query.

mod count;
mod db;
mod fortunes;
mod model;
mod reference;

pub use crate::count::{CountParams, QueriesParams, count_param};
pub use crate::db::{Db, database_url, db_from_env};
pub use crate::fortunes::fortunes_page;
pub use crate::model::{Fortune, Message, World};
pub use crate::reference::serve_http1;

/// The plaintext test's body.
pub const HELLO: &str = "Hello, World!";
