//! MCP: the seed's five tools (`run_task`, `get_job`, `list_jobs`, `cancel_job`,
//! `list_profiles`) plus `get_stats`, over the same engine as REST, served over stdio
//! (`serve --stdio`) or Streamable HTTP at `/mcp` (behind the REST API-key middleware).
//!
//! Every result carries the REST JSON (`JobEnvelope`, `JobList`, `ProfileList`, `Stats`, or the
//! `ErrorBody` of a refused call) twice: as text content and as `structuredContent`. Bad input
//! is a tool error (`isError: true`) with the REST message, never a protocol error.

use std::sync::Arc;

use rmcp::handler::server::tool::{ToolCallContext, ToolRouter};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorCode,
    Implementation, ProgressNotificationParam, ProgressToken, ServerCapabilities, ServerConfig,
};
use rmcp::schemars::JsonSchema;
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, Peer, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::AppState;
use super::rest::{self, ApiError, StatusFilter};
use crate::api::{ErrorBody, JobEnvelope, JobList, JobView, ProfileList, Stats, SubmitBody};
use crate::engine::events::{EventKind, JobEvent, one_line};
use crate::job::{Job, JobId};
use crate::store::{CancelOutcome, ListFilter};

/// What an MCP client shows the model about this server.
const INSTRUCTIONS: &str = "\
agenticore runs Claude Code (`claude -p`) as managed background jobs, each in its own git \
worktree. Use `run_task` to start a job: give the `task` in plain words and, to work on a \
repository, its `repo_url` (optionally `base_ref`, the branch to start from). It returns the \
queued job at once (`job.id`, `job.status`); pass `wait: true` to get the finished job instead \
(progress notifications are sent while it runs). Then `get_job` with the id shows its status, \
`output`, `error`, `pr_url` (or `pr_error`), cost and turns; `list_jobs` lists recent jobs (newest first, \
filter by `status`); `cancel_job` stops one; `list_profiles` shows the execution profiles a \
job can use (`profile`, default `code`); `get_stats` sums up cost, tokens, turns and success \
rate by day, profile and repository (`since`: 7d, 24h, a date...). Statuses: queued, running, \
succeeded, failed, cancelled. Every result is the REST API's JSON: \
{\"success\":true,\"job\":{...}} or {\"success\":false,\"error\":\"...\"}.";

/// `run_task`'s arguments.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct RunTaskArgs {
    /// What Claude Code should do, in plain words (a prompt for an autonomous coding agent).
    pub task: String,
    /// Git repository to clone and work in (https, ssh or file:// URL). Omit to run in an empty
    /// scratch directory.
    #[serde(default)]
    pub repo_url: Option<String>,
    /// Execution profile (see `list_profiles`); default `code`.
    #[serde(default)]
    pub profile: Option<String>,
    /// Branch, tag or commit to start from (needs `repo_url`; default: the repository's
    /// default branch).
    #[serde(default)]
    pub base_ref: Option<String>,
    /// Wait until the job ends and return the finished job (default false: return the queued
    /// job at once and poll it with `get_job`).
    #[serde(default)]
    pub wait: bool,
    /// Resume this Claude Code session (the `session_id` of an earlier job).
    #[serde(default)]
    pub session_id: Option<String>,
    /// Wall-clock limit in seconds (default: the profile's).
    #[serde(default)]
    pub timeout: Option<u64>,
}

/// `get_job`'s and `cancel_job`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct JobIdArgs {
    /// The job id (a UUID, as returned by `run_task` or `list_jobs`).
    pub job_id: String,
}

fn default_limit() -> usize {
    rest::DEFAULT_LIST_LIMIT
}

/// `list_jobs`' arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct ListJobsArgs {
    /// How many jobs to return, newest first (default 20, at most 1000).
    #[serde(default = "default_limit")]
    pub limit: usize,
    /// Only jobs with this status: queued, running, succeeded, failed or cancelled.
    #[serde(default)]
    pub status: Option<String>,
    /// The `cursor` of the previous page, to get the next one.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// `get_stats`' arguments.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct StatsArgs {
    /// Only jobs created since: a duration back from now (90m, 24h, 7d, 2w), an RFC 3339
    /// timestamp or a date (YYYY-MM-DD, midnight UTC). Default: every job the store holds.
    #[serde(default)]
    pub since: Option<String>,
}

/// The MCP server: a handle on the engine (through the REST state) and the tool table.
#[derive(Clone)]
pub struct AgenticoreMcp {
    state: AppState,
    tool_router: ToolRouter<AgenticoreMcp>,
}

#[tool_router]
impl AgenticoreMcp {
    pub fn new(state: AppState) -> AgenticoreMcp {
        AgenticoreMcp {
            state,
            tool_router: Self::tool_router(),
        }
    }

    /// Submit a task; with `wait`, the finished job.
    #[tool(
        description = "Start a Claude Code job that carries out `task` (optionally in a clone of \
                       `repo_url`, on a new branch from `base_ref`, with a `profile`). Returns \
                       {\"success\":true,\"job\":{...}} with the queued job (its `id` is what \
                       get_job/cancel_job take). With `wait: true`, returns the finished job \
                       (status succeeded, failed or cancelled, with `output` and `error`) and \
                       sends progress notifications while it runs; cancelling the call does not \
                       cancel the job."
    )]
    async fn run_task(
        &self,
        Parameters(args): Parameters<RunTaskArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let wait = args.wait;
        let body = SubmitBody {
            task: args.task,
            repo_url: args.repo_url,
            profile: args.profile,
            base_ref: args.base_ref,
            wait,
            session_id: args.session_id,
            timeout: args.timeout,
        };
        let engine = &self.state.engine;
        // Subscribe before submitting, so no event of the new job is missed.
        let events = (wait && ctx.meta.get_progress_token().is_some()).then(|| engine.subscribe());
        let job = match engine.submit(rest::submit_request(body)).await {
            Ok(job) => job,
            Err(e) => return api_error(e.into()),
        };
        if !wait {
            return self.envelope(&job);
        }
        match self.wait_for(&job, events, &ctx).await {
            Ok(done) => self.envelope(&done),
            Err(e) => api_error(e),
        }
    }

    /// One job.
    #[tool(
        description = "Get a job by id: its status (queued, running, succeeded, failed, \
                       cancelled), `output` (Claude's final answer), `error`, `pr_url` (or \
                       `pr_error`: why no pull request was opened), `session_id`, `cost_usd`, \
                       `num_turns`, timestamps. Returns \
                       {\"success\":true,\"job\":{...}}."
    )]
    async fn get_job(&self, Parameters(args): Parameters<JobIdArgs>) -> CallToolResult {
        let id = match parse_id(&args.job_id) {
            Ok(id) => id,
            Err(e) => return tool_error(e),
        };
        match self.state.engine.get(id).await {
            Ok(job) => self.envelope(&job),
            Err(e) => api_error(e.into()),
        }
    }

    /// Jobs, newest first.
    #[tool(
        description = "List recent jobs, newest first (default 20), optionally only those with \
                       one `status`. Returns {\"success\":true,\"count\":N,\"jobs\":[...],\
                       \"cursor\":...}; pass `cursor` back to get the next page."
    )]
    async fn list_jobs(&self, Parameters(args): Parameters<ListJobsArgs>) -> CallToolResult {
        if args.limit == 0 {
            return tool_error("limit must be at least 1");
        }
        let status = match rest::status_filter(args.status.as_deref()) {
            Ok(StatusFilter::Any) => None,
            Ok(StatusFilter::Only(s)) => Some(s),
            Ok(StatusFilter::Never) => return self.list_result(Vec::new(), None),
            Err(e) => return api_error(e),
        };
        let cursor = match args.cursor.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(c) => match c.parse::<JobId>() {
                Ok(id) => Some(id),
                Err(_) => {
                    return tool_error(format!(
                        "cursor {:?} is not a job id (pass the cursor of the previous page)",
                        rest::clip(c, 100)
                    ));
                }
            },
        };
        let filter = ListFilter {
            status,
            limit: args.limit,
            cursor,
        };
        match self.state.engine.list(filter).await {
            Ok(page) => self.list_result(page.jobs, page.next_cursor),
            Err(e) => api_error(e.into()),
        }
    }

    /// Cancel a job.
    #[tool(
        description = "Cancel a job: a queued job never starts; a running one is stopped (its \
                       processes killed) and ends `cancelled`. A finished job is returned as it \
                       is. Returns {\"success\":true,\"job\":{...}}."
    )]
    async fn cancel_job(&self, Parameters(args): Parameters<JobIdArgs>) -> CallToolResult {
        let id = match parse_id(&args.job_id) {
            Ok(id) => id,
            Err(e) => return tool_error(e),
        };
        match self.state.engine.cancel(id, "cancelled by user").await {
            Ok(
                CancelOutcome::CancelledQueued(job)
                | CancelOutcome::Requested(job)
                | CancelOutcome::AlreadyFinished(job),
            ) => self.envelope(&job),
            Ok(CancelOutcome::NotFound) => api_error(ApiError::job_not_found(&args.job_id)),
            Err(e) => api_error(e.into()),
        }
    }

    /// The profiles.
    #[tool(
        description = "List the execution profiles a job can use (name, description, model, \
                       max_turns, auto_pr, ...). Returns {\"success\":true,\"count\":N,\
                       \"profiles\":[...]}."
    )]
    async fn list_profiles(&self) -> CallToolResult {
        let profiles: Vec<serde_json::Value> = self
            .state
            .engine
            .profiles()
            .valid()
            .map(|p| p.summary_json())
            .collect();
        json_result(
            &ProfileList {
                success: true,
                count: profiles.len(),
                profiles,
            },
            false,
        )
    }

    /// Cost, tokens, turns and success rate.
    #[tool(
        description = "Sum up the jobs the store holds (finished jobs expire after their TTL, \
                       24 h by default), optionally only those created `since` (7d, 24h, 90m, \
                       2w, a date or an RFC 3339 timestamp): job counts by status, success rate, \
                       cost in USD, tokens, turns and run time, in total and by day, profile and \
                       repository. Returns {\"success\":true,\"since\":...,\"oldest_job_at\":\
                       ...,\"total\":{...},\"by_day\":[...],\"by_profile\":[...],\
                       \"by_repo\":[...]}."
    )]
    async fn get_stats(&self, Parameters(args): Parameters<StatsArgs>) -> CallToolResult {
        let since = match rest::stats_since(args.since.as_deref()) {
            Ok(s) => s,
            Err(e) => return api_error(e),
        };
        match self.state.engine.stats(since).await {
            Ok(report) => json_result(
                &Stats::from_report(&report, self.state.engine.config().repos.job_ttl_seconds),
                false,
            ),
            Err(e) => api_error(e.into()),
        }
    }
}

impl AgenticoreMcp {
    fn envelope(&self, job: &Job) -> CallToolResult {
        json_result(
            &JobEnvelope {
                success: true,
                job: JobView::from_job(job, &self.state.pod_name),
            },
            false,
        )
    }

    fn list_result(&self, jobs: Vec<Job>, next: Option<JobId>) -> CallToolResult {
        let jobs: Vec<JobView> = jobs
            .iter()
            .map(|j| JobView::from_job(j, &self.state.pod_name))
            .collect();
        json_result(
            &JobList {
                success: true,
                count: jobs.len(),
                jobs,
                cursor: next.map(|c| c.to_string()),
            },
            false,
        )
    }

    /// Wait until `job` is terminal, sending progress notifications when the client asked for
    /// them (`events` is then subscribed). Dropping this future (the client cancelled, the
    /// session ended) only stops the waiting: the job is the scheduler's and runs on.
    async fn wait_for(
        &self,
        job: &Job,
        events: Option<broadcast::Receiver<JobEvent>>,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Job, ApiError> {
        let id = job.id;
        let engine = &self.state.engine;
        let mut progress = match (events, ctx.meta.get_progress_token()) {
            (Some(rx), Some(token)) => Some(Progress::new(ctx.peer.clone(), token, rx, id)),
            _ => None,
        };
        let done = engine.wait_terminal(id);
        tokio::pin!(done);
        loop {
            tokio::select! {
                r = &mut done => {
                    // The events already broadcast (the final status among them) still count.
                    if let Some(p) = progress.as_mut() {
                        p.flush().await;
                    }
                    return r.map_err(ApiError::from);
                }
                () = ctx.ct.cancelled() => {
                    tracing::info!(job = %id, "MCP run_task wait cancelled by the client; the job goes on");
                    return Err(ApiError::bad_request(format!(
                        "the call was cancelled; job {id} goes on (get_job / cancel_job)"
                    )));
                }
                () = self.state.shutdown.cancelled() => {
                    return Err(ApiError::new(
                        axum::http::StatusCode::SERVICE_UNAVAILABLE,
                        format!("the server is shutting down; job {id} goes on (get_job)"),
                    ));
                }
                Some(msg) = next_progress(&mut progress) => {
                    if let Some(p) = progress.as_mut() {
                        p.send(msg).await;
                    }
                }
            }
        }
    }
}

/// Waits for the next message worth a progress notification; pending forever without progress.
async fn next_progress(progress: &mut Option<Progress>) -> Option<String> {
    match progress {
        Some(p) => p.next().await,
        None => std::future::pending().await,
    }
}

/// Progress notifications of one job: a counter that grows with every event of the job, and a
/// message with its status, turns, cost and last action.
struct Progress {
    peer: Peer<RoleServer>,
    token: ProgressToken,
    rx: broadcast::Receiver<JobEvent>,
    job: JobId,
    step: u64,
    state: ProgressFold,
}

/// What the progress message says so far.
#[derive(Debug)]
struct ProgressFold {
    status: String,
    turns: Option<u64>,
    cost: Option<f64>,
    last: Option<String>,
}

impl Default for ProgressFold {
    fn default() -> Self {
        ProgressFold {
            status: "queued".into(),
            turns: None,
            cost: None,
            last: None,
        }
    }
}

impl ProgressFold {
    /// Take in one event of job `job`; the message to show now.
    fn fold(&mut self, job: JobId, ev: &JobEvent) -> String {
        match &ev.kind {
            EventKind::Status { status, .. } => self.status = status.to_string(),
            EventKind::Turn { turns } => self.turns = Some(*turns),
            EventKind::Result {
                cost_usd,
                num_turns,
                ..
            } => {
                self.cost = cost_usd.or(self.cost);
                self.turns = num_turns.or(self.turns);
            }
            _ => {}
        }
        if !matches!(ev.kind, EventKind::Turn { .. } | EventKind::Status { .. })
            && let Some(d) = ev.describe()
        {
            self.last = Some(one_line(&d, 120));
        }
        let mut msg = format!("job {job}: {}", self.status);
        if let Some(t) = self.turns {
            msg.push_str(&format!(", {t} turns"));
        }
        if let Some(c) = self.cost {
            msg.push_str(&format!(", ${c:.4}"));
        }
        if let Some(l) = &self.last {
            msg.push_str(" | ");
            msg.push_str(l);
        }
        msg
    }
}

impl Progress {
    fn new(
        peer: Peer<RoleServer>,
        token: ProgressToken,
        rx: broadcast::Receiver<JobEvent>,
        job: JobId,
    ) -> Progress {
        Progress {
            peer,
            token,
            rx,
            job,
            step: 0,
            state: ProgressFold::default(),
        }
    }

    /// The next event of this job, folded into a message (pending forever once the channel
    /// closed: the wait goes on without progress).
    async fn next(&mut self) -> Option<String> {
        let ev = crate::engine::events::next_for(&mut self.rx, self.job).await;
        Some(self.state.fold(self.job, &ev))
    }

    /// Send what the events received but not yet read say.
    async fn flush(&mut self) {
        let mut last = None;
        loop {
            match self.rx.try_recv() {
                Ok(ev) if ev.job_id == self.job => last = Some(self.state.fold(self.job, &ev)),
                Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => {}
                Err(_) => break,
            }
        }
        if let Some(msg) = last {
            self.send(msg).await;
        }
    }

    async fn send(&mut self, message: String) {
        self.step += 1;
        let param = ProgressNotificationParam::new(self.token.clone(), self.step as f64)
            .with_message(message);
        if let Err(e) = self.peer.notify_progress(param).await {
            tracing::debug!(job = %self.job, "MCP progress notification not sent: {e}");
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for AgenticoreMcp {
    fn get_info(&self) -> ServerConfig {
        let mut implementation = Implementation::new("agenticore", env!("CARGO_PKG_VERSION"));
        implementation.title = Some("agenticore".into());
        implementation.description = Some(
            "Run Claude Code (`claude -p`) as managed jobs: queued, isolated in git worktrees, \
             watched, cancellable."
                .into(),
        );
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(implementation)
            .with_instructions(INSTRUCTIONS)
    }

    /// The router's `call_tool`, with REST's error shape for arguments that do not deserialize
    /// (a missing `task`, a string for `limit`): rmcp already makes them a tool error (MCP
    /// 2025-11-25: input validation errors are tool execution errors, which the model can read
    /// and fix); here they become `{"success":false,"error":"invalid arguments: ..."}` too.
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        const PREFIX: &str = "failed to deserialize parameters:";
        let tcc = ToolCallContext::new(self, request, context);
        let response = match self.tool_router.call(tcc).await {
            Err(e) if e.code == ErrorCode::INVALID_PARAMS && e.message.starts_with(PREFIX) => {
                return Ok(tool_error(invalid_arguments(&e.message, PREFIX)).into());
            }
            other => other?,
        };
        Ok(match response {
            CallToolResponse::Complete(r)
                if r.is_error == Some(true) && r.structured_content.is_none() =>
            {
                let text = r
                    .content
                    .first()
                    .and_then(|c| c.as_text())
                    .map(|t| t.text.clone())
                    .filter(|t| t.starts_with(PREFIX));
                match text {
                    Some(t) => tool_error(invalid_arguments(&t, PREFIX)).into(),
                    None => CallToolResponse::Complete(r),
                }
            }
            other => other,
        })
    }
}

fn invalid_arguments(message: &str, prefix: &str) -> String {
    format!(
        "invalid arguments: {}",
        message.strip_prefix(prefix).unwrap_or(message).trim()
    )
}

/// `value` as JSON text content plus the same JSON as structured content.
fn json_result<T: Serialize>(value: &T, is_error: bool) -> CallToolResult {
    match serde_json::to_value(value) {
        Ok(v) if is_error => CallToolResult::structured_error(v),
        Ok(v) => CallToolResult::structured(v),
        Err(e) => CallToolResult::error(vec![ContentBlock::text(format!(
            "could not encode the result: {e}"
        ))]),
    }
}

/// A tool error with REST's `{"success":false,"error":message}`.
fn tool_error(message: impl Into<String>) -> CallToolResult {
    json_result(&ErrorBody::new(message), true)
}

fn api_error(e: ApiError) -> CallToolResult {
    tool_error(e.message)
}

fn parse_id(raw: &str) -> Result<JobId, String> {
    raw.trim().parse::<JobId>().map_err(|_| {
        format!(
            "job_id {:?} is not a job id (a UUID, as returned by run_task or list_jobs)",
            rest::clip(raw, 100)
        )
    })
}

/// Which `Host` headers `/mcp` accepts (DNS-rebinding protection of Streamable HTTP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedHosts {
    /// Any host (`AGENTICORE_MCP_ALLOWED_HOSTS=*`).
    Any,
    /// Only these names or `host:port` authorities.
    Only(Vec<String>),
}

impl Default for AllowedHosts {
    /// rmcp's default: loopback names only.
    fn default() -> Self {
        AllowedHosts::Only(vec!["localhost".into(), "127.0.0.1".into(), "::1".into()])
    }
}

impl AllowedHosts {
    /// The hosts for a server bound to `bind_host`: `setting` (the value of
    /// `AGENTICORE_MCP_ALLOWED_HOSTS`, a comma list, `*` = any) when given; else the loopback
    /// names, plus the bind host when it is not a loopback address (plus this machine's host
    /// name when it is a wildcard address such as 0.0.0.0).
    pub fn resolve(setting: Option<&str>, bind_host: &str) -> AllowedHosts {
        let listed: Vec<String> = setting
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(str::to_string)
            .collect();
        if listed.iter().any(|h| h == "*") {
            return AllowedHosts::Any;
        }
        if !listed.is_empty() {
            return AllowedHosts::Only(listed);
        }
        let mut hosts = match AllowedHosts::default() {
            AllowedHosts::Only(h) => h,
            AllowedHosts::Any => Vec::new(),
        };
        if !super::auth::is_loopback(bind_host) {
            let h = bind_host
                .trim()
                .trim_start_matches('[')
                .trim_end_matches(']');
            match h.parse::<std::net::IpAddr>() {
                Ok(ip) if ip.is_unspecified() => {
                    if let Ok(name) = nix::unistd::gethostname()
                        && let Ok(name) = name.into_string()
                    {
                        hosts.push(name);
                    }
                }
                _ => hosts.push(h.to_string()),
            }
        }
        AllowedHosts::Only(hosts)
    }
}

/// The Streamable HTTP service mounted at `/mcp`: one `AgenticoreMcp` per session, sessions
/// ended when the server shuts down.
pub fn http_service(state: &AppState) -> StreamableHttpService<AgenticoreMcp, LocalSessionManager> {
    let config =
        StreamableHttpServerConfig::default().with_cancellation_token(state.shutdown.child_token());
    let config = match state.mcp_hosts.as_ref() {
        AllowedHosts::Any => config.disable_allowed_hosts(),
        AllowedHosts::Only(hosts) => config.with_allowed_hosts(hosts.clone()),
    };
    let server = AgenticoreMcp::new(state.clone());
    StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_hosts() {
        let local = AllowedHosts::default();
        assert_eq!(AllowedHosts::resolve(None, "127.0.0.1"), local);
        assert_eq!(AllowedHosts::resolve(Some(" "), "localhost"), local);
        assert_eq!(
            AllowedHosts::resolve(Some("a.example, b:8200"), "0.0.0.0"),
            AllowedHosts::Only(vec!["a.example".into(), "b:8200".into()])
        );
        assert_eq!(
            AllowedHosts::resolve(Some("x,*"), "127.0.0.1"),
            AllowedHosts::Any
        );
        let AllowedHosts::Only(h) = AllowedHosts::resolve(None, "192.168.1.2") else {
            panic!("a list");
        };
        assert_eq!(h.last().map(String::as_str), Some("192.168.1.2"));
        let AllowedHosts::Only(h) = AllowedHosts::resolve(None, "[::]") else {
            panic!("a list");
        };
        assert!(h.len() >= 3 && !h.contains(&"::".to_string()));
    }

    #[test]
    fn progress_messages() {
        let id: JobId = "018f0000-0000-7000-8000-000000000000".parse().unwrap();
        let ev = |kind| JobEvent::new(id, kind);
        let mut p = ProgressFold::default();
        assert_eq!(
            p.fold(
                id,
                &ev(EventKind::Status {
                    status: crate::job::Status::Running,
                    detail: None
                })
            ),
            format!("job {id}: running")
        );
        p.fold(id, &ev(EventKind::Turn { turns: 2 }));
        let m = p.fold(
            id,
            &ev(EventKind::ToolUse {
                name: "Bash".into(),
                summary: "echo hi".into(),
            }),
        );
        assert_eq!(
            m,
            format!("job {id}: running, 2 turns | tool Bash: echo hi")
        );
        let m = p.fold(
            id,
            &ev(EventKind::Result {
                subtype: "success".into(),
                is_error: false,
                cost_usd: Some(0.0123),
                num_turns: Some(3),
            }),
        );
        assert_eq!(
            m,
            format!("job {id}: running, 3 turns, $0.0123 | result success, 3 turns, $0.0123")
        );
    }
}
