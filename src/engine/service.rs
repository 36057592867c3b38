//! `Engine`: the one entry point that the CLI, the daemon and MCP drive. It validates and
//! queues jobs, cancels them, lists them, and broadcasts their progress. Running them is the
//! scheduler's job (`scheduler.rs`), preparing and finishing one run is `execute.rs`'s.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, broadcast, watch};
use tokio_util::sync::CancellationToken;

use super::events::{EventKind, JobEvent};
use super::git::Git;
use super::metrics::JobMetrics;
use super::repo::{self, RepoCache};
use super::scheduler::StoreLink;
use crate::config::Config;
use crate::job::{Job, JobId, JobSpec, Mode};
use crate::profile::Profiles;
use crate::store::{CancelOutcome, JobStore, ListFilter, Page, StoreError};
use crate::telemetry::{PostgresSink, SinkStatus};

/// Longest task text accepted (bytes).
pub const MAX_TASK_BYTES: usize = 256 * 1024;
/// Longest wall-clock timeout a job may ask for (7 days).
pub const MAX_TIMEOUT_SECONDS: u64 = 7 * 86_400;
/// Most jobs one `list` call returns: large, because scripts of the original list "all jobs"
/// with a huge limit (`?limit=10000000`) and count them.
pub const MAX_LIST_LIMIT: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Bad input: the caller's fault (exit 2, HTTP 400).
    #[error("{0}")]
    Invalid(String),
    #[error("Job not found: {0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a caller asks for. Everything optional has a default from the config.
#[derive(Debug, Clone, Default)]
pub struct SubmitRequest {
    pub task: String,
    pub repo_url: Option<String>,
    pub base_ref: Option<String>,
    pub profile: Option<String>,
    pub session_id: Option<String>,
    pub timeout_seconds: Option<u64>,
    pub wait: bool,
    pub keep_worktree_on_failure: bool,
}

pub(crate) struct Inner {
    pub config: Config,
    pub profiles: Profiles,
    pub store: Arc<dyn JobStore>,
    pub repos: RepoCache,
    pub git: Git,
    /// `host:pid`: the owner name written on claimed jobs.
    pub node: String,
    /// The agenticore binary to run as the job shim.
    pub shim_exe: PathBuf,
    pub events: broadcast::Sender<JobEvent>,
    /// Jobs this engine runs now, with the sender that cancels each.
    pub running: Mutex<HashMap<JobId, watch::Sender<Option<String>>>>,
    /// Poked when a job is queued or a slot frees up. Only the scheduler waits on it;
    /// `notify_one` keeps a poke that arrives while it is busy, so none is lost.
    pub wake: Notify,
    pub lease: Duration,
    /// Job results this engine is still trying to write (see `finals.rs`).
    pub unsaved: AtomicUsize,
    /// Fired when the engine stops: results the store will not take go to files instead.
    pub stop_retrying: CancellationToken,
    /// Fired when a serving engine stops: claimed jobs whose `claude` has not started yet go
    /// back to the queue instead of draining.
    pub releasing: CancellationToken,
    /// Whether the store has been answering (see `scheduler.rs`).
    pub link: Mutex<StoreLink>,
    /// What this engine counted (`/metrics`).
    pub metrics: JobMetrics,
    /// Where finished jobs go besides the store (`POSTGRES_URL`), when configured.
    pub telemetry: Option<PostgresSink>,
}

/// The job engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

impl Engine {
    /// An engine over `store`. `shim_exe` is the agenticore binary (normally
    /// `std::env::current_exe()`); it is re-run as the per-job shim.
    pub fn new(config: Config, store: Arc<dyn JobStore>, shim_exe: PathBuf) -> Engine {
        let profiles = Profiles::load(&config.profiles_dir());
        let git = Git::new().with_token(config.github.token.clone().map(super::git::Secret::new));
        // As many idle worktrees per repository as jobs can run at once.
        let repos = RepoCache::new(config.repos.root.clone(), git.clone())
            .with_pool(config.repos.max_parallel_jobs);
        let (events, _) = broadcast::channel(1024);
        let telemetry = config.postgres.url.as_deref().and_then(|url| {
            PostgresSink::new(url)
                .map_err(|e| tracing::warn!("PostgreSQL telemetry disabled: {e}"))
                .ok()
        });
        Engine {
            inner: Arc::new(Inner {
                node: node_name(),
                config,
                profiles,
                store,
                repos,
                git,
                shim_exe,
                events,
                running: Mutex::new(HashMap::new()),
                wake: Notify::new(),
                lease: Duration::from_secs(20),
                unsaved: AtomicUsize::new(0),
                stop_retrying: CancellationToken::new(),
                releasing: CancellationToken::new(),
                link: Mutex::new(StoreLink::Up),
                metrics: JobMetrics::default(),
                telemetry,
            }),
        }
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn profiles(&self) -> &Profiles {
        &self.inner.profiles
    }

    pub fn store(&self) -> &Arc<dyn JobStore> {
        &self.inner.store
    }

    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// What this engine counted since it started.
    pub fn metrics(&self) -> super::metrics::MetricsSnapshot {
        self.inner.metrics.snapshot()
    }

    /// The PostgreSQL sink's counters, when `POSTGRES_URL` is set.
    pub fn telemetry_status(&self) -> Option<SinkStatus> {
        self.inner.telemetry.as_ref().map(PostgresSink::status)
    }

    /// The PostgreSQL sink, when `POSTGRES_URL` is set (the OTLP receiver queues into it).
    pub fn telemetry_sink(&self) -> Option<&PostgresSink> {
        self.inner.telemetry.as_ref()
    }

    /// Start the PostgreSQL sink's task (connect and migrate) now rather than at the first
    /// finished job. A no-op without `POSTGRES_URL` or outside a Tokio runtime.
    pub fn start_telemetry(&self) {
        if let Some(t) = &self.inner.telemetry {
            t.start();
        }
    }

    /// Progress of every job this engine runs.
    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.inner.events.subscribe()
    }

    pub(crate) fn emit(&self, job_id: JobId, kind: EventKind) {
        let _ = self.inner.events.send(JobEvent::new(job_id, kind));
    }

    /// Validate and queue a job. Never refused for capacity: it waits in the queue.
    pub async fn submit(&self, req: SubmitRequest) -> Result<Job, EngineError> {
        let spec = self.validate(req)?;
        let job = Job::new(spec);
        self.inner.store.insert(&job).await?;
        tracing::info!(job = %job.id, profile = %job.spec.profile, "job queued");
        self.emit(
            job.id,
            EventKind::Status {
                status: job.status(),
                detail: None,
            },
        );
        self.inner.wake.notify_one();
        Ok(job)
    }

    fn validate(&self, req: SubmitRequest) -> Result<JobSpec, EngineError> {
        let invalid = |m: String| EngineError::Invalid(m);
        let task = req.task.trim();
        if task.is_empty() {
            return Err(invalid("task is required and must not be empty".into()));
        }
        if req.task.len() > MAX_TASK_BYTES {
            return Err(invalid(format!(
                "task is too long ({} bytes; the limit is {MAX_TASK_BYTES})",
                req.task.len()
            )));
        }
        let repo_url = match req.repo_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(u) => {
                repo::validate_repo_url(u).map_err(|e| invalid(e.to_string()))?;
                Some(u.to_string())
            }
        };
        let base_ref = match req.base_ref.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(r) => {
                repo::validate_ref(r).map_err(|e| invalid(e.to_string()))?;
                Some(r.to_string())
            }
        };
        if base_ref.is_some() && repo_url.is_none() {
            return Err(invalid("base_ref needs a repo_url".into()));
        }
        let profile = match req.profile.as_deref().map(str::trim) {
            None | Some("") => self.inner.config.claude.default_profile.clone(),
            Some(p) => p.to_string(),
        };
        self.inner
            .profiles
            .get(&profile)
            .map_err(|e| invalid(e.to_string()))?;
        let session_id = match req.session_id.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => {
                uuid::Uuid::parse_str(s).map_err(|_| {
                    invalid(format!(
                        "session_id {s:?} is not a Claude Code session id (a UUID)"
                    ))
                })?;
                Some(s.to_string())
            }
        };
        if let Some(t) = req.timeout_seconds
            && (t == 0 || t > MAX_TIMEOUT_SECONDS)
        {
            return Err(invalid(format!(
                "timeout must be between 1 and {MAX_TIMEOUT_SECONDS} seconds, not {t}"
            )));
        }
        Ok(JobSpec {
            task: req.task,
            repo_url,
            base_ref,
            profile,
            session_id,
            timeout_seconds: req.timeout_seconds,
            mode: if req.wait {
                Mode::Sync
            } else {
                Mode::FireAndForget
            },
            ttl_seconds: self.inner.config.repos.job_ttl_seconds,
            keep_worktree_on_failure: req.keep_worktree_on_failure,
        })
    }

    pub async fn get(&self, id: JobId) -> Result<Job, EngineError> {
        self.inner
            .store
            .get(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(id.to_string()))
    }

    /// Newest first. A limit above `MAX_LIST_LIMIT` is clamped (the page's cursor says there
    /// is more), so the seed's `?limit=10000000` keeps working without costing O(all).
    pub async fn list(&self, mut filter: ListFilter) -> Result<Page, EngineError> {
        if filter.limit == 0 {
            return Err(EngineError::Invalid("limit must be at least 1".into()));
        }
        filter.limit = filter.limit.min(MAX_LIST_LIMIT);
        Ok(self.inner.store.list(&filter).await?)
    }

    /// Cancel a job: a queued job never starts; a running one is killed (tree and all) by
    /// whichever process runs it, and ends `cancelled`.
    pub async fn cancel(&self, id: JobId, reason: &str) -> Result<CancelOutcome, EngineError> {
        let out = self.inner.store.request_cancel(id, reason).await?;
        match &out {
            CancelOutcome::NotFound => return Err(EngineError::NotFound(id.to_string())),
            CancelOutcome::CancelledQueued(job) => self.emit(
                job.id,
                EventKind::Status {
                    status: job.status(),
                    detail: Some(reason.to_string()),
                },
            ),
            CancelOutcome::Requested(_) => self.signal_cancel(id, reason),
            CancelOutcome::AlreadyFinished(_) => {}
        }
        Ok(out)
    }

    /// Tell a job this engine runs to stop (no-op for jobs run elsewhere).
    pub(crate) fn signal_cancel(&self, id: JobId, reason: &str) {
        if let Ok(map) = self.inner.running.lock()
            && let Some(tx) = map.get(&id)
        {
            let _ = tx.send(Some(reason.to_string()));
        }
    }

    /// How many jobs this engine runs now.
    pub fn running_here(&self) -> usize {
        self.inner.running.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Wait until the job is terminal, whichever process runs it. Polls the store, and wakes
    /// early on this engine's own events.
    pub async fn wait_terminal(&self, id: JobId) -> Result<Job, EngineError> {
        let mut rx = self.subscribe();
        loop {
            let job = self.get(id).await?;
            if job.status().is_terminal() {
                return Ok(job);
            }
            let _ = tokio::time::timeout(Duration::from_millis(500), async {
                loop {
                    let ev = super::events::next_for(&mut rx, id).await;
                    if let EventKind::Status { status, .. } = ev.kind
                        && status.is_terminal()
                    {
                        return;
                    }
                }
            })
            .await;
        }
    }
}

/// `host:pid`, the owner name of jobs claimed by this process.
pub fn node_name() -> String {
    format!("{}:{}", node_host(), std::process::id())
}

/// The first part of this process's node name: `AGENTICORE_POD_NAME` when set (a pod, or any
/// name unique to the machine), else the host name. Owners whose name starts with it are
/// processes of this machine, whose pids `local_owner_is_dead` may check.
fn node_host() -> String {
    std::env::var(POD_NAME_ENV)
        .ok()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty() && !p.contains(char::is_whitespace))
        .or_else(|| {
            nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
        })
        .unwrap_or_else(|| "localhost".into())
}

/// Names this process's node (`{name}:{pid}`) instead of the host name.
pub const POD_NAME_ENV: &str = "AGENTICORE_POD_NAME";

/// Is the owner `node` a process of this host that no longer runs?
pub fn local_owner_is_dead(node: &str) -> bool {
    let Some((host, pid)) = node.rsplit_once(':') else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    let me = node_name();
    let my_host = me.rsplit_once(':').map(|(h, _)| h).unwrap_or_default();
    host == my_host && !super::proctree::alive(pid)
}
