//! Wire types shared by the server, the client and the CLI's `--json`: the seed-compatible job
//! JSON (its key order, its status names, null keys omitted), the request bodies and the
//! response envelopes. Everything here is plain data that (de)serializes both ways.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::job::{Job, JobState, PermissionDenial, Status, TimeoutKind};

/// Cap of the `output` field on the wire and in the record (defined by the job model).
pub use crate::job::OUTPUT_LIMIT_CHARS;

/// ISO-8601 with `+00:00`, as the seed prints it.
pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Token counts of a job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokensView {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_creation: u64,
}

/// A job as the seed's JSON object: `id, repo_url, base_ref, task, profile, status, mode,
/// exit_code?, session_id?, pr_url?, output?, error?, created_at, started_at?, ended_at?,
/// ttl_seconds, pid?, pod_name, worktree_path, job_config_dir`, then agenticore's additions.
/// Absent values are omitted, never `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    pub id: String,
    #[serde(default)]
    pub repo_url: String,
    #[serde(default)]
    pub base_ref: String,
    pub task: String,
    pub profile: String,
    /// queued, running, succeeded, failed or cancelled.
    #[schema(value_type = String, example = "running")]
    pub status: Status,
    /// fire_and_forget or sync.
    pub mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Auto-PR: the pull request opened (or reused) for the job's branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr_url: Option<String>,
    /// What the profile's output_format asks for (bounded to 50,000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Why the job failed, or why it was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    pub ttl_seconds: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default)]
    pub pod_name: String,
    #[serde(default)]
    pub worktree_path: String,
    #[serde(default)]
    pub job_config_dir: String,
    // ---- additions (after the seed's keys) ----
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The node that runs the job, or ran it (`host:pid`, or `pod:pid` with
    /// `AGENTICORE_POD_NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_turns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<TokensView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Tool calls that Claude Code's permissions refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub permission_denials: Vec<PermissionDenial>,
    /// MCP servers that did not connect (`name: status`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mcp_failures: Vec<String>,
    /// Claude's result subtype (`success`, `error_max_turns`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_subtype: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_error_status: Option<u16>,
    /// Auto-PR: why the job has no pull request (no commits, push refused, no `gh`, no token,
    /// not a GitHub host...). The job's status is not affected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message: Option<String>,
    /// Which limit stopped the job, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub timeout: Option<TimeoutKind>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub cancel_requested: bool,
}

impl JobView {
    pub fn from_job(job: &Job, pod_name: &str) -> JobView {
        let p = &job.progress;
        let s = &job.state;
        JobView {
            id: job.id.to_string(),
            repo_url: job.spec.repo_url.clone().unwrap_or_default(),
            base_ref: job.spec.base_ref.clone().unwrap_or_default(),
            task: job.spec.task.clone(),
            profile: job.spec.profile.clone(),
            status: job.status(),
            mode: job.spec.mode.as_str().to_string(),
            exit_code: s.exit_code(),
            session_id: p.session_id.clone(),
            pr_url: p.pr_url.clone(),
            output: p.output.clone(),
            error: s.error().map(str::to_string),
            created_at: timestamp(job.created_at),
            started_at: s.started_at().map(timestamp),
            ended_at: s.ended_at().map(timestamp),
            ttl_seconds: job.spec.ttl_seconds,
            pid: s.pid(),
            pod_name: pod_name.to_string(),
            worktree_path: p.worktree_path.clone().unwrap_or_default(),
            job_config_dir: p.job_config_dir.clone().unwrap_or_default(),
            branch: p.branch.clone(),
            node: s.node().map(str::to_string).or_else(|| p.ran_on.clone()),
            cost_usd: p.cost_usd,
            num_turns: p.num_turns,
            tokens: p.tokens.as_ref().map(|t| TokensView {
                input: t.input,
                output: t.output,
                cache_read: t.cache_read,
                cache_creation: t.cache_creation,
            }),
            model: p.model.clone(),
            permission_denials: p.permission_denials.clone(),
            mcp_failures: p.mcp_failures.clone(),
            result_subtype: p.result_subtype.clone(),
            api_error_status: p.api_error_status,
            pr_error: p.pr_error.clone(),
            last_message: p.last_message.clone(),
            timeout: match s {
                JobState::Failed { timeout, .. } => timeout.clone(),
                _ => None,
            },
            cancel_requested: matches!(
                s,
                JobState::Running {
                    cancel_requested: true,
                    ..
                }
            ),
        }
    }

    pub fn created(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        parse_ts(&self.created_at)
    }

    pub fn started(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.started_at.as_deref().and_then(parse_ts)
    }

    pub fn ended(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.ended_at.as_deref().and_then(parse_ts)
    }
}

fn parse_ts(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// `POST /jobs` body (the seed's fields, plus `timeout`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SubmitBody {
    /// What Claude Code should do.
    pub task: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_ref: Option<String>,
    /// Hold the request until the job ends.
    #[serde(default)]
    pub wait: bool,
    /// Resume this Claude Code session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Wall-clock limit in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

/// `{"success":true,"job":{...}}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobEnvelope {
    pub success: bool,
    pub job: JobView,
}

/// `{"success":true,"count":N,"jobs":[...],"cursor":...}`, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobList {
    pub success: bool,
    pub count: usize,
    pub jobs: Vec<JobView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// `{"success":true,"count":N,"profiles":[...]}`; each profile as the seed lists it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProfileList {
    pub success: bool,
    pub count: usize,
    #[schema(value_type = Vec<Object>)]
    pub profiles: Vec<serde_json::Value>,
}

/// `GET /health`: the seed's two keys, then version, node, store and load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub service: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub node: String,
    /// Where the jobs live (path or URL, no secrets).
    #[serde(default)]
    pub store: String,
    #[serde(default)]
    pub running: u64,
    #[serde(default)]
    pub queued: u64,
    #[serde(default)]
    pub max_parallel_jobs: usize,
    /// A number that moves whenever any job changes (queued, started, progressed, finished),
    /// so a client can poll `/health` instead of re-reading job lists. Only compare it with
    /// earlier values from the same daemon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<u64>,
    /// Why `status` is "degraded": Redis was unreachable at start (the local SQLite file
    /// stands in), the store does not answer, or job results wait to be written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_warning: Option<String>,
    /// Jobs running on this node (`running` counts every node).
    #[serde(default)]
    pub running_here: usize,
    /// Running jobs per node; with Redis, every live node (idle ones too).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeView>,
    /// Job results of this node not written to the store yet (it retries, and keeps them
    /// across a restart); non-zero makes `status` "degraded".
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unsaved_results: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One node in `/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NodeView {
    pub node: String,
    pub running: u64,
    /// Its cap, when known (nodes on Redis announce it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallel_jobs: Option<u64>,
    /// When it last said it is alive (Redis), ISO-8601.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    /// The node answering this request.
    #[serde(default, skip_serializing_if = "is_false")]
    pub this: bool,
}

impl Health {
    /// The wire form of the engine's health report.
    pub fn from_report(r: crate::engine::health::HealthReport) -> Health {
        let counts = r.counts.unwrap_or_default();
        let nodes = r
            .nodes
            .into_iter()
            .map(|n| NodeView {
                this: n.node == r.node,
                node: n.node,
                running: n.running,
                max_parallel_jobs: n.max_parallel_jobs,
                last_seen: n.last_seen.map(timestamp),
            })
            .collect();
        Health {
            status: if r.ok { "ok" } else { "degraded" }.to_string(),
            service: "agenticore".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            node: r.node,
            store: r.store,
            running: counts.running,
            queued: counts.queued,
            max_parallel_jobs: r.max_parallel_jobs,
            changes: r.changes,
            store_warning: r.warning,
            running_here: r.running_here,
            nodes,
            unsaved_results: r.unsaved_results,
        }
    }
}

/// `GET /stats` (and `agenticore stats --json`, MCP `get_stats`): job counts, success rate,
/// cost, tokens, turns and run time of the jobs the store holds, in total and by day, profile
/// and repository. Finished jobs expire after their TTL, so this covers what the store still
/// holds: `oldest_job_at` says how far back that reaches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Stats {
    pub success: bool,
    /// Only jobs created at or after this (ISO-8601); null: every job the store holds.
    #[serde(default)]
    pub since: Option<String>,
    /// When the oldest job counted was created (ISO-8601); null when none was.
    #[serde(default)]
    pub oldest_job_at: Option<String>,
    /// More jobs were in the window than one answer reads (1,000,000): the oldest are not
    /// counted.
    #[serde(default)]
    pub truncated: bool,
    /// How long this node's store keeps a finished job (`AGENTICORE_JOB_TTL`), in seconds.
    #[serde(default)]
    pub job_ttl_seconds: u64,
    pub total: StatsFigures,
    /// By UTC day of creation (`YYYY-MM-DD`), newest first.
    #[serde(default)]
    pub by_day: Vec<StatsGroup>,
    /// By profile, the costliest first (then by name).
    #[serde(default)]
    pub by_profile: Vec<StatsGroup>,
    /// By repository URL (`(no repo)` for jobs without one), the costliest first (then by name).
    #[serde(default)]
    pub by_repo: Vec<StatsGroup>,
}

/// The figures of a set of jobs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatsFigures {
    pub jobs: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub cancelled: u64,
    pub running: u64,
    pub queued: u64,
    /// succeeded / (succeeded + failed + cancelled); null when none finished.
    #[serde(default)]
    pub success_rate: Option<f64>,
    /// Sum of the cost Claude Code reported, in US dollars.
    pub cost_usd: f64,
    pub tokens: TokensView,
    /// Sum of the turns Claude Code reported.
    pub turns: u64,
    /// Sum of `ended_at - started_at` of the jobs that ran and ended, in seconds.
    pub run_seconds: f64,
    /// Mean run time of those jobs, in seconds; null when none ran and ended.
    #[serde(default)]
    pub mean_run_seconds: Option<f64>,
}

/// One row of a breakdown: `key` is the day, the profile or the repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatsGroup {
    pub key: String,
    #[serde(flatten)]
    pub figures: StatsFigures,
}

impl StatsFigures {
    pub fn from_figures(f: &crate::engine::stats::Figures) -> StatsFigures {
        StatsFigures {
            jobs: f.jobs,
            succeeded: f.succeeded,
            failed: f.failed,
            cancelled: f.cancelled,
            running: f.running,
            queued: f.queued,
            success_rate: f.success_rate(),
            cost_usd: f.cost_usd(),
            tokens: TokensView {
                input: f.tokens.input,
                output: f.tokens.output,
                cache_read: f.tokens.cache_read,
                cache_creation: f.tokens.cache_creation,
            },
            turns: f.turns,
            run_seconds: f.run_seconds(),
            mean_run_seconds: f.mean_run_seconds(),
        }
    }
}

impl Stats {
    /// The wire form of the engine's report; `job_ttl_seconds` is the answering node's TTL.
    pub fn from_report(r: &crate::engine::stats::StatsReport, job_ttl_seconds: u64) -> Stats {
        let groups = |gs: &[crate::engine::stats::Group]| {
            gs.iter()
                .map(|g| StatsGroup {
                    key: g.key.clone(),
                    figures: StatsFigures::from_figures(&g.figures),
                })
                .collect()
        };
        Stats {
            success: true,
            since: r.since.map(timestamp),
            oldest_job_at: r.oldest_job_at.map(timestamp),
            truncated: r.truncated,
            job_ttl_seconds,
            total: StatsFigures::from_figures(&r.total),
            by_day: groups(&r.by_day),
            by_profile: groups(&r.by_profile),
            by_repo: groups(&r.by_repo),
        }
    }
}

/// `{"success":false,"error":"..."}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub success: bool,
    pub error: String,
}

impl ErrorBody {
    pub fn new(error: impl Into<String>) -> Self {
        ErrorBody {
            success: false,
            error: error.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JobSpec, Mode};

    #[test]
    fn job_view_keeps_the_seed_key_order_and_omits_absent_keys() {
        let job = Job::new(JobSpec {
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
        let v = serde_json::to_value(JobView::from_job(&job, "pod")).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "id",
                "repo_url",
                "base_ref",
                "task",
                "profile",
                "status",
                "mode",
                "created_at",
                "ttl_seconds",
                "pod_name",
                "worktree_path",
                "job_config_dir"
            ]
        );
        let back: JobView = serde_json::from_value(v).unwrap();
        assert_eq!(back, JobView::from_job(&job, "pod"));
    }

    #[test]
    fn stats_round_trip_with_flat_groups_and_explicit_nulls() {
        let report = crate::engine::stats::aggregate(&[], None);
        let stats = Stats::from_report(&report, 600);
        let v = serde_json::to_value(&stats).unwrap();
        assert_eq!(v["since"], serde_json::Value::Null);
        assert_eq!(v["oldest_job_at"], serde_json::Value::Null);
        assert_eq!(v["total"]["success_rate"], serde_json::Value::Null);
        assert_eq!(v["total"]["mean_run_seconds"], serde_json::Value::Null);
        assert_eq!(v["job_ttl_seconds"], 600);
        let back: Stats = serde_json::from_value(v).unwrap();
        assert_eq!(back, stats);
        let group = StatsGroup {
            key: "code".into(),
            figures: StatsFigures {
                jobs: 2,
                success_rate: Some(0.5),
                cost_usd: 0.0246,
                ..Default::default()
            },
        };
        let v = serde_json::to_value(&group).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(&keys[..3], ["key", "jobs", "succeeded"]);
        assert_eq!(v["cost_usd"], 0.0246);
        assert_eq!(serde_json::from_value::<StatsGroup>(v).unwrap(), group);
    }
}
