//! Rendering for humans (tables, summaries) and for scripts (`--json`).

use std::io::Write;

use agenticore::api::JobView;
use agenticore::job::Status;
use chrono::Utc;

pub use agenticore::client::pod_name;

pub fn job_value(job: &JobView) -> serde_json::Value {
    serde_json::to_value(job).unwrap_or_default()
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

pub fn age(job: &JobView) -> String {
    job.created()
        .map(|c| duration((Utc::now() - c).num_seconds()))
        .unwrap_or_else(|| "-".into())
}

pub fn elapsed(job: &JobView) -> String {
    match (job.started(), job.ended()) {
        (Some(s), Some(e)) => duration((e - s).num_seconds()),
        (Some(s), None) => duration((Utc::now() - s).num_seconds()),
        _ => "-".into(),
    }
}

pub fn cost(job: &JobView) -> String {
    job.cost_usd.map(dollars).unwrap_or_else(|| "-".into())
}

fn one_line(s: &str, max: usize) -> String {
    agenticore::engine::events::one_line(s, max)
}

/// The `jobs` table.
pub fn jobs_table(jobs: &[JobView]) -> String {
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
            j.id.clone(),
            j.status.to_string(),
            j.profile.clone(),
            age(j),
            elapsed(j),
            j.num_turns
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into()),
            cost(j),
            one_line(&j.task, 50),
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

/// Columns of `aligned_table`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// Rows padded into columns two spaces apart (the first row is the header); numbers read best
/// right-aligned. Rows shorter than `align` leave their last cells empty.
pub fn aligned_table(rows: &[Vec<String>], align: &[Align]) -> String {
    let mut widths = vec![0usize; align.len()];
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, (w, a)) in widths.iter().zip(align).enumerate() {
            let c = r.get(i).map(String::as_str).unwrap_or_default();
            let pad = " ".repeat(w - c.chars().count());
            if i > 0 {
                line.push_str("  ");
            }
            match a {
                Align::Left => {
                    line.push_str(c);
                    line.push_str(&pad);
                }
                Align::Right => {
                    line.push_str(&pad);
                    line.push_str(c);
                }
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// `$0.0123`: dollars with four decimals, as in the `jobs` table.
pub fn dollars(c: f64) -> String {
    format!("${c:.4}")
}

/// A job for humans: key facts, then the output and the error.
pub fn job_details(job: &JobView) -> String {
    let mut out = String::new();
    let mut kv = |k: &str, v: String| {
        if !v.is_empty() {
            out.push_str(&format!("{k:<14}{v}\n"));
        }
    };
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    kv("id", job.id.clone());
    kv("status", job.status.to_string());
    kv("profile", job.profile.clone());
    kv("task", one_line(&job.task, 200));
    kv("repo", job.repo_url.clone());
    kv("base ref", job.base_ref.clone());
    kv("branch", opt(&job.branch));
    let wd_label = if job.branch.is_some() {
        "worktree"
    } else {
        "workdir"
    };
    kv(wd_label, job.worktree_path.clone());
    kv(
        "created",
        job.created()
            .map(|c| c.to_rfc3339())
            .unwrap_or_else(|| job.created_at.clone()),
    );
    kv("time", elapsed(job));
    if job.status == Status::Running
        && let Some(node) = &job.node
    {
        kv(
            "runner",
            format!(
                "{node}{}{}",
                job.pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
                if job.cancel_requested {
                    ", cancel requested"
                } else {
                    ""
                }
            ),
        );
    }
    kv("session", opt(&job.session_id));
    kv(
        "turns",
        job.num_turns.map(|n| n.to_string()).unwrap_or_default(),
    );
    if job.cost_usd.is_some() {
        kv("cost", cost(job));
    }
    if let Some(t) = &job.tokens {
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
        job.exit_code.map(|c| c.to_string()).unwrap_or_default(),
    );
    kv("pr", opt(&job.pr_url));
    if let Some(e) = &job.pr_error {
        kv("pr error", e.clone());
    }
    if !job.permission_denials.is_empty() {
        let list: Vec<String> = job
            .permission_denials
            .iter()
            .map(|d| match &d.tool_input {
                Some(i) => format!("{} {}", d.tool_name, one_line(&i.to_string(), 60)),
                None => d.tool_name.clone(),
            })
            .collect();
        kv("DENIED", list.join("; "));
    }
    if !job.mcp_failures.is_empty() {
        kv("MCP FAILED", job.mcp_failures.join("; "));
    }
    if let Some(e) = &job.error {
        let label = if job.status == Status::Cancelled {
            "reason"
        } else {
            "error"
        };
        kv(label, e.clone());
    }
    if let Some(o) = &job.output {
        out.push('\n');
        out.push_str(readable_output(o).trim_end());
        out.push('\n');
    }
    out
}

/// The exit code a finished job maps to.
pub fn job_exit_code(job: &JobView) -> u8 {
    match job.status {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_for_people() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
        assert_eq!(dollars(0.0369), "$0.0369");
        assert_eq!(dollars(12.0), "$12.0000");
    }

    #[test]
    fn aligned_tables_pad_left_and_right() {
        let rows = vec![
            vec!["NAME".to_string(), "N".into(), "NOTE".into()],
            vec!["a".to_string(), "1,000".into(), "x".into()],
            vec!["long name".to_string(), "7".into()],
        ];
        let t = aligned_table(&rows, &[Align::Left, Align::Right, Align::Left]);
        assert_eq!(
            t,
            "NAME           N  NOTE\n\
             a          1,000  x\n\
             long name      7\n"
        );
    }
}
