//! agenticore: run Claude Code (`claude -p`) as managed jobs.
//!
//! The library holds the engine; the `agenticore` binary is a thin shell over it. Data flows one
//! way: `cli` -> `engine` -> `store` + runner. Nothing in `engine` or `store` knows about clap.

pub mod api;
pub mod client;
pub mod config;
pub mod engine;
pub mod environment;
pub mod job;
pub mod logtext;
pub mod memory;
pub mod profile;
pub mod server;
pub mod signals;
pub mod store;
pub mod telemetry;
pub mod tui;
mod yaml_loc;
