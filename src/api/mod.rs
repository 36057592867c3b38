//! Wire types shared by the server, the client and the CLI's `--json`: the seed-compatible job
//! JSON (its key order, its status names, null keys omitted) and the response envelopes.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::job::Job;

/// Cap of the `output` field on the wire and in the record (the seed's 50,000 characters).
pub const OUTPUT_LIMIT_CHARS: usize = 50_000;

fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    // The seed prints ISO-8601 with `+00:00`.
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
}

/// The job as the seed's JSON object: `id, repo_url, base_ref, task, profile, status, mode,
/// exit_code?, session_id?, pr_url?, output?, error?, created_at, started_at?, ended_at?,
/// ttl_seconds, pid?, pod_name, worktree_path, job_config_dir`, then our additions.
pub fn job_json(job: &Job, pod_name: &str) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        if !v.is_null() {
            m.insert(k.to_string(), v);
        }
    };
    let p = &job.progress;
    let s = &job.state;
    put("id", job.id.to_string().into());
    put(
        "repo_url",
        job.spec.repo_url.clone().unwrap_or_default().into(),
    );
    put(
        "base_ref",
        job.spec.base_ref.clone().unwrap_or_default().into(),
    );
    put("task", job.spec.task.clone().into());
    put("profile", job.spec.profile.clone().into());
    put("status", job.status().as_str().into());
    put("mode", job.spec.mode.as_str().into());
    put("exit_code", s.exit_code().into());
    put("session_id", p.session_id.clone().into());
    put("pr_url", p.pr_url.clone().into());
    put("output", p.output.clone().into());
    put("error", s.error().map(str::to_string).into());
    put("created_at", ts(job.created_at).into());
    put("started_at", s.started_at().map(ts).into());
    put("ended_at", s.ended_at().map(ts).into());
    put("ttl_seconds", job.spec.ttl_seconds.into());
    put("pid", s.pid().into());
    put("pod_name", pod_name.into());
    put(
        "worktree_path",
        p.worktree_path.clone().unwrap_or_default().into(),
    );
    put(
        "job_config_dir",
        p.job_config_dir.clone().unwrap_or_default().into(),
    );
    // Additions (after the seed's keys).
    put("branch", p.branch.clone().into());
    put("node", s.node().map(str::to_string).into());
    put("cost_usd", p.cost_usd.into());
    put("num_turns", p.num_turns.into());
    if let Some(t) = &p.tokens {
        put(
            "tokens",
            serde_json::json!({
                "input": t.input, "output": t.output,
                "cache_read": t.cache_read, "cache_creation": t.cache_creation
            }),
        );
    }
    put("model", p.model.clone().into());
    if !p.permission_denials.is_empty() {
        put(
            "permission_denials",
            serde_json::to_value(&p.permission_denials).unwrap_or(Value::Null),
        );
    }
    if !p.mcp_failures.is_empty() {
        put("mcp_failures", p.mcp_failures.clone().into());
    }
    put("result_subtype", p.result_subtype.clone().into());
    put("api_error_status", p.api_error_status.into());
    put("pr_error", p.pr_error.clone().into());
    put("last_message", p.last_message.clone().into());
    if let crate::job::JobState::Failed {
        timeout: Some(t), ..
    } = s
    {
        put("timeout", serde_json::to_value(t).unwrap_or(Value::Null));
    }
    if let crate::job::JobState::Running {
        cancel_requested: true,
        ..
    } = s
    {
        put("cancel_requested", true.into());
    }
    Value::Object(m)
}

/// `{"success":false,"error":"..."}`.
#[derive(Debug, Serialize)]
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
