//! The job store contract. Every backend (SQLite, Redis) gives the same guarantees:
//! `claim_next` hands one queued job to exactly one owner, `finish` is a compare-and-set so a
//! racing exit and cancel produce exactly one outcome, and terminal states are final.

pub mod fallback;
pub mod redis;
mod redis_lua;
pub mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::config::{Config, mask_url};
use crate::job::{Job, JobId, Outcome, Progress, Status};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("job store {location} is unreachable: {message}")]
    Unreachable { location: String, message: String },
    #[error("job store error ({location}): {message}")]
    Backend { location: String, message: String },
    #[error("job {0} already exists")]
    Duplicate(JobId),
    #[error("stored job {id} is unreadable: {message}")]
    Corrupt { id: String, message: String },
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Which jobs `list` returns. Newest first.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<Status>,
    /// At most this many jobs (the caller clamps it; the store trusts it).
    pub limit: usize,
    /// Continue after this job (exclusive): the `next_cursor` of the previous page.
    pub cursor: Option<JobId>,
}

#[derive(Debug, Clone, Default)]
pub struct Page {
    pub jobs: Vec<Job>,
    /// Pass as `ListFilter::cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<JobId>,
}

/// A request to claim a queued job.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    /// Owner name written on the job (`host:pid` locally, a node name with Redis).
    pub node: String,
    /// Claim only while fewer than this many jobs are running for the scope the store
    /// enforces (SQLite: every process on the file; Redis: this node).
    pub max_running: usize,
    /// Claim this job only (an embedded `submit --wait` runs its own job).
    pub only: Option<JobId>,
    /// The claim is valid this long without a heartbeat.
    pub lease: Duration,
}

/// What `request_cancel` did.
#[derive(Debug, Clone)]
pub enum CancelOutcome {
    /// The job was queued and is now cancelled; it will never start.
    CancelledQueued(Job),
    /// The job is running; its owner was asked to kill it (it will finish as cancelled).
    Requested(Job),
    /// The job had already finished; nothing changed.
    AlreadyFinished(Job),
    NotFound,
}

/// One node's share of the running work, for `status`, `/health` and the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeLoad {
    /// The owner name written on the jobs it runs (`host:pid` or `pod:pid`).
    pub node: String,
    /// Jobs it runs now.
    pub running: u64,
    /// Its cap (`max_parallel_jobs`), when it announced itself (see `JobStore::announce`).
    pub max_parallel_jobs: Option<u64>,
    /// When it last announced itself; `None` for a store without announcements (SQLite, where
    /// the nodes are the processes sharing the file and only those running jobs are known).
    pub last_seen: Option<DateTime<Utc>>,
}

/// Counts by status, for `status` and `/health`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub queued: u64,
    pub running: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub cancelled: u64,
}

#[async_trait]
pub trait JobStore: Send + Sync + 'static {
    /// A human description of where the jobs live (path or URL without secrets).
    fn location(&self) -> String;

    /// Why this store is not the one configured (a fallback), for `/health` and `status`.
    fn degraded(&self) -> Option<String> {
        None
    }

    /// Ids whose cancel was just requested (by any process or node), as they happen: a hint
    /// that reaches the job's owner before its next heartbeat. The heartbeat stays the durable
    /// path (a hint can be lost). `None` when the store has no such channel. Must be called
    /// inside a Tokio runtime; the feed stops when the receiver is dropped.
    fn cancel_hints(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<JobId>> {
        None
    }

    /// Store a new job (normally `Queued`).
    async fn insert(&self, job: &Job) -> StoreResult<()>;

    async fn get(&self, id: JobId) -> StoreResult<Option<Job>>;

    /// Newest first, cursor-paged. Costs O(page), not O(all jobs).
    async fn list(&self, filter: &ListFilter) -> StoreResult<Page>;

    /// Atomically move the oldest queued job (or `only`) to `Running` owned by `req.node`.
    /// `None` when nothing is queued or the running cap is reached.
    async fn claim_next(&self, req: &ClaimRequest) -> StoreResult<Option<Job>>;

    /// Record the pid of a claimed job's process-group leader.
    async fn set_pid(&self, id: JobId, pid: u32) -> StoreResult<()>;

    /// Replace the progress of a job (any status; a finished job keeps what it reported).
    async fn update_progress(&self, id: JobId, progress: &Progress) -> StoreResult<()>;

    /// Compare-and-set: finish the job only if it is `Running`. Returns the stored job when
    /// this call finished it, `None` when it was already terminal (or missing).
    async fn finish(&self, id: JobId, outcome: Outcome) -> StoreResult<Option<Job>>;

    /// Cancel a queued job now, or flag a running one for its owner, on any process or node.
    async fn request_cancel(&self, id: JobId, reason: &str) -> StoreResult<CancelOutcome>;

    /// Renew the leases of `node`'s running jobs. Returns those of `running` whose cancel has
    /// been requested (by any process), so the owner can kill them.
    async fn heartbeat(
        &self,
        node: &str,
        running: &[JobId],
        lease: Duration,
    ) -> StoreResult<Vec<JobId>>;

    /// Running jobs whose owner `is_dead` says is gone, or (with `check_leases`) whose lease
    /// expired before `now`: finish them as failed "interrupted" (cancelled if a cancel was
    /// requested) and return them, so the caller can kill what is left of their processes.
    /// A caller that has just regained the store passes `check_leases: false`: the owners have
    /// not been able to renew either.
    ///
    /// (`for<'n>` is spelled out on purpose: with an elided `Fn(&str)`, `#[async_trait]` ties the
    /// argument's lifetime to the call, so an implementation could not pass it a local string.)
    async fn reap(
        &self,
        now: DateTime<Utc>,
        check_leases: bool,
        is_dead: &(dyn for<'n> Fn(&'n str) -> bool + Send + Sync),
    ) -> StoreResult<Vec<Job>>;

    /// Hand a running job that `node` claimed but never started back to the queue, as if it
    /// had never been claimed (a node shutting down). `false` when the job is not running on
    /// `node` (finished, cancelled or reaped meanwhile), or its cancel was requested (a
    /// cancelled job must not run elsewhere): then it stays as it is.
    async fn release(&self, id: JobId, node: &str) -> StoreResult<bool>;

    /// Running jobs per node, plus every node that announced itself recently (idle ones too),
    /// sorted by node name.
    async fn nodes(&self) -> StoreResult<Vec<NodeLoad>>;

    /// Say that `node` is alive with this cap (each heartbeat). No-op where the store cannot
    /// tell other nodes (SQLite: the processes on one file are the nodes).
    async fn announce(&self, _node: &str, _max_parallel_jobs: usize) -> StoreResult<()> {
        Ok(())
    }

    /// `node` is stopping for good: forget its announcement (and, on Redis, its queue consumer).
    async fn leave(&self, _node: &str) -> StoreResult<()> {
        Ok(())
    }

    /// Delete terminal jobs whose TTL has passed. Returns how many were deleted.
    async fn expire(&self, now: DateTime<Utc>) -> StoreResult<u64>;

    async fn counts(&self) -> StoreResult<Counts>;

    /// A number that changes whenever the stored jobs may have changed, by any process
    /// (including this one), so a viewer can check for news without reading jobs. `None` when
    /// the store cannot tell cheaply (the caller then compares `counts` or re-reads).
    async fn version(&self) -> StoreResult<Option<u64>> {
        Ok(None)
    }
}

/// Open the store `config` asks for: Redis when `redis.url` is set, else the SQLite file.
///
/// Redis unreachable at start: with `redis.required`, the error; otherwise a loud warning and
/// the SQLite file wrapped in a [`fallback::FallbackStore`] that reports itself as degraded.
pub async fn open(config: &Config) -> StoreResult<Arc<dyn JobStore>> {
    let sqlite = |path: std::path::PathBuf| async move {
        tokio::task::spawn_blocking(move || sqlite::SqliteStore::open(&path))
            .await
            .map_err(|e| StoreError::Backend {
                location: "the SQLite file".into(),
                message: format!("opening task failed: {e}"),
            })?
    };
    let Some(url) = config.redis.url.as_deref() else {
        return Ok(Arc::new(sqlite(config.jobs_db_path()).await?));
    };
    match redis::RedisStore::connect(url, &config.redis.key_prefix).await {
        Ok(store) => {
            tracing::info!(store = %store.location(), "using the Redis job store");
            Ok(Arc::new(store))
        }
        Err(StoreError::Unreachable { location, message }) if config.redis.required => {
            Err(StoreError::Unreachable {
                location,
                message: format!(
                    "{message} (redis.required / AGENTICORE_REDIS_REQUIRED is set: not falling \
                     back to the SQLite file)"
                ),
            })
        }
        Err(e) if config.redis.required => Err(e),
        Err(e) => {
            let why = match e {
                StoreError::Unreachable { message, .. } => message,
                other => other.to_string(),
            };
            let reason = format!("Redis at {} is unreachable: {why}", mask_url(url));
            tracing::warn!(
                "{reason}; FALLING BACK to the local SQLite file {}: this node does not see \
                 the shared queue (set AGENTICORE_REDIS_REQUIRED=true to refuse to start instead)",
                config.jobs_db_path().display()
            );
            let inner: Arc<dyn JobStore> = Arc::new(sqlite(config.jobs_db_path()).await?);
            Ok(Arc::new(fallback::FallbackStore::new(inner, reason)))
        }
    }
}
