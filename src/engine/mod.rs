//! The job engine: queue, schedule, prepare, run, watch, kill, record.

pub mod claude;
pub mod events;
pub mod execute;
mod finals;
pub mod gh;
pub mod git;
pub mod health;
pub mod joblog;
pub mod metrics;
pub mod pr;
pub mod proctree;
pub mod repo;
pub mod repo_url;
pub mod runner;
pub mod scheduler;
pub mod service;
pub mod shim;
pub mod stats;
pub mod worktree;
pub mod worktree_pool;

pub use scheduler::{Drain, RunMode};
pub use service::{Engine, EngineError, SubmitRequest};
