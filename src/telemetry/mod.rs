//! Telemetry that leaves the node: a PostgreSQL sink of finished jobs (`POSTGRES_URL`).
//!
//! The engine hands each finished job to the sink with a non-blocking `try_send`; one
//! background task batches the rows and writes them. A job is never slowed down or failed
//! because of the sink: when its queue is full, rows are dropped and counted.

mod migrations;
pub mod postgres;
pub mod spans;

pub use postgres::{JobRow, PostgresSink, SinkError, SinkStatus};
