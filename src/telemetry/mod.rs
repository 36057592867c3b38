//! Telemetry that leaves the node, and telemetry that comes in.
//!
//! - [`postgres`]: the PostgreSQL sink (`POSTGRES_URL`). The engine hands each finished job to
//!   it with a non-blocking send; background tasks batch the rows and write them. A job is never
//!   slowed down or failed because of the sink: when its queue is full, rows are dropped and
//!   counted.
//! - [`otlp`]: decoding OTLP/HTTP requests (JSON or protobuf, gzip or not) into the
//!   `opentelemetry-proto` messages, and the answers the OTLP spec asks for.
//! - [`otel_rows`]: flattening those messages into rows linked to their job.
//! - [`job_token`]: the per-job ingest token a job's Claude sends its telemetry with.
//! - [`spans`]: agenticore's own job lifecycle spans, exported over OTLP/HTTP when
//!   `AGENTICORE_OTEL_TRACES_ENDPOINT` is set.

pub mod job_token;
mod migrations;
pub mod otel_rows;
mod otel_sql;
pub mod otlp;
mod pg_lane;
pub mod postgres;
pub mod spans;

pub use postgres::{JobRow, PostgresSink, Refused, SinkError, SinkStatus};
