//! Progress events of jobs: what a dashboard, an SSE stream, MCP progress notifications and the
//! CLI spinner all consume. The engine broadcasts them; each also goes to the job's log file.

use chrono::{DateTime, Utc};
use serde::Serialize;

use tokio::sync::broadcast;

use crate::job::{JobId, Status};

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The job changed status (queued, running, succeeded, failed, cancelled).
    Status {
        status: Status,
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// The job's working directory is ready (a worktree, or a scratch dir).
    Workdir {
        path: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        branch: Option<String>,
    },
    /// Claude Code started a session.
    Init {
        session_id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        model: Option<String>,
    },
    /// Assistant text (bounded).
    Assistant { text: String },
    /// A tool call, with a one-line summary of its input.
    ToolUse { name: String, summary: String },
    /// Turns so far.
    Turn { turns: u64 },
    /// Claude's result event.
    Result {
        subtype: String,
        is_error: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        cost_usd: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        num_turns: Option<u64>,
    },
    /// The auto-PR step ended: the pull request, or why there is none.
    PullRequest {
        #[serde(skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct JobEvent {
    pub job_id: JobId,
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl JobEvent {
    pub fn new(job_id: JobId, kind: EventKind) -> Self {
        JobEvent {
            job_id,
            at: Utc::now(),
            kind,
        }
    }

    /// A short line for humans (the spinner's message, plain `--wait` output).
    pub fn describe(&self) -> Option<String> {
        Some(match &self.kind {
            EventKind::Status { status, detail } => match detail {
                Some(d) => format!("{status}: {d}"),
                None => status.to_string(),
            },
            EventKind::Workdir { path, branch } => match branch {
                Some(b) => format!("worktree {path} on {b}"),
                None => format!("workdir {path}"),
            },
            EventKind::Init { session_id, model } => format!(
                "session {session_id}{}",
                model
                    .as_ref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
            ),
            EventKind::Assistant { text } => format!("claude: {}", one_line(text, 100)),
            EventKind::ToolUse { name, summary } => {
                format!("tool {name}: {}", one_line(summary, 100))
            }
            EventKind::Turn { .. } => return None,
            EventKind::Result {
                subtype,
                is_error,
                cost_usd,
                num_turns,
            } => format!(
                "result {subtype}{}{}{}",
                if *is_error { " (error)" } else { "" },
                num_turns
                    .map(|n| format!(", {n} turns"))
                    .unwrap_or_default(),
                cost_usd.map(|c| format!(", ${c:.4}")).unwrap_or_default()
            ),
            EventKind::PullRequest { url, error } => match (url, error) {
                (Some(u), _) => format!("pull request {u}"),
                (None, Some(e)) => format!("no pull request: {}", one_line(e, 160)),
                (None, None) => return None,
            },
        })
    }
}

/// The next event of job `id` on `rx`: other jobs' events and lag are skipped; once the channel
/// is closed this pends forever (callers bound the wait with a timeout or a poll).
pub async fn next_for(rx: &mut broadcast::Receiver<JobEvent>, id: JobId) -> JobEvent {
    loop {
        match rx.recv().await {
            Ok(ev) if ev.job_id == id => return ev,
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

/// The first line of `s`, cut to `max` characters with an ellipsis.
pub fn one_line(s: &str, max: usize) -> String {
    let first = s
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    truncate_chars(first, max)
}

/// `s` cut to at most `max` characters (not bytes), with `…` when cut.
pub fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

/// The last `max` characters of `s`.
pub fn tail_chars(s: &str, max: usize) -> &str {
    let n = s.chars().count();
    if n <= max {
        return s;
    }
    match s.char_indices().nth(n - max) {
        Some((i, _)) => &s[i..],
        None => s,
    }
}
