//! The PostgreSQL sink (`POSTGRES_URL`): two write lanes ([`super::pg_lane`]), each with its
//! own queue, batches and connection: finished jobs (`agenticore_jobs`, upserted) and Claude's
//! OTLP telemetry (`agenticore_otel_*`, appended). Rows held while PostgreSQL is down stay
//! queued, within each lane's budget, and are written when it comes back.

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;

use super::migrations;
use super::otel_rows::TelemetryRows;
use super::otel_sql::TelemetryWriter;
pub use super::pg_lane::{BATCH_WAIT, Refused};
use super::pg_lane::{Lane, LaneWriter};
use crate::config::mask_url;
use crate::job::Job;

/// Job rows the queue holds before `send` drops them.
pub const QUEUE_ROWS: usize = 10_000;
/// Most job rows written in one transaction.
pub const BATCH_ROWS: usize = 100;
/// Telemetry rows (metric points, events, spans) the queue holds before it refuses more.
pub const TELEMETRY_QUEUE_ROWS: usize = 100_000;
/// Most telemetry rows written in one transaction.
pub const TELEMETRY_BATCH_ROWS: usize = 5_000;

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
    /// Job rows.
    pub rows_written: u64,
    pub rows_dropped: u64,
    /// Job rows queued or held, not written yet.
    pub pending_rows: u64,
    /// Whether the last attempt to reach PostgreSQL succeeded (the job lane's connection).
    pub up: bool,
    /// Telemetry rows (metric data points, events, spans).
    pub telemetry_rows_written: u64,
    pub telemetry_rows_dropped: u64,
    pub telemetry_pending_rows: u64,
}

/// The job lane.
struct JobWriter;

impl LaneWriter for JobWriter {
    type Item = JobRow;
    const WHAT: &'static str = "job rows";

    fn rows(_: &JobRow) -> u64 {
        1
    }

    fn write<'a>(
        client: &'a mut Client,
        items: &'a [JobRow],
    ) -> impl Future<Output = Result<(), tokio_postgres::Error>> + Send + 'a {
        write(client, items)
    }
}

/// The sink. Cheap to share; the background tasks start on `start` (or the first `send`
/// inside a Tokio runtime).
pub struct PostgresSink {
    url: String,
    jobs: Lane<JobWriter>,
    telemetry: Lane<TelemetryWriter>,
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
        Ok(PostgresSink {
            url: url.to_string(),
            jobs: Lane::new(url, QUEUE_ROWS as u64, BATCH_ROWS as u64),
            telemetry: Lane::new(
                url,
                TELEMETRY_QUEUE_ROWS as u64,
                TELEMETRY_BATCH_ROWS as u64,
            ),
        })
    }

    /// Spawn the background tasks, once; a no-op outside a Tokio runtime or when started.
    pub fn start(&self) {
        let jobs = self.jobs.start();
        let telemetry = self.telemetry.start();
        if jobs || telemetry {
            tracing::info!(url = %mask_url(&self.url), "PostgreSQL telemetry sink started");
        }
    }

    /// Queue a finished job's row. Never blocks: a full queue drops the row (counted, and
    /// warned about once per burst).
    pub fn send(&self, job: &Job) {
        // Counted and logged by the lane.
        let _ = self.jobs.push(JobRow::from(job));
    }

    /// Queue OTLP rows. Never blocks; refused (and counted as dropped) past the telemetry
    /// budget, so the receiver can tell its sender to retry later.
    pub fn send_telemetry(&self, rows: TelemetryRows) -> Result<(), Refused> {
        if rows.is_empty() {
            return Ok(());
        }
        self.telemetry.push(rows)
    }

    /// Wait until every queued row is written (or dropped), at most `within`. Returns at once
    /// when the tasks never started. Rows left are logged.
    pub async fn flush(&self, within: Duration) {
        let deadline = Instant::now() + within;
        tokio::join!(self.jobs.flush(deadline), self.telemetry.flush(deadline));
    }

    pub fn status(&self) -> SinkStatus {
        let j = self.jobs.status();
        let t = self.telemetry.status();
        SinkStatus {
            rows_written: j.rows_written,
            rows_dropped: j.rows_dropped,
            pending_rows: j.pending_rows,
            up: j.up,
            telemetry_rows_written: t.rows_written,
            telemetry_rows_dropped: t.rows_dropped,
            telemetry_pending_rows: t.pending_rows,
        }
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

    fn points(n: usize) -> TelemetryRows {
        use crate::telemetry::otlp::{Encoding, Signal, decode};
        let json = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m",
            "gauge":{"dataPoints":[{"asDouble":1}]}}]}]}]}"#;
        let e = decode(Signal::Metrics, Encoding::Json, None, json.as_bytes()).expect("json");
        let one = crate::telemetry::otel_rows::flatten(&e, None);
        TelemetryRows {
            metrics: vec![one.metrics[0].clone(); n],
            ..TelemetryRows::default()
        }
    }

    #[test]
    fn a_full_telemetry_queue_refuses_whole_requests_and_leaves_job_rows_alone() {
        let sink = PostgresSink::new("postgres://u:pw@127.0.0.1:1/x").expect("url");
        assert_eq!(
            sink.send_telemetry(points(TELEMETRY_QUEUE_ROWS - 1)),
            Ok(())
        );
        assert_eq!(sink.send_telemetry(points(2)), Err(Refused::QueueFull));
        assert_eq!(
            sink.send_telemetry(points(1)),
            Ok(()),
            "what fits still goes in"
        );
        assert_eq!(sink.send_telemetry(TelemetryRows::default()), Ok(()));
        sink.send(&job());
        let s = sink.status();
        assert_eq!(s.telemetry_pending_rows, TELEMETRY_QUEUE_ROWS as u64);
        assert_eq!(s.telemetry_rows_dropped, 2);
        assert_eq!((s.pending_rows, s.rows_dropped), (1, 0));
    }

    #[test]
    fn a_bad_url_is_refused_without_its_password() {
        let e = PostgresSink::new("postgres://u:hunter2@h:notaport/x").expect_err("bad port");
        let msg = e.to_string();
        assert!(!msg.contains("hunter2"), "{msg}");
        assert!(msg.contains("u:****@h"), "{msg}");
    }
}
