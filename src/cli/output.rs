//! Rendering for humans (tables, summaries) and for scripts (`--json`).

use std::io::Write;

use agenticore::api::JobView;
use agenticore::job::{Job, JobState, Status};
use chrono::Utc;

/// The `pod_name` field of the seed: the host this runs on.
pub fn pod_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
        })
        .unwrap_or_default()
}

pub fn job_value(job: &Job) -> serde_json::Value {
    serde_json::to_value(JobView::from_job(job, &pod_name())).unwrap_or_default()
}

/// Print JSON on stdout, ending with a newline. A closed pipe is not an error.
pub fn print_json(v: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer_pretty(&mut out, v);
    let _ = writeln!(out);
}

/// `3s`, `2m05s`, `1h02m`.
pub fn duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

pub fn age(job: &Job) -> String {
    duration((Utc::now() - job.created_at).num_seconds())
}

pub fn elapsed(job: &Job) -> String {
    match (job.state.started_at(), job.state.ended_at()) {
        (Some(s), Some(e)) => duration((e - s).num_seconds()),
        (Some(s), None) => duration((Utc::now() - s).num_seconds()),
        _ => "-".into(),
    }
}

pub fn cost(job: &Job) -> String {
    job.progress
        .cost_usd
        .map(|c| format!("${c:.4}"))
        .unwrap_or_else(|| "-".into())
}

fn one_line(s: &str, max: usize) -> String {
    agenticore::engine::events::one_line(s, max)
}

/// The `jobs` table.
pub fn jobs_table(jobs: &[Job]) -> String {
    let mut rows = vec![[
        "ID".to_string(),
        "STATUS".into(),
        "PROFILE".into(),
        "AGE".into(),
        "TIME".into(),
        "TURNS".into(),
        "COST".into(),
        "TASK".into(),
    ]];
    for j in jobs {
        rows.push([
            j.id.to_string(),
            j.status().to_string(),
            j.spec.profile.clone(),
            age(j),
            elapsed(j),
            j.progress
                .num_turns
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into()),
            cost(j),
            one_line(&j.spec.task, 50),
        ]);
    }
    table(&rows)
}

fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 == N {
                line.push_str(c);
            } else {
                line.push_str(c);
                line.push_str(&" ".repeat(widths[i] - c.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A job for humans: key facts, then the output and the error.
pub fn job_details(job: &Job) -> String {
    let mut out = String::new();
    let mut kv = |k: &str, v: String| {
        if !v.is_empty() {
            out.push_str(&format!("{k:<14}{v}\n"));
        }
    };
    let p = &job.progress;
    kv("id", job.id.to_string());
    kv("status", job.status().to_string());
    kv("profile", job.spec.profile.clone());
    kv("task", one_line(&job.spec.task, 200));
    kv("repo", job.spec.repo_url.clone().unwrap_or_default());
    kv("base ref", job.spec.base_ref.clone().unwrap_or_default());
    kv("branch", p.branch.clone().unwrap_or_default());
    let wd_label = if p.branch.is_some() {
        "worktree"
    } else {
        "workdir"
    };
    kv(wd_label, p.worktree_path.clone().unwrap_or_default());
    kv("created", job.created_at.to_rfc3339());
    kv("time", elapsed(job));
    if let JobState::Running {
        node,
        pid,
        cancel_requested,
        ..
    } = &job.state
    {
        kv(
            "runner",
            format!(
                "{node}{}{}",
                pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
                if *cancel_requested {
                    ", cancel requested"
                } else {
                    ""
                }
            ),
        );
    }
    kv("session", p.session_id.clone().unwrap_or_default());
    kv(
        "turns",
        p.num_turns.map(|n| n.to_string()).unwrap_or_default(),
    );
    if p.cost_usd.is_some() {
        kv("cost", cost(job));
    }
    if let Some(t) = &p.tokens {
        kv(
            "tokens",
            format!(
                "{} in, {} out, {} cache read, {} cache write",
                t.input, t.output, t.cache_read, t.cache_creation
            ),
        );
    }
    kv(
        "exit code",
        job.state
            .exit_code()
            .map(|c| c.to_string())
            .unwrap_or_default(),
    );
    kv("pr", p.pr_url.clone().unwrap_or_default());
    if !p.permission_denials.is_empty() {
        let list: Vec<String> = p
            .permission_denials
            .iter()
            .map(|d| match &d.tool_input {
                Some(i) => format!("{} {}", d.tool_name, one_line(&i.to_string(), 60)),
                None => d.tool_name.clone(),
            })
            .collect();
        kv("DENIED", list.join("; "));
    }
    if !p.mcp_failures.is_empty() {
        kv("MCP FAILED", p.mcp_failures.join("; "));
    }
    if let Some(e) = job.state.error() {
        let label = if job.status() == Status::Cancelled {
            "reason"
        } else {
            "error"
        };
        kv(label, e.to_string());
    }
    if let Some(o) = &p.output {
        out.push('\n');
        out.push_str(readable_output(o).trim_end());
        out.push('\n');
    }
    out
}

/// The exit code a finished job maps to.
pub fn job_exit_code(job: &Job) -> u8 {
    match job.status() {
        Status::Succeeded => super::exit::OK,
        Status::Cancelled => super::exit::CANCELLED,
        Status::Failed => super::exit::JOB_FAILED,
        Status::Queued | Status::Running => super::exit::OK,
    }
}

/// For people, a JSON result event (profiles with `output_format: json`) reads best as its
/// result text; anything else is shown as stored.
fn readable_output(output: &str) -> String {
    serde_json::from_str::<serde_json::Value>(output)
        .ok()
        .and_then(|v| {
            (v.get("type")?.as_str()? == "result")
                .then(|| v.get("result")?.as_str().map(str::to_string))
                .flatten()
        })
        .unwrap_or_else(|| output.to_string())
}
