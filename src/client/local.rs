//! The embedded backend: the `Engine` on this machine's store, answering in wire types.

use std::time::Duration;

use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::{CancelNote, ClientError, FollowInner, LogFollow, ProfileReport, Result, Update};
use crate::api::{Health, JobList, JobView, ProfileList, Stats, SubmitBody};
use crate::config::Config;
use crate::engine::events::{EventKind, JobEvent, next_for};
use crate::engine::execute::log_path;
use crate::engine::joblog::{FollowError, Followed, LogFollower};
use crate::engine::{Engine, RunMode, SubmitRequest};
use crate::job::{Job, JobId, Status};
use crate::store::{CancelOutcome, ListFilter};

/// How long `status` waits for each answer of the local store (SQLite waits up to its busy
/// timeout for a lock; Redis up to its response timeout).
const LOCAL_STORE_TIMEOUT: Duration = Duration::from_secs(12);

/// The embedded engine, plus how to start a background worker (the binary knows how).
pub struct Local {
    pub engine: Engine,
    ensure_worker: fn(&Config),
    pod_name: String,
}

impl Local {
    /// `ensure_worker` starts a background worker when none runs; it is called after a job is
    /// queued (and not run here) and when a listing finds queued jobs.
    pub fn new(engine: Engine, ensure_worker: fn(&Config)) -> Local {
        Local {
            engine,
            ensure_worker,
            pod_name: super::pod_name(),
        }
    }

    pub fn view(&self, job: &Job) -> JobView {
        JobView::from_job(job, &self.pod_name)
    }

    /// Before showing jobs: reap those whose runner died, and make sure queued jobs have a
    /// worker (it may have crashed), so nothing waits forever unseen.
    pub async fn reconcile(&self) {
        self.engine.reconcile().await;
        if self
            .engine
            .store()
            .counts()
            .await
            .is_ok_and(|c| c.queued > 0)
        {
            (self.ensure_worker)(self.engine.config());
        }
    }

    pub(super) async fn submit(&self, body: SubmitBody, keep_worktree: bool) -> Result<JobView> {
        let job = self
            .engine
            .submit(SubmitRequest {
                task: body.task,
                repo_url: body.repo_url,
                base_ref: body.base_ref,
                profile: body.profile,
                session_id: body.session_id,
                timeout_seconds: body.timeout,
                wait: body.wait,
                keep_worktree_on_failure: keep_worktree,
            })
            .await?;
        if !body.wait {
            (self.ensure_worker)(self.engine.config());
        }
        Ok(self.view(&job))
    }

    pub(super) async fn get(&self, id: JobId) -> Result<JobView> {
        self.reconcile().await;
        Ok(self.view(&self.engine.get(id).await?))
    }

    pub(super) async fn list(
        &self,
        status: Option<Status>,
        limit: usize,
        cursor: Option<JobId>,
    ) -> Result<JobList> {
        self.reconcile().await;
        let page = self
            .engine
            .list(ListFilter {
                status,
                limit,
                cursor,
            })
            .await?;
        Ok(JobList {
            success: true,
            count: page.jobs.len(),
            jobs: page.jobs.iter().map(|j| self.view(j)).collect(),
            cursor: page.next_cursor.map(|c| c.to_string()),
        })
    }

    pub(super) async fn cancel(&self, id: JobId, wait: bool) -> Result<(JobView, CancelNote)> {
        let out = self.engine.cancel(id, "cancelled by user").await?;
        let (job, note) = match out {
            CancelOutcome::CancelledQueued(job) => (job, CancelNote::WasQueued),
            CancelOutcome::AlreadyFinished(job) => (job, CancelNote::AlreadyFinished),
            CancelOutcome::Requested(job) if !wait => (job, CancelNote::Requested),
            CancelOutcome::Requested(_) => {
                // Its runner (this machine's worker, a `submit --wait`, or a dead process that
                // reconcile catches) kills it; wait for the record to say so.
                let grace = self.engine.config().claude.kill_grace_seconds;
                let waited = tokio::time::timeout(Duration::from_secs(grace + 30), async {
                    loop {
                        self.engine.reconcile().await;
                        if let Ok(j) = self.engine.get(id).await
                            && j.status().is_terminal()
                        {
                            return j;
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                })
                .await;
                match waited {
                    Ok(job) => (job, CancelNote::Killed),
                    Err(_) => (self.engine.get(id).await?, CancelNote::Unconfirmed),
                }
            }
            CancelOutcome::NotFound => {
                return Err(ClientError::NotFound(format!("Job not found: {id}")));
            }
        };
        Ok((self.view(&job), note))
    }

    pub(super) fn profiles(&self) -> ProfileReport {
        let profiles = self.engine.profiles();
        let list: Vec<serde_json::Value> = profiles.valid().map(|p| p.summary_json()).collect();
        ProfileReport {
            list: ProfileList {
                success: true,
                count: list.len(),
                profiles: list,
            },
            broken: profiles
                .broken()
                .map(|(n, e)| (n.to_string(), e.to_string()))
                .collect(),
        }
    }

    pub(super) async fn health(&self) -> Result<Health> {
        let report = self.engine.health(LOCAL_STORE_TIMEOUT).await;
        Ok(Health::from_report(report))
    }

    pub(super) async fn stats(
        &self,
        since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Stats> {
        // Like a listing: jobs whose runner died count as what they are (failed), not running.
        self.reconcile().await;
        let report = self.engine.stats(since).await?;
        Ok(Stats::from_report(
            &report,
            self.engine.config().repos.job_ttl_seconds,
        ))
    }

    pub(super) async fn logs(&self, id: JobId) -> Result<Option<String>> {
        self.engine.get(id).await?;
        let path = log_path(self.engine.config(), id);
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ClientError::Store(format!(
                "reading {}: {e}",
                path.display()
            ))),
        }
    }

    pub(super) async fn follow_logs(&self, id: JobId) -> Result<LogFollow> {
        self.engine.get(id).await?;
        let (tx, rx) = mpsc::channel(256);
        let engine = self.engine.clone();
        tokio::spawn(async move {
            if let Err(e) = tail_log(&engine, id, &tx).await {
                let _ = tx.send(Err(e)).await;
            }
        });
        Ok(LogFollow {
            inner: FollowInner::Local(rx),
        })
    }

    pub(super) fn watch(&self, id: JobId, run_here: bool) -> super::WatchInner {
        let engine = self.engine.clone();
        // Subscribe before the scheduler starts, so no event of the run is missed.
        let events = engine.subscribe();
        let sched = run_here.then(|| {
            let shutdown = CancellationToken::new();
            let engine = engine.clone();
            let stop = shutdown.clone();
            let handle = tokio::spawn(async move {
                engine.run_scheduler(RunMode::Only(id), stop).await;
            });
            (handle, shutdown)
        });
        super::WatchInner::Local(LocalWatch {
            engine,
            events,
            sched,
            poll: tokio::time::interval(Duration::from_millis(500)),
            ticks: 0,
            ended: false,
        })
    }
}

/// Send the log's lines as they are written, until the job is over and the file read to its end.
async fn tail_log(engine: &Engine, id: JobId, tx: &mpsc::Sender<Result<String>>) -> Result<()> {
    let mut log = LogFollower::new(engine, id);
    loop {
        let next = log.next().await.map_err(|e| match e {
            FollowError::Engine(e) => ClientError::from(e),
            e @ FollowError::Read { .. } => ClientError::Store(e.to_string()),
        })?;
        match next {
            Followed::Line(line) => {
                if tx.send(Ok(line)).await.is_err() {
                    return Ok(()); // the reader went away
                }
            }
            Followed::End(_) | Followed::Stopped => return Ok(()),
        }
    }
}

/// The local side of `Watch`: the engine's events, a poll of the store for jobs run by another
/// process, and (with `run_here`) the scheduler that runs the job in this process.
pub(crate) struct LocalWatch {
    engine: Engine,
    events: broadcast::Receiver<JobEvent>,
    sched: Option<(tokio::task::JoinHandle<()>, CancellationToken)>,
    poll: tokio::time::Interval,
    ticks: u64,
    /// A terminal status event was seen.
    ended: bool,
}

impl LocalWatch {
    pub(super) async fn next(&mut self, id: JobId) -> Result<Update> {
        let pod = super::pod_name();
        if self.ended {
            let job = self.engine.get(id).await?;
            return Ok(Update::Done(JobView::from_job(&job, &pod)));
        }
        tokio::select! {
            ev = next_for(&mut self.events, id) => {
                if let EventKind::Status { status, .. } = ev.kind
                    && status.is_terminal()
                {
                    // Show the event; the final record comes with the next call.
                    self.ended = true;
                }
                Ok(Update::Event(ev))
            }
            _ = self.poll.tick() => {
                self.ticks += 1;
                if self.ticks.is_multiple_of(4) {
                    // If another process runs our job and dies, this is what notices.
                    self.engine.reconcile().await;
                }
                let job = JobView::from_job(&self.engine.get(id).await?, &pod);
                Ok(if job.status.is_terminal() {
                    Update::Done(job)
                } else {
                    Update::Snapshot(job)
                })
            }
        }
    }

    pub(super) async fn close(self) {
        if let Some((handle, shutdown)) = self.sched {
            shutdown.cancel();
            let _ = handle.await;
        }
    }
}
