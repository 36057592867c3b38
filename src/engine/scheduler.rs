//! The scheduler: claims queued jobs while this engine has free slots (and the store's cap
//! allows), renews leases, relays cancels requested by other processes, reaps jobs whose
//! owner died (killing what is left of them), and expires old records.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::execute::{execute, log_path};
use super::joblog::JobLog;
use super::proctree;
use super::service::{Engine, local_owner_is_dead};
use crate::job::JobId;
use crate::store::ClaimRequest;

/// How the scheduler ends.
#[derive(Debug, Clone, Copy)]
pub enum RunMode {
    /// Until shut down (the daemon).
    Forever,
    /// Until nothing is queued or running for `idle` (the background worker).
    UntilIdle { idle: Duration },
    /// Run only this job, return when it is terminal (an embedded `submit --wait`).
    Only(JobId),
}

/// How long running jobs may finish after a shutdown, and what cuts that short.
#[derive(Debug, Clone)]
pub struct Drain {
    pub timeout: Duration,
    /// Cancel the running jobs now (a second SIGTERM).
    pub force: CancellationToken,
}

/// Whether the store has been answering. Lease expiries are judged only after the store has
/// answered for a whole lease: after an outage (Redis restarting), no owner could renew its
/// leases either, and must get a lease's time to do so before anyone calls its jobs dead.
#[derive(Debug, Clone, Copy)]
pub(crate) enum StoreLink {
    Up,
    Down,
    /// Answering again since then.
    Back(tokio::time::Instant),
}

/// The reason written on jobs that a stopping engine had to cancel.
const STOPPED_REASON: &str = "cancelled: agenticore stopped before the job finished";

const TICK: Duration = Duration::from_millis(250);
const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);
const EXPIRE_EVERY: Duration = Duration::from_secs(60);
/// Longest the scheduler waits, when it stops, for the PostgreSQL sink to write its rows.
const TELEMETRY_FLUSH: Duration = Duration::from_secs(3);

impl Engine {
    /// Run the scheduler until `mode` says stop or `shutdown` fires. On shutdown, running
    /// jobs are cancelled (their trees killed) and awaited.
    pub async fn run_scheduler(&self, mode: RunMode, shutdown: CancellationToken) {
        self.run_scheduler_draining(mode, shutdown, None).await
    }

    /// Like `run_scheduler`, but on shutdown running jobs get `drain` to finish first.
    pub async fn run_scheduler_draining(
        &self,
        mode: RunMode,
        shutdown: CancellationToken,
        drain: Option<Drain>,
    ) {
        let slots = Arc::new(Semaphore::new(self.inner.config.repos.max_parallel_jobs));
        // A serving engine (daemon, worker) announces itself and hands unstarted jobs back
        // when it stops; an embedded `submit --wait` only runs its own job.
        let serving = !matches!(mode, RunMode::Only(_));
        self.start_telemetry();
        // Results an earlier process on this home could not write go first: before any reap
        // would call those jobs interrupted.
        self.replay_unsaved().await;
        // Cancels requested on other nodes, as they happen (the heartbeat is the durable path).
        let hints_stop = CancellationToken::new();
        let _hints_guard = hints_stop.clone().drop_guard();
        if let Some(mut hints) = self.inner.store.cancel_hints() {
            let engine = self.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = hints_stop.cancelled() => break,
                        id = hints.recv() => match id {
                            Some(id) => engine.signal_cancel(id, "cancelled by user"),
                            None => break,
                        },
                    }
                }
            });
        }
        let mut tasks = tokio::task::JoinSet::new();
        let mut last_beat = tokio::time::Instant::now() - HEARTBEAT_EVERY;
        let mut last_expire = tokio::time::Instant::now() - EXPIRE_EVERY;
        let mut idle_since: Option<tokio::time::Instant> = None;
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            while tasks.try_join_next().is_some() {}
            if last_beat.elapsed() >= HEARTBEAT_EVERY {
                self.heartbeat_and_reap(serving).await;
                last_beat = tokio::time::Instant::now();
            }
            if last_expire.elapsed() >= EXPIRE_EVERY {
                match self.inner.store.expire(chrono::Utc::now()).await {
                    Ok(n) if n > 0 => tracing::info!("expired {n} old job(s)"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!("expiring old jobs failed: {e}"),
                }
                last_expire = tokio::time::Instant::now();
            }

            // Claim while we have slots.
            let mut claimed_any = false;
            while let Ok(permit) = slots.clone().try_acquire_owned() {
                let req = ClaimRequest {
                    node: self.inner.node.clone(),
                    max_running: self.inner.config.repos.max_parallel_jobs,
                    only: match mode {
                        RunMode::Only(id) => Some(id),
                        _ => None,
                    },
                    lease: self.inner.lease,
                };
                match self.inner.store.claim_next(&req).await {
                    Ok(Some(job)) => {
                        claimed_any = true;
                        tracing::info!(job = %job.id, "job claimed");
                        let engine = self.clone();
                        tasks.spawn(async move {
                            execute(engine, job).await;
                            drop(permit);
                        });
                    }
                    Ok(None) => break,
                    Err(e) => {
                        if self.store_failed() {
                            tracing::warn!("claiming a job failed: {e}");
                        }
                        break;
                    }
                }
            }

            // Should we stop?
            match mode {
                RunMode::Forever => {}
                RunMode::Only(id) => {
                    if tasks.is_empty() {
                        match self.inner.store.get(id).await {
                            Ok(Some(j)) if j.status().is_terminal() => break,
                            // Running elsewhere, or gone: nothing for us to do.
                            Ok(Some(j)) if j.status() == crate::job::Status::Running => break,
                            Ok(None) => break,
                            _ => {}
                        }
                    }
                }
                RunMode::UntilIdle { idle } => {
                    let queued = self
                        .inner
                        .store
                        .counts()
                        .await
                        .map(|c| c.queued)
                        .unwrap_or(1);
                    if tasks.is_empty() && queued == 0 && !claimed_any {
                        let since = *idle_since.get_or_insert_with(tokio::time::Instant::now);
                        if since.elapsed() >= idle {
                            break;
                        }
                    } else {
                        idle_since = None;
                    }
                }
            }

            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.inner.wake.notified() => {},
                _ = tokio::time::sleep(TICK) => {},
            }
        }
        if serving {
            // Claimed jobs that have not started yet go back to the queue (another node, or
            // the next start, runs them); started ones drain.
            self.inner.releasing.cancel();
        }
        self.stop_running(tasks, drain, serving).await;
        if serving && let Err(e) = self.inner.store.leave(&self.inner.node).await {
            tracing::debug!("could not sign this node off: {e}");
        }
        // Rows of the jobs that just ended: give the PostgreSQL sink a moment to write them.
        if let Some(t) = &self.inner.telemetry {
            t.flush(TELEMETRY_FLUSH).await;
        }
    }

    /// Shutting down: let running jobs finish until the drain deadline (or `drain.force`),
    /// renewing their leases meanwhile; then cancel what still runs (trees killed) and wait
    /// until it is dead.
    async fn stop_running(
        &self,
        mut tasks: tokio::task::JoinSet<()>,
        drain: Option<Drain>,
        serving: bool,
    ) {
        if tasks.is_empty() {
            return;
        }
        if let Some(d) = drain {
            tracing::warn!(
                "draining: waiting up to {} s for {} running job(s)",
                d.timeout.as_secs(),
                tasks.len()
            );
            let deadline = tokio::time::Instant::now() + d.timeout;
            let mut beat = tokio::time::interval(HEARTBEAT_EVERY);
            loop {
                tokio::select! {
                    joined = tasks.join_next() => if joined.is_none() { return },
                    _ = beat.tick() => self.heartbeat_and_reap(serving).await,
                    _ = tokio::time::sleep_until(deadline) => break,
                    _ = d.force.cancelled() => break,
                }
            }
        }
        // From here on, a result the store will not take goes to a file, not into a retry.
        self.inner.stop_retrying.cancel();
        let ids: Vec<JobId> = self
            .inner
            .running
            .lock()
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default();
        for &id in &ids {
            tracing::warn!(job = %id, "cancelling: agenticore is stopping");
            self.signal_cancel(id, STOPPED_REASON);
        }
        let mut beat = tokio::time::interval(HEARTBEAT_EVERY);
        loop {
            tokio::select! {
                joined = tasks.join_next() => if joined.is_none() { break },
                _ = beat.tick() => self.heartbeat_and_reap(serving).await,
            }
        }
        if self.inner.config.server.requeue_interrupted {
            for id in ids {
                if let Ok(Some(job)) = self.inner.store.get(id).await
                    && job.state.error() == Some(STOPPED_REASON)
                {
                    self.requeue(&job).await;
                }
            }
        }
    }

    /// Reap jobs whose runner died (and kill what is left of them), without running any:
    /// what one-shot commands call so that they never show a dead job as running.
    pub async fn reconcile(&self) {
        self.replay_unsaved().await;
        self.heartbeat_and_reap(false).await;
        if let Err(e) = self.inner.store.expire(chrono::Utc::now()).await {
            tracing::warn!("expiring old jobs failed: {e}");
        }
    }

    /// `server.requeue_interrupted`: run an interrupted job again, as a new job with the same
    /// spec (only after what was left of the old one is dead; the old record stays `failed`,
    /// terminal states being final). The old job's log names the new one.
    async fn requeue(&self, old: &crate::job::Job) {
        let job = crate::job::Job::new(old.spec.clone());
        match self.inner.store.insert(&job).await {
            Ok(()) => {
                tracing::warn!(job = %old.id, new_job = %job.id, "interrupted job re-queued");
                let mut journal = JobLog::open(&log_path(&self.inner.config, old.id)).await;
                journal
                    .note(serde_json::json!({"event": "requeued", "new_job": job.id}))
                    .await;
                self.emit(
                    job.id,
                    super::events::EventKind::Status {
                        status: job.status(),
                        detail: Some(format!("re-queued from interrupted job {}", old.id)),
                    },
                );
                self.inner.wake.notify_one();
            }
            Err(e) => tracing::error!(job = %old.id, "could not re-queue the interrupted job: {e}"),
        }
    }

    /// The store failed a call: lease expiries are not judged until it has answered again for
    /// a whole lease. Returns whether it was answering until now (so the caller logs once).
    pub(crate) fn store_failed(&self) -> bool {
        let Ok(mut link) = self.inner.link.lock() else {
            return true;
        };
        let was_up = !matches!(*link, StoreLink::Down);
        *link = StoreLink::Down;
        was_up
    }

    /// The store answered: may lease expiries be judged (it has answered for a whole lease)?
    fn store_answered(&self) -> bool {
        let Ok(mut link) = self.inner.link.lock() else {
            return true;
        };
        match *link {
            StoreLink::Up => true,
            StoreLink::Down => {
                tracing::warn!(
                    "the job store answers again; other nodes' leases are judged again in {} s",
                    self.inner.lease.as_secs()
                );
                *link = StoreLink::Back(tokio::time::Instant::now());
                false
            }
            StoreLink::Back(since) if since.elapsed() >= self.inner.lease => {
                *link = StoreLink::Up;
                true
            }
            StoreLink::Back(_) => false,
        }
    }

    /// Say we are alive (a serving engine), renew our leases, pick up cancels requested
    /// elsewhere, and reap dead owners' jobs.
    async fn heartbeat_and_reap(&self, serving: bool) {
        let store = &self.inner.store;
        let mut failure = None;
        if serving
            && let Err(e) = store
                .announce(&self.inner.node, self.inner.config.repos.max_parallel_jobs)
                .await
        {
            failure = Some(e);
        }
        let mine: Vec<JobId> = self
            .inner
            .running
            .lock()
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default();
        if !mine.is_empty() {
            match store
                .heartbeat(&self.inner.node, &mine, self.inner.lease)
                .await
            {
                Ok(cancels) => {
                    for id in cancels {
                        self.signal_cancel(id, "cancelled by user");
                    }
                }
                Err(e) => failure = Some(e),
            }
        }
        if let Some(e) = failure {
            if self.store_failed() {
                tracing::warn!(
                    "the job store stopped answering ({e}); running jobs go on, their ends are \
                     kept until it answers"
                );
            }
            return;
        }
        let check_leases = self.store_answered();
        let dead = |node: &str| local_owner_is_dead(node);
        match store.reap(chrono::Utc::now(), check_leases, &dead).await {
            Ok(jobs) => {
                for job in jobs {
                    tracing::warn!(job = %job.id, "reconciled a job whose runner stopped: {}",
                        job.state.error().unwrap_or("interrupted"));
                    let id = job.id.to_string();
                    // Every process of a job carries its id in its environment.
                    let _ = tokio::task::spawn_blocking(move || {
                        proctree::kill_all(None, &id, Duration::from_secs(5))
                    })
                    .await;
                    if self.inner.config.server.requeue_interrupted
                        && job.status() == crate::job::Status::Failed
                    {
                        self.requeue(&job).await;
                    }
                }
            }
            Err(e) => {
                if self.store_failed() {
                    tracing::warn!("reaping stale jobs failed: {e}");
                }
            }
        }
    }
}
