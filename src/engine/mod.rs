//! The engine: everything between a submitted job and its finished record.

pub mod git;
pub mod repo;
pub mod worktree;
