//! The HTTP kernel, exercised over real TCP sockets with real clients.

mod connections;
mod di;
mod extract;
mod limits;
mod middleware;
mod protocol;
mod respond;
mod routing;
