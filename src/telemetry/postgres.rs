//! The PostgreSQL sink: a bounded queue, one background task that batches rows (up to
//! `BATCH_ROWS` or `BATCH_WAIT`) and upserts each batch in one transaction, reconnecting with
//! back-off while PostgreSQL is down. Rows it holds while PostgreSQL is down stay queued
//! (bounded by `QUEUE_ROWS` plus one batch) and are written when it comes back.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;

use super::migrations;
use crate::config::mask_url;
use crate::job::Job;

/// Rows the queue holds before `send` drops them.
pub const QUEUE_ROWS: usize = 10_000;
/// Most rows written in one transaction.
pub const BATCH_ROWS: usize = 100;
/// How long a batch waits for more rows after its first one.
pub const BATCH_WAIT: Duration = Duration::from_secs(1);
/// Longest a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The URL does not parse; the message never holds the password.
    #[error("POSTGRES_URL {url} is not a valid PostgreSQL URL: {reason}")]
    BadUrl { url: String, reason: String },
}

/// One row of `agenticore_jobs`: what a finished job reports.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRow {
    pub id: Uuid,
    pub status: String,
    pub profile: String,
    pub repo_url: Option<String>,
    pub base_ref: Option<String>,
    pub branch: Option<String>,
    pub node: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<f64>,
    pub exit_code: Option<i32>,
    pub cost_usd: Option<f64>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cache_read_tokens: Option<i64>,
    pub cache_creation_tokens: Option<i64>,
    pub num_turns: Option<i64>,
    pub model: Option<String>,
    pub session_id: Option<String>,
    pub pr_url: Option<String>,
    pub error: Option<String>,
    pub task: String,
}

fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl From<&Job> for JobRow {
    fn from(job: &Job) -> JobRow {
        let started_at = job.state.started_at();
        let ended_at = job.state.ended_at();
        let p = &job.progress;
        let tokens = p.tokens.as_ref();
        JobRow {
            id: job.id.as_uuid(),
            status: job.status().as_str().to_string(),
            profile: job.spec.profile.clone(),
            repo_url: job.spec.repo_url.clone(),
            base_ref: job.spec.base_ref.clone(),
            branch: p.branch.clone(),
            node: p
                .ran_on
                .clone()
                .or_else(|| job.state.node().map(str::to_string)),
            created_at: job.created_at,
            started_at,
            ended_at,
            duration_seconds: started_at
                .zip(ended_at)
                .map(|(s, e)| (e - s).num_milliseconds() as f64 / 1000.0),
            exit_code: job.state.exit_code(),
            cost_usd: p.cost_usd,
            input_tokens: tokens.map(|t| big(t.input)),
            output_tokens: tokens.map(|t| big(t.output)),
            cache_read_tokens: tokens.map(|t| big(t.cache_read)),
            cache_creation_tokens: tokens.map(|t| big(t.cache_creation)),
            num_turns: p.num_turns.map(big),
            model: p.model.clone(),
            session_id: p.session_id.clone(),
            pr_url: p.pr_url.clone(),
            error: job.state.error().map(str::to_string),
            task: job.spec.task.clone(),
        }
    }
}

/// What the sink did since it started (`/metrics`, `/health`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SinkStatus {
    pub rows_written: u64,
    pub rows_dropped: u64,
    /// Rows queued or held, not written yet.
    pub pending_rows: u64,
    /// Whether the last attempt to reach PostgreSQL succeeded.
    pub up: bool,
}

#[derive(Default)]
struct Counters {
    written: AtomicU64,
    dropped: AtomicU64,
    pending: AtomicU64,
    up: AtomicBool,
    /// A burst of drops is under way (its warning was logged).
    dropping: AtomicBool,
}

/// The sink. Cheap to share; the background task starts on `start` (or the first `send`
/// inside a Tokio runtime).
pub struct PostgresSink {
    url: String,
    tx: mpsc::Sender<JobRow>,
    rx: Mutex<Option<mpsc::Receiver<JobRow>>>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for PostgresSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSink")
            .field("url", &mask_url(&self.url))
            .field("status", &self.status())
            .finish()
    }
}

impl PostgresSink {
    /// A sink for `url` (a `postgres://` URL; `?options=-c search_path=...` chooses the
    /// schema). Checks the URL; connects only once started.
    pub fn new(url: &str) -> Result<PostgresSink, SinkError> {
        tokio_postgres::Config::from_str(url).map_err(|e| SinkError::BadUrl {
            url: mask_url(url),
            reason: e.to_string(),
        })?;
        let (tx, rx) = mpsc::channel(QUEUE_ROWS);
        Ok(PostgresSink {
            url: url.to_string(),
            tx,
            rx: Mutex::new(Some(rx)),
            counters: Arc::new(Counters::default()),
        })
    }

    /// Spawn the background task, once; a no-op outside a Tokio runtime or when started.
    pub fn start(&self) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let rx = match self.rx.lock() {
            Ok(mut g) => g.take(),
            Err(_) => None,
        };
        if let Some(rx) = rx {
            tracing::info!(url = %mask_url(&self.url), "PostgreSQL telemetry sink started");
            handle.spawn(run(self.url.clone(), rx, self.counters.clone()));
        }
    }

    /// Queue a finished job's row. Never blocks: a full queue drops the row (counted, and
    /// warned about once per burst).
    pub fn send(&self, job: &Job) {
        self.start();
        let c = &self.counters;
        c.pending.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(JobRow::from(job)) {
            Ok(()) => {
                if c.dropping.swap(false, Ordering::Relaxed) {
                    tracing::info!("PostgreSQL telemetry queue takes rows again");
                }
            }
            Err(e) => {
                c.pending.fetch_sub(1, Ordering::Relaxed);
                c.dropped.fetch_add(1, Ordering::Relaxed);
                if !c.dropping.swap(true, Ordering::Relaxed) {
                    let why = match e {
                        mpsc::error::TrySendError::Full(_) => "its queue is full",
                        mpsc::error::TrySendError::Closed(_) => "its task stopped",
                    };
                    tracing::warn!(
                        job = %job.id,
                        dropped_total = c.dropped.load(Ordering::Relaxed),
                        "PostgreSQL telemetry drops job rows: {why} (PostgreSQL down or slow?)"
                    );
                }
            }
        }
    }

    /// Wait until every queued row is written (or dropped), at most `within`. Returns at once
    /// when the task never started. Rows left are logged.
    pub async fn flush(&self, within: Duration) {
        if self.rx.lock().map(|g| g.is_some()).unwrap_or(true) {
            return;
        }
        let deadline = Instant::now() + within;
        while self.counters.pending.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let left = self.counters.pending.load(Ordering::Relaxed);
        if left > 0 {
            tracing::warn!(
                rows = left,
                "PostgreSQL telemetry: rows not written before the stop"
            );
        }
    }

    pub fn status(&self) -> SinkStatus {
        let c = &self.counters;
        SinkStatus {
            rows_written: c.written.load(Ordering::Relaxed),
            rows_dropped: c.dropped.load(Ordering::Relaxed),
            pending_rows: c.pending.load(Ordering::Relaxed),
            up: c.up.load(Ordering::Relaxed),
        }
    }
}

/// The background task: batch, connect (migrating on each new connection), write, repeat.
async fn run(url: String, mut rx: mpsc::Receiver<JobRow>, counters: Arc<Counters>) {
    let masked = mask_url(&url);
    let mut client: Option<Client> = None;
    let mut backoff = BACKOFF_MIN;
    // Warn once per outage; note when it ends.
    let mut down_logged = false;
    let mut batch: Vec<JobRow> = Vec::with_capacity(BATCH_ROWS);
    // Connect at start, so the migrations run before the first job ends.
    let mut open = true;
    loop {
        if client.is_none() {
            match connect(&url).await {
                Ok(c) => {
                    client = Some(c);
                    counters.up.store(true, Ordering::Relaxed);
                    backoff = BACKOFF_MIN;
                    if down_logged {
                        tracing::info!(url = %masked, "PostgreSQL telemetry: reachable again");
                        down_logged = false;
                    }
                }
                Err(e) => {
                    counters.up.store(false, Ordering::Relaxed);
                    if !down_logged {
                        tracing::warn!(
                            url = %masked,
                            "PostgreSQL telemetry: cannot reach PostgreSQL ({e}); rows are kept \
                             (up to {QUEUE_ROWS}) and retried"
                        );
                        down_logged = true;
                    } else {
                        tracing::debug!(url = %masked, "PostgreSQL telemetry: still down: {e}");
                    }
                    if !open && batch.is_empty() {
                        return;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            }
        }
        if batch.is_empty() {
            if !open {
                return;
            }
            open = fill(&mut rx, &mut batch).await;
            if batch.is_empty() {
                continue;
            }
        }
        let Some(c) = client.as_mut() else { continue };
        match write(c, &batch).await {
            Ok(()) => {
                let n = batch.len() as u64;
                counters.written.fetch_add(n, Ordering::Relaxed);
                counters.pending.fetch_sub(n, Ordering::Relaxed);
                tracing::debug!(rows = n, "PostgreSQL telemetry: rows written");
                batch.clear();
            }
            Err(e) => {
                // PostgreSQL refused the rows themselves when the connection still answers:
                // retrying them would loop forever. Otherwise the connection broke: keep the
                // batch and reconnect.
                let alive = !c.is_closed()
                    && tokio::time::timeout(CONNECT_TIMEOUT, c.simple_query("SELECT 1"))
                        .await
                        .is_ok_and(|r| r.is_ok());
                if alive {
                    let n = batch.len() as u64;
                    counters.dropped.fetch_add(n, Ordering::Relaxed);
                    counters.pending.fetch_sub(n, Ordering::Relaxed);
                    tracing::error!(rows = n, "PostgreSQL telemetry: rows refused, dropped: {e}");
                    batch.clear();
                } else {
                    counters.up.store(false, Ordering::Relaxed);
                    tracing::warn!(
                        url = %masked,
                        "PostgreSQL telemetry: connection lost ({e}); rows kept, retrying"
                    );
                    down_logged = true;
                    client = None;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }
}

/// Wait for a first row, then up to `BATCH_WAIT` for more, up to `BATCH_ROWS`. False once
/// the queue is closed (the engine is gone).
async fn fill(rx: &mut mpsc::Receiver<JobRow>, batch: &mut Vec<JobRow>) -> bool {
    match rx.recv().await {
        Some(r) => batch.push(r),
        None => return false,
    }
    let deadline = Instant::now() + BATCH_WAIT;
    while batch.len() < BATCH_ROWS {
        tokio::select! {
            r = rx.recv() => match r {
                Some(r) => batch.push(r),
                None => return false,
            },
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    true
}

async fn connect(url: &str) -> Result<Client, String> {
    let attempt = async {
        let (mut client, conn) = tokio_postgres::connect(url, NoTls)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("PostgreSQL telemetry connection ended: {e}");
            }
        });
        migrations::migrate(&mut client)
            .await
            .map_err(|e| format!("migrations failed: {e}"))?;
        Ok(client)
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs())),
    }
}

const UPSERT: &str = "INSERT INTO agenticore_jobs (
    id, status, profile, repo_url, base_ref, branch, node, created_at, started_at, ended_at,
    duration_seconds, exit_code, cost_usd, input_tokens, output_tokens, cache_read_tokens,
    cache_creation_tokens, num_turns, model, session_id, pr_url, error, task
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
    $20, $21, $22, $23)
ON CONFLICT (id) DO UPDATE SET
    status = EXCLUDED.status, profile = EXCLUDED.profile, repo_url = EXCLUDED.repo_url,
    base_ref = EXCLUDED.base_ref, branch = EXCLUDED.branch, node = EXCLUDED.node,
    created_at = EXCLUDED.created_at, started_at = EXCLUDED.started_at,
    ended_at = EXCLUDED.ended_at, duration_seconds = EXCLUDED.duration_seconds,
    exit_code = EXCLUDED.exit_code, cost_usd = EXCLUDED.cost_usd,
    input_tokens = EXCLUDED.input_tokens, output_tokens = EXCLUDED.output_tokens,
    cache_read_tokens = EXCLUDED.cache_read_tokens,
    cache_creation_tokens = EXCLUDED.cache_creation_tokens, num_turns = EXCLUDED.num_turns,
    model = EXCLUDED.model, session_id = EXCLUDED.session_id, pr_url = EXCLUDED.pr_url,
    error = EXCLUDED.error, task = EXCLUDED.task";

/// Upsert `rows` in one transaction.
async fn write(client: &mut Client, rows: &[JobRow]) -> Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    let stmt = tx.prepare(UPSERT).await?;
    for r in rows {
        tx.execute(
            &stmt,
            &[
                &r.id,
                &r.status,
                &r.profile,
                &r.repo_url,
                &r.base_ref,
                &r.branch,
                &r.node,
                &r.created_at,
                &r.started_at,
                &r.ended_at,
                &r.duration_seconds,
                &r.exit_code,
                &r.cost_usd,
                &r.input_tokens,
                &r.output_tokens,
                &r.cache_read_tokens,
                &r.cache_creation_tokens,
                &r.num_turns,
                &r.model,
                &r.session_id,
                &r.pr_url,
                &r.error,
                &r.task,
            ],
        )
        .await?;
    }
    tx.commit().await
}

/// Apply the migrations on `url` now (tests, and tools that want the schema without a sink).
pub async fn migrate_url(url: &str) -> Result<usize, String> {
    let (mut client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| e.to_string())?;
    let task = tokio::spawn(conn);
    let n = migrations::migrate(&mut client)
        .await
        .map_err(|e| e.to_string());
    drop(client);
    let _ = task.await;
    n
}

/// `migrate_url` with an owned URL (to spawn it).
pub async fn migrate_url_owned(url: String) -> Result<usize, String> {
    migrate_url(&url).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JobSpec, JobState, Mode, Progress, Tokens};

    fn job() -> Job {
        let mut j = Job::new(JobSpec {
            task: "t".into(),
            repo_url: None,
            base_ref: None,
            profile: "code".into(),
            session_id: None,
            timeout_seconds: None,
            mode: Mode::FireAndForget,
            ttl_seconds: 60,
            keep_worktree_on_failure: false,
        });
        let started = j.created_at + chrono::Duration::milliseconds(250);
        j.state = JobState::Succeeded {
            started_at: started,
            ended_at: started + chrono::Duration::milliseconds(1500),
            exit_code: 0,
        };
        j.progress = Progress {
            cost_usd: Some(0.5),
            num_turns: Some(3),
            tokens: Some(Tokens {
                input: 1,
                output: 2,
                cache_read: 3,
                cache_creation: u64::MAX,
            }),
            ran_on: Some("n:1".into()),
            ..Progress::default()
        };
        j
    }

    #[test]
    fn a_row_carries_the_jobs_values() {
        let j = job();
        let r = JobRow::from(&j);
        assert_eq!(r.id, j.id.as_uuid());
        assert_eq!(r.status, "succeeded");
        assert_eq!(r.duration_seconds, Some(1.5));
        assert_eq!(r.node.as_deref(), Some("n:1"));
        assert_eq!(r.exit_code, Some(0));
        assert_eq!(r.cost_usd, Some(0.5));
        assert_eq!(r.num_turns, Some(3));
        assert_eq!(
            (r.input_tokens, r.output_tokens, r.cache_read_tokens),
            (Some(1), Some(2), Some(3))
        );
        assert_eq!(r.cache_creation_tokens, Some(i64::MAX), "saturates");
        assert_eq!(r.error, None);
    }

    #[test]
    fn a_full_queue_drops_and_counts_never_blocks() {
        // No runtime here: the task never starts, so the queue only fills.
        let sink = PostgresSink::new("postgres://u:pw@127.0.0.1:1/x").expect("url");
        let j = job();
        for _ in 0..QUEUE_ROWS + 7 {
            sink.send(&j);
        }
        let s = sink.status();
        assert_eq!(s.pending_rows, QUEUE_ROWS as u64);
        assert_eq!(s.rows_dropped, 7);
        assert_eq!(s.rows_written, 0);
        assert!(!s.up);
    }

    #[test]
    fn a_bad_url_is_refused_without_its_password() {
        let e = PostgresSink::new("postgres://u:hunter2@h:notaport/x").expect_err("bad port");
        let msg = e.to_string();
        assert!(!msg.contains("hunter2"), "{msg}");
        assert!(msg.contains("u:****@h"), "{msg}");
    }
}
