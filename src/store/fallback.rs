//! The SQLite file standing in for an unreachable Redis (`REDIS_URL` set, Redis down at start,
//! `redis.required` off). It behaves as the SQLite store in every way but two: `location` names
//! the fallback, and `degraded` says why, so `/health` answers 503 "degraded" and `status`
//! shows it. Never silent: a node on the fallback does not see the shared queue.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    CancelOutcome, ClaimRequest, Counts, JobStore, ListFilter, NodeLoad, Page, StoreResult,
};
use crate::job::{Job, JobId, Outcome, Progress};

pub struct FallbackStore {
    inner: Arc<dyn JobStore>,
    reason: String,
}

impl FallbackStore {
    /// `inner` (the SQLite store) used because of `reason` (what failed, no secrets).
    pub fn new(inner: Arc<dyn JobStore>, reason: String) -> FallbackStore {
        FallbackStore { inner, reason }
    }
}

#[async_trait]
impl JobStore for FallbackStore {
    fn location(&self) -> String {
        format!("{} (FALLBACK: {})", self.inner.location(), self.reason)
    }

    fn degraded(&self) -> Option<String> {
        Some(format!(
            "using the local SQLite file {} as a fallback: {}",
            self.inner.location(),
            self.reason
        ))
    }

    async fn insert(&self, job: &Job) -> StoreResult<()> {
        self.inner.insert(job).await
    }

    async fn get(&self, id: JobId) -> StoreResult<Option<Job>> {
        self.inner.get(id).await
    }

    async fn list(&self, filter: &ListFilter) -> StoreResult<Page> {
        self.inner.list(filter).await
    }

    async fn claim_next(&self, req: &ClaimRequest) -> StoreResult<Option<Job>> {
        self.inner.claim_next(req).await
    }

    async fn set_pid(&self, id: JobId, pid: u32) -> StoreResult<()> {
        self.inner.set_pid(id, pid).await
    }

    async fn update_progress(&self, id: JobId, progress: &Progress) -> StoreResult<()> {
        self.inner.update_progress(id, progress).await
    }

    async fn finish(&self, id: JobId, outcome: Outcome) -> StoreResult<Option<Job>> {
        self.inner.finish(id, outcome).await
    }

    async fn request_cancel(&self, id: JobId, reason: &str) -> StoreResult<CancelOutcome> {
        self.inner.request_cancel(id, reason).await
    }

    async fn heartbeat(
        &self,
        node: &str,
        running: &[JobId],
        lease: Duration,
    ) -> StoreResult<Vec<JobId>> {
        self.inner.heartbeat(node, running, lease).await
    }

    async fn reap(
        &self,
        now: DateTime<Utc>,
        check_leases: bool,
        is_dead: &(dyn for<'n> Fn(&'n str) -> bool + Send + Sync),
    ) -> StoreResult<Vec<Job>> {
        self.inner.reap(now, check_leases, is_dead).await
    }

    async fn release(&self, id: JobId, node: &str) -> StoreResult<bool> {
        self.inner.release(id, node).await
    }

    async fn nodes(&self) -> StoreResult<Vec<NodeLoad>> {
        self.inner.nodes().await
    }

    async fn announce(&self, node: &str, max_parallel_jobs: usize) -> StoreResult<()> {
        self.inner.announce(node, max_parallel_jobs).await
    }

    async fn leave(&self, node: &str) -> StoreResult<()> {
        self.inner.leave(node).await
    }

    async fn expire(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        self.inner.expire(now).await
    }

    async fn counts(&self) -> StoreResult<Counts> {
        self.inner.counts().await
    }

    async fn version(&self) -> StoreResult<Option<u64>> {
        self.inner.version().await
    }
}
