//! Job values for the store tests (the contract suite and the SQLite-only tests).

use std::time::Duration;

use agenticore::job::{Job, JobSpec, Mode};
use agenticore::store::{ClaimRequest, JobStore};

pub fn spec(task: &str) -> JobSpec {
    JobSpec {
        task: task.to_string(),
        repo_url: None,
        base_ref: None,
        profile: "code".to_string(),
        session_id: None,
        timeout_seconds: None,
        mode: Mode::FireAndForget,
        ttl_seconds: 3600,
        keep_worktree_on_failure: false,
    }
}

/// Distinct, increasing v7 ids (`now_v7` is monotonic within the process).
pub fn new_job(task: &str) -> Job {
    Job::new(spec(task))
}

/// A claim by `node` with a 30 s lease.
pub fn claim(node: &str, max_running: usize) -> ClaimRequest {
    ClaimRequest {
        node: node.to_string(),
        max_running,
        only: None,
        lease: Duration::from_secs(30),
    }
}

/// `n` new jobs ("task 0", "task 1", ...), inserted oldest first.
pub async fn insert_n(store: &dyn JobStore, n: usize) -> Vec<Job> {
    let mut jobs = Vec::new();
    for i in 0..n {
        let job = new_job(&format!("task {i}"));
        store.insert(&job).await.expect("insert");
        jobs.push(job);
    }
    jobs
}
