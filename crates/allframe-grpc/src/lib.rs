#![doc = include_str!("../README.md")]

mod grpc;
mod message_limit;
mod multiplex;

pub use tonic::service::Routes;
pub use tonic_health::ServingStatus;
pub use tonic_health::server::HealthReporter;

pub use crate::grpc::Grpc;
pub use crate::multiplex::{Multiplexed, MultiplexedFuture, is_grpc};
