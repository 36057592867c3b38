//! The job model: ids, what was asked (`JobSpec`), where it is (`JobState`), and what it produced
//! (`Progress`). States carry their data, so a finished job cannot lack an end time. The flat,
//! seed-compatible JSON lives in `api::JobView`; this module knows nothing of the wire.

use std::fmt;
use std::str::FromStr;

/// Cap of a job's `output` (its final text), in characters: what the record keeps and the wire
/// shows (the seed's 50,000).
pub const OUTPUT_LIMIT_CHARS: usize = 50_000;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A job id: a UUID v7 (time-ordered). Anything that does not parse as a UUID is not an id, so
/// an id can never be used as a path or a query fragment.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(Uuid);

impl JobId {
    pub fn new() -> Self {
        JobId(Uuid::now_v7())
    }

    /// The last 8 hex digits (random bits: the leading ones of a v7 id are a timestamp that
    /// stays the same for a minute): used in branch names (`agenticore/<short>`).
    pub fn short(&self) -> String {
        let s = self.0.simple().to_string();
        s[s.len() - 8..].to_string()
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl fmt::Debug for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JobId({})", self.0.hyphenated())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("not a job id: {0:?} (job ids are UUIDs)")]
pub struct BadJobId(pub String);

impl FromStr for JobId {
    type Err = BadJobId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Only the canonical hyphenated or simple forms; no braces, no urn: prefix.
        let t = s.trim();
        if !(t.len() == 36 || t.len() == 32) {
            return Err(BadJobId(s.to_string()));
        }
        Uuid::parse_str(t)
            .map(JobId)
            .map_err(|_| BadJobId(s.to_string()))
    }
}

/// The flat status names of the seed's wire contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Queued,
        Status::Running,
        Status::Succeeded,
        Status::Failed,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed | Status::Cancelled)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown status {0:?} (expected one of: queued, running, succeeded, failed, cancelled)")]
pub struct BadStatus(pub String);

impl FromStr for Status {
    type Err = BadStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| BadStatus(s.to_string()))
    }
}

/// How the job was submitted (seed names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    FireAndForget,
    Sync,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::FireAndForget => "fire_and_forget",
            Mode::Sync => "sync",
        }
    }
}

/// What the user asked for. Validated before it is stored (see `engine::submit`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    pub task: String,
    pub repo_url: Option<String>,
    /// `None` means: the remote's default branch.
    pub base_ref: Option<String>,
    pub profile: String,
    /// Resume this Claude Code session (`--resume`).
    pub session_id: Option<String>,
    /// Wall-clock limit in seconds, overriding the profile's and the config's.
    pub timeout_seconds: Option<u64>,
    pub mode: Mode,
    pub ttl_seconds: u64,
    /// Keep the worktree when the job fails (for inspection).
    #[serde(default)]
    pub keep_worktree_on_failure: bool,
}

/// Why a job was stopped by agenticore rather than finishing by itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimeoutKind {
    /// The wall-clock limit (seconds).
    WallClock { seconds: u64 },
    /// No output from claude for this long (seconds).
    Stall { seconds: u64 },
}

impl fmt::Display for TimeoutKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeoutKind::WallClock { seconds } => write!(f, "timed out after {seconds} s"),
            TimeoutKind::Stall { seconds } => {
                write!(f, "stalled: no output from claude for {seconds} s")
            }
        }
    }
}

/// Where a job is. Data lives in the variant it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running {
        started_at: DateTime<Utc>,
        /// Which process/node owns the job (`host:pid` for local processes).
        node: String,
        /// The OS pid of the job's process-group leader, once spawned.
        pid: Option<u32>,
        /// A cancel was asked for; the owner will kill the job and finish it as cancelled.
        cancel_requested: bool,
    },
    Succeeded {
        started_at: DateTime<Utc>,
        ended_at: DateTime<Utc>,
        exit_code: i32,
    },
    Failed {
        started_at: Option<DateTime<Utc>>,
        ended_at: DateTime<Utc>,
        exit_code: Option<i32>,
        error: String,
        timeout: Option<TimeoutKind>,
    },
    Cancelled {
        started_at: Option<DateTime<Utc>>,
        ended_at: DateTime<Utc>,
        exit_code: Option<i32>,
        reason: String,
    },
}

impl JobState {
    pub fn status(&self) -> Status {
        match self {
            JobState::Queued => Status::Queued,
            JobState::Running { .. } => Status::Running,
            JobState::Succeeded { .. } => Status::Succeeded,
            JobState::Failed { .. } => Status::Failed,
            JobState::Cancelled { .. } => Status::Cancelled,
        }
    }

    pub fn started_at(&self) -> Option<DateTime<Utc>> {
        match self {
            JobState::Queued => None,
            JobState::Running { started_at, .. } | JobState::Succeeded { started_at, .. } => {
                Some(*started_at)
            }
            JobState::Failed { started_at, .. } | JobState::Cancelled { started_at, .. } => {
                *started_at
            }
        }
    }

    pub fn ended_at(&self) -> Option<DateTime<Utc>> {
        match self {
            JobState::Queued | JobState::Running { .. } => None,
            JobState::Succeeded { ended_at, .. }
            | JobState::Failed { ended_at, .. }
            | JobState::Cancelled { ended_at, .. } => Some(*ended_at),
        }
    }

    pub fn exit_code(&self) -> Option<i32> {
        match self {
            JobState::Queued | JobState::Running { .. } => None,
            JobState::Succeeded { exit_code, .. } => Some(*exit_code),
            JobState::Failed { exit_code, .. } | JobState::Cancelled { exit_code, .. } => {
                *exit_code
            }
        }
    }

    pub fn error(&self) -> Option<&str> {
        match self {
            JobState::Failed { error, .. } => Some(error),
            JobState::Cancelled { reason, .. } => Some(reason),
            _ => None,
        }
    }

    pub fn node(&self) -> Option<&str> {
        match self {
            JobState::Running { node, .. } => Some(node),
            _ => None,
        }
    }

    pub fn pid(&self) -> Option<u32> {
        match self {
            JobState::Running { pid, .. } => *pid,
            _ => None,
        }
    }
}

/// How a running job ended; `JobStore::finish` turns it into a terminal `JobState`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    Succeeded {
        exit_code: i32,
    },
    Failed {
        exit_code: Option<i32>,
        error: String,
        timeout: Option<TimeoutKind>,
    },
    Cancelled {
        exit_code: Option<i32>,
        reason: String,
    },
}

impl Outcome {
    pub fn status(&self) -> Status {
        match self {
            Outcome::Succeeded { .. } => Status::Succeeded,
            Outcome::Failed { .. } => Status::Failed,
            Outcome::Cancelled { .. } => Status::Cancelled,
        }
    }

    /// The terminal state this outcome produces for a job that started at `started_at`.
    pub fn into_state(
        self,
        started_at: Option<DateTime<Utc>>,
        ended_at: DateTime<Utc>,
    ) -> JobState {
        match self {
            Outcome::Succeeded { exit_code } => JobState::Succeeded {
                // A success always ran; fall back to the end time if the start was lost.
                started_at: started_at.unwrap_or(ended_at),
                ended_at,
                exit_code,
            },
            Outcome::Failed {
                exit_code,
                error,
                timeout,
            } => JobState::Failed {
                started_at,
                ended_at,
                exit_code,
                error,
                timeout,
            },
            Outcome::Cancelled { exit_code, reason } => JobState::Cancelled {
                started_at,
                ended_at,
                exit_code,
                reason,
            },
        }
    }
}

/// Token counts as Claude Code reports them in its result event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_creation: u64,
}

/// One tool call that Claude Code's permission system refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PermissionDenial {
    pub tool_name: String,
    #[serde(default)]
    pub tool_use_id: Option<String>,
    #[serde(default)]
    pub tool_input: Option<serde_json::Value>,
}

/// What a running job has reported so far; kept in the record as it arrives.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub session_id: Option<String>,
    /// The stored output (bounded): the result in the form the profile asked for.
    pub output: Option<String>,
    pub num_turns: Option<u64>,
    pub cost_usd: Option<f64>,
    pub tokens: Option<Tokens>,
    pub model: Option<String>,
    /// The last assistant text seen (bounded), for dashboards.
    pub last_message: Option<String>,
    #[serde(default)]
    pub permission_denials: Vec<PermissionDenial>,
    /// MCP servers that did not connect (name: status), from the init event.
    #[serde(default)]
    pub mcp_failures: Vec<String>,
    pub worktree_path: Option<String>,
    pub branch: Option<String>,
    /// The job's own directory (`~/.agenticore/jobs/<id>`): log, scratch cwd.
    pub job_config_dir: Option<String>,
    pub pr_url: Option<String>,
    pub pr_error: Option<String>,
    /// Claude's result subtype (`success`, `error_max_turns`, ...).
    pub result_subtype: Option<String>,
    pub api_error_status: Option<u16>,
    /// The node that ran the job (kept after it ends; `JobState::Running` names the owner only
    /// while it runs).
    #[serde(default)]
    pub ran_on: Option<String>,
}

/// A stored job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: JobId,
    pub spec: JobSpec,
    pub state: JobState,
    pub created_at: DateTime<Utc>,
    pub progress: Progress,
}

impl Job {
    pub fn new(spec: JobSpec) -> Self {
        Job {
            id: JobId::new(),
            spec,
            state: JobState::Queued,
            created_at: Utc::now(),
            progress: Progress::default(),
        }
    }

    pub fn status(&self) -> Status {
        self.state.status()
    }

    /// When a terminal job may be deleted by `JobStore::expire`.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        let ttl = i64::try_from(self.spec.ttl_seconds).unwrap_or(i64::MAX);
        self.state
            .ended_at()
            .map(|end| end + chrono::Duration::seconds(ttl.min(100 * 365 * 86_400)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_only_as_uuids() {
        let id = JobId::new();
        assert_eq!(id.to_string().parse::<JobId>().unwrap(), id);
        for bad in [
            "",
            "../etc/passwd",
            "1",
            "{a0000000-0000-0000-0000-000000000000}",
        ] {
            assert!(bad.parse::<JobId>().is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn ids_sort_by_creation_time() {
        let a = JobId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = JobId::new();
        assert!(a < b);
        assert_eq!(a.short().len(), 8);
    }

    #[test]
    fn status_round_trips_its_seed_name() {
        for st in Status::ALL {
            assert_eq!(st.as_str().parse::<Status>().unwrap(), st);
        }
        assert!("rejected".parse::<Status>().is_err());
    }

    #[test]
    fn outcome_gives_terminal_state_with_end_time() {
        let now = Utc::now();
        let st = Outcome::Cancelled {
            exit_code: None,
            reason: "cancelled by user".into(),
        }
        .into_state(None, now);
        assert_eq!(st.status(), Status::Cancelled);
        assert_eq!(st.ended_at(), Some(now));
        assert!(st.status().is_terminal());
    }
}
