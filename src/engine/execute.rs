//! One claimed job from start to end: resolve its profile, prepare its working directory
//! (worktree or scratch dir), build the `RunPlan`, run it, record progress as it arrives,
//! finish the record (compare-and-set), and clean up.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tracing::Instrument;
use tracing::field::Empty;

use super::claude::{self, ChildEnv, OtelEnv, OwnReceiver};
use super::events::EventKind;
use super::finals::{Recorded, Unsaved};
use super::gh::Gh;
use super::git::Secret;
use super::joblog::JobLog;
use super::pr;
use super::runner::{self, OutputMode, RunPlan, RunnerMsg};
use super::service::Engine;
use super::worktree::Worktree;
use crate::job::{Job, JobId, Outcome, Progress};
use crate::profile::{OutputFormat, Profile, TemplateVars};
use crate::telemetry::spans::{self, TARGET};

/// How often progress is written to the store while a job streams events.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);
/// Time limit of one `gh` call of the auto-PR step.
const GH_TIMEOUT: Duration = Duration::from_secs(120);
/// Time limit of the auto-PR push.
const PUSH_TIMEOUT: Duration = Duration::from_secs(600);

/// Run a job that this engine has claimed, to its end, in its `job` span (see
/// `telemetry::spans`; phases are child spans).
pub(crate) async fn execute(engine: Engine, job: Job) {
    let span = spans::job_span(&job, engine.node());
    execute_in_span(engine, job).instrument(span).await
}

async fn execute_in_span(engine: Engine, job: Job) {
    let id = job.id;
    let (cancel_tx, cancel_rx) = watch::channel(None);
    if let Ok(mut map) = engine.inner.running.lock() {
        map.insert(id, cancel_tx);
    }
    engine.emit(
        id,
        EventKind::Status {
            status: job.status(),
            detail: Some(format!("on {}", engine.node())),
        },
    );
    let mut journal = JobLog::open(&log_path(&engine.inner.config, id)).await;
    journal
        .note(serde_json::json!({"event": "status", "status": "running", "node": engine.node()}))
        .await;
    let mut progress = job.progress.clone();
    progress.ran_on = Some(engine.node().to_string());
    let outcome = match run_claimed(&engine, &job, &mut progress, cancel_rx).await {
        Ended::Ran(outcome) => outcome,
        Ended::Released => match hand_back(&engine, id, &mut journal).await {
            HandedBack::Done => {
                tracing::Span::current().record("job.status", "handed_back");
                return;
            }
            // Its cancel was asked meanwhile: it must not run elsewhere; it ends here.
            HandedBack::CancelAsked => Outcome::Cancelled {
                exit_code: None,
                reason: "cancelled by user".into(),
            },
        },
    };
    let status = outcome.status();
    let detail = match &outcome {
        Outcome::Succeeded { .. } => None,
        Outcome::Failed { error, .. } => Some(error.clone()),
        Outcome::Cancelled { reason, .. } => Some(reason.clone()),
    };
    let pr_note = match (&progress.pr_url, &progress.pr_error) {
        (Some(url), _) => Some(serde_json::json!({"event": "pull_request", "pr_url": url})),
        (None, Some(e)) => Some(serde_json::json!({"event": "pull_request", "pr_error": e})),
        (None, None) => None,
    };
    if let Some(note) = pr_note {
        journal.note(note).await;
    }
    spans::record_end(&tracing::Span::current(), &outcome, &progress);
    let recorded = engine
        .record_final(Unsaved {
            id,
            progress,
            outcome,
        })
        .instrument(tracing::info_span!(target: TARGET, "record"))
        .await;
    match recorded {
        Recorded::Finished(done) => {
            tracing::info!(job = %id, %status, "job finished");
            let seconds = done
                .state
                .started_at()
                .zip(done.state.ended_at())
                .map(|(s, e)| (e - s).num_milliseconds() as f64 / 1000.0);
            engine
                .inner
                .metrics
                .job_ended(&done.spec.profile, status, seconds, &done.progress);
            if let Some(sink) = &engine.inner.telemetry {
                sink.send(&done);
            }
            journal
                .note(serde_json::json!({"event": "status", "status": status, "error": detail}))
                .await;
            engine.emit(id, EventKind::Status { status, detail });
        }
        Recorded::AlreadyTerminal => {
            // Someone else finished it first (a reaper); its state stands.
            let now = engine.inner.store.get(id).await.ok().flatten();
            if let Some(j) = now {
                engine.emit(
                    id,
                    EventKind::Status {
                        status: j.status(),
                        detail: j.state.error().map(str::to_string),
                    },
                );
            }
        }
        Recorded::Saved(path) => {
            journal
                .note(serde_json::json!({"event": "unrecorded", "status": status,
                    "saved_to": path.display().to_string()}))
                .await;
        }
        Recorded::Lost(error) => {
            journal
                .note(serde_json::json!({"event": "unrecorded", "status": status, "error": error}))
                .await;
        }
    }
    finish_here(&engine, id);
}

/// The job no longer runs here.
fn finish_here(engine: &Engine, id: JobId) {
    if let Ok(mut map) = engine.inner.running.lock() {
        map.remove(&id);
    }
    engine.inner.wake.notify_one();
}

/// What became of a job a stopping engine tried to hand back.
enum HandedBack {
    /// Back in the queue, or no longer this engine's: nothing more to do here.
    Done,
    /// Still running here with its cancel asked: the caller ends it as cancelled.
    CancelAsked,
}

/// A claimed job that never started goes back to the queue (the engine is stopping).
async fn hand_back(engine: &Engine, id: JobId, journal: &mut JobLog) -> HandedBack {
    match engine.inner.store.release(id, engine.node()).await {
        Ok(true) => {
            tracing::info!(job = %id, "handed back to the queue: agenticore is stopping");
            engine.inner.metrics.job_handed_back();
            journal
                .note(serde_json::json!({"event": "status", "status": "queued",
                    "detail": "handed back to the queue: its node stopped before it started"}))
                .await;
            engine.emit(
                id,
                EventKind::Status {
                    status: crate::job::Status::Queued,
                    detail: Some(format!("handed back by {}", engine.node())),
                },
            );
        }
        Ok(false) => {
            // Not ours any more, or its cancel was asked (release refuses those).
            let cancel_asked = matches!(
                engine.inner.store.get(id).await,
                Ok(Some(Job { state: crate::job::JobState::Running { ref node, cancel_requested: true, .. }, .. }))
                    if node == engine.node()
            );
            if cancel_asked {
                return HandedBack::CancelAsked;
            }
            tracing::debug!(job = %id, "not handed back: no longer running here");
        }
        // Still `running` on this node: once it is gone, the job is reaped (and re-queued
        // with `requeue_interrupted`).
        Err(e) => tracing::warn!(job = %id, "could not hand the job back to the queue: {e}"),
    }
    finish_here(engine, id);
    HandedBack::Done
}

/// How a claimed job's run ended.
enum Ended {
    Ran(Outcome),
    /// Not started: the engine is stopping and hands it back.
    Released,
}

async fn run_claimed(
    engine: &Engine,
    job: &Job,
    progress: &mut Progress,
    cancel_rx: watch::Receiver<Option<String>>,
) -> Ended {
    let failed = |error: String| {
        Ended::Ran(Outcome::Failed {
            exit_code: None,
            error,
            timeout: None,
        })
    };
    let inner = &engine.inner;
    let profile = match inner.profiles.get(&job.spec.profile) {
        Ok(p) => p.clone(),
        Err(e) => return failed(format!("profile: {e}")),
    };
    let job_dir = inner.config.jobs_dir().join(job.id.to_string());
    if let Err(e) = tokio::fs::create_dir_all(&job_dir).await {
        return failed(format!("cannot create {}: {e}", job_dir.display()));
    }
    progress.job_config_dir = Some(job_dir.display().to_string());

    let program = match resolve_program(&inner.config.claude.binary) {
        Ok(p) => p,
        Err(e) => return failed(e),
    };

    // The working directory: a fresh worktree of the repo, or an empty scratch dir.
    let mut cancel_prep = cancel_rx.clone();
    let workdir_span = tracing::info_span!(target: TARGET, "workdir",
        workdir.kind = if job.spec.repo_url.is_some() { "worktree" } else { "scratch" },
        otel.status_code = Empty, otel.status_description = Empty);
    let prepared = tokio::select! {
        r = prepare_workdir(engine, job, &job_dir).instrument(workdir_span.clone()) => r,
        _ = cancel_prep.wait_for(Option::is_some) => {
            let reason = cancel_rx.borrow().clone().unwrap_or_else(|| "cancelled".into());
            return Ended::Ran(Outcome::Cancelled { exit_code: None, reason });
        }
        _ = inner.releasing.cancelled() => return Ended::Released,
    };
    let workdir = match prepared {
        Ok(w) => w,
        Err(e) => {
            spans::record_error(&workdir_span, &e);
            return failed(e);
        }
    };
    drop(workdir_span);
    progress.worktree_path = Some(workdir.path().display().to_string());
    if let Workdir::Worktree(wt) = &workdir {
        progress.branch = Some(wt.branch.clone());
    }
    let _ = inner.store.update_progress(job.id, progress).await;
    engine.emit(
        job.id,
        EventKind::Workdir {
            path: workdir.path().display().to_string(),
            branch: progress.branch.clone(),
        },
    );

    let mut plan = build_plan(engine, job, &profile, program, workdir.path());
    if !profile.mcp_servers().is_empty() {
        match write_mcp_config(&job_dir, &profile).await {
            Ok(path) => {
                plan.args.push("--mcp-config".into());
                plan.args.push(path.display().to_string());
                // Without this, claude -p starts before its MCP servers are connected and a
                // busy machine runs the job with no MCP tools at all (and still exits 0).
                plan.env
                    .entry("MCP_CONNECTION_NONBLOCKING".into())
                    .or_insert_with(|| "0".into());
            }
            Err(e) => {
                workdir.remove(engine).await;
                return failed(e);
            }
        }
    }
    // The last moment a stopping engine can hand the job back: nothing has run yet.
    if inner.releasing.is_cancelled() {
        workdir.remove(engine).await;
        return Ended::Released;
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let cancel_pr = cancel_rx.clone();
    let claude_span = tracing::info_span!(target: TARGET, "claude",
        claude.pid = Empty, claude.exit_code = Empty, claude.outcome = Empty);
    let run = runner::run(&plan, cancel_rx, tx).instrument(claude_span.clone());
    tokio::pin!(run);
    let mut last_write = tokio::time::Instant::now();
    let mut dirty = false;
    let (outcome, report) = loop {
        tokio::select! {
            done = &mut run => break done,
            Some(msg) = rx.recv() => {
                match msg {
                    RunnerMsg::Spawned { pid } => {
                        claude_span.record("claude.pid", i64::from(pid));
                        if let Err(e) = inner.store.set_pid(job.id, pid).await {
                            tracing::warn!(job = %job.id, "could not record pid: {e}");
                        }
                    }
                    RunnerMsg::Event(ev) => {
                        apply_event(progress, &ev);
                        dirty = true;
                        engine.emit(job.id, ev);
                    }
                }
                if dirty && last_write.elapsed() >= PROGRESS_EVERY {
                    let _ = inner.store.update_progress(job.id, progress).await;
                    last_write = tokio::time::Instant::now();
                    dirty = false;
                }
            }
        }
    };
    while let Ok(RunnerMsg::Event(ev)) = rx.try_recv() {
        apply_event(progress, &ev);
        engine.emit(job.id, ev);
    }
    claude_span.record("claude.outcome", outcome.status().as_str());
    if let Some(code) = spans::exit_code(&outcome) {
        claude_span.record("claude.exit_code", i64::from(code));
    }
    drop(claude_span);
    // What the stream told us, as final values.
    let st = &report.stream;
    progress.session_id = st.session_id.clone().or(progress.session_id.take());
    progress.model = st.model.clone().or(progress.model.take());
    progress.last_message = st.last_message.clone();
    progress.mcp_failures = st.mcp_failures.clone();
    progress.output = report.output.clone();
    if let Some(r) = &st.result {
        progress.num_turns = r.num_turns.or(Some(st.turns));
        progress.cost_usd = r.cost_usd;
        progress.tokens = r.tokens.clone();
        progress.permission_denials = r.permission_denials.clone();
        progress.result_subtype = Some(r.subtype.clone());
        progress.api_error_status = r.api_error_status;
    } else if st.turns > 0 {
        progress.num_turns = Some(st.turns);
    }

    // Auto-PR, before the worktree goes; it never changes the outcome.
    if matches!(outcome, Outcome::Succeeded { .. })
        && profile.auto_pr()
        && let Workdir::Worktree(wt) = &workdir
    {
        let summary = st
            .result
            .as_ref()
            .and_then(|r| r.result.clone())
            .or_else(|| progress.last_message.clone());
        let pr_span = tracing::info_span!(target: TARGET, "auto_pr",
            pr.url = Empty, otel.status_code = Empty, otel.status_description = Empty);
        let result = pull_request(
            engine, job, &profile, wt, progress, summary, &job_dir, cancel_pr,
        )
        .instrument(pr_span.clone())
        .await;
        match &result {
            Ok(pr) => {
                pr_span.record("pr.url", pr.url.as_str());
            }
            Err(e) => spans::record_error(&pr_span, &e.to_string()),
        }
        drop(pr_span);
        match result {
            Ok(pr) => {
                tracing::info!(job = %job.id, url = %pr.url, reused = pr.reused, "pull request");
                progress.pr_url = Some(pr.url);
            }
            Err(e) => {
                tracing::warn!(job = %job.id, "auto-PR: {e}");
                progress.pr_error = Some(e.to_string());
            }
        }
        engine.emit(
            job.id,
            EventKind::PullRequest {
                url: progress.pr_url.clone(),
                error: progress.pr_error.clone(),
            },
        );
    }

    let keep = job.spec.keep_worktree_on_failure && !matches!(outcome, Outcome::Succeeded { .. });
    if !keep {
        workdir
            .remove(engine)
            .instrument(tracing::info_span!(target: TARGET, "cleanup"))
            .await;
    }
    Ended::Ran(outcome)
}

/// The auto-PR step of a succeeded job (see `pr.rs`); a cancel stops it.
#[allow(clippy::too_many_arguments)]
async fn pull_request(
    engine: &Engine,
    job: &Job,
    profile: &Profile,
    wt: &Worktree,
    progress: &Progress,
    summary: Option<String>,
    job_dir: &Path,
    mut cancel: watch::Receiver<Option<String>>,
) -> Result<pr::PullRequest, pr::PrError> {
    let inner = &engine.inner;
    let cfg = &inner.config;
    let url = job
        .spec
        .repo_url
        .as_deref()
        .map(super::repo::validate_repo_url)
        .transpose()
        .ok()
        .flatten();
    let Some(url) = url else {
        return Err(pr::PrError::BadUrl);
    };
    let token = cfg.github.token.clone().map(Secret::new);
    let settings = pr::PrSettings {
        git: inner.git.clone(),
        gh: Gh::new(&cfg.github.gh_binary, token, GH_TIMEOUT),
        github_hosts: cfg.github.hosts.clone(),
        push_timeout: PUSH_TIMEOUT,
    };
    let step = pr::PrJob {
        job,
        url: &url,
        profile,
        worktree: wt,
        progress,
        summary: summary.as_deref(),
        exclude: vec![job_dir.to_path_buf(), cfg.home.clone()],
    };
    tokio::select! {
        r = pr::run(&settings, &step) => r,
        reason = async {
            let reason = cancel
                .wait_for(Option::is_some)
                .await
                .map(|r| r.clone().unwrap_or_else(|| "cancelled".into()));
            match reason {
                Ok(r) => r,
                // The job's cancel channel is gone: nothing can cancel the step any more.
                Err(_) => std::future::pending().await,
            }
        } => Err(pr::PrError::Interrupted(reason)),
    }
}

fn apply_event(progress: &mut Progress, ev: &EventKind) {
    match ev {
        EventKind::Init { session_id, model } => {
            progress.session_id = Some(session_id.clone());
            progress.model = model.clone();
        }
        EventKind::Turn { turns } => progress.num_turns = Some(*turns),
        EventKind::Assistant { text } => progress.last_message = Some(text.clone()),
        EventKind::Result {
            cost_usd,
            num_turns,
            ..
        } => {
            progress.cost_usd = *cost_usd;
            if num_turns.is_some() {
                progress.num_turns = *num_turns;
            }
        }
        _ => {}
    }
}

/// Where the job runs.
enum Workdir {
    Worktree(Worktree),
    Scratch(PathBuf),
}

impl Workdir {
    fn path(&self) -> &Path {
        match self {
            Workdir::Worktree(w) => &w.path,
            Workdir::Scratch(p) => p,
        }
    }

    async fn remove(self, engine: &Engine) {
        match self {
            Workdir::Worktree(w) => {
                let pool = engine.inner.repos.pool_size();
                if let Err(e) = w.release(&engine.inner.git, pool).await {
                    tracing::warn!("could not remove worktree {}: {e}", w.path.display());
                }
            }
            Workdir::Scratch(p) => {
                if let Err(e) = tokio::fs::remove_dir_all(&p).await {
                    tracing::warn!("could not remove {}: {e}", p.display());
                }
            }
        }
    }
}

async fn prepare_workdir(engine: &Engine, job: &Job, job_dir: &Path) -> Result<Workdir, String> {
    match &job.spec.repo_url {
        Some(url) => {
            let url = super::repo::validate_repo_url(url).map_err(|e| e.to_string())?;
            let dest = engine
                .inner
                .config
                .repos
                .root
                .join("worktrees")
                .join(job.id.to_string());
            engine
                .inner
                .repos
                .prepare(&url, job.spec.base_ref.as_deref(), job.id, &dest)
                .await
                .map(Workdir::Worktree)
                .map_err(|e| e.to_string())
        }
        None => {
            let dir = job_dir.join("work");
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            Ok(Workdir::Scratch(dir))
        }
    }
}

/// Find the claude binary: a path as given, or a name looked up on PATH.
fn resolve_program(binary: &str) -> Result<PathBuf, String> {
    let is_exec = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if binary.contains('/') {
        let p = PathBuf::from(binary);
        return if is_exec(&p) {
            Ok(p)
        } else {
            Err(format!(
                "the claude binary {binary} does not exist or is not executable \
                 (set AGENTICORE_CLAUDE_BINARY or claude.binary)"
            ))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(binary))
        .find(|p| is_exec(p))
        .ok_or_else(|| {
            format!(
                "the claude binary {binary:?} is not on PATH; install Claude Code \
                 (npm install -g @anthropic-ai/claude-code) or set AGENTICORE_CLAUDE_BINARY"
            )
        })
}

/// agenticore's own OTLP receiver as this node's `serve` runs it, with the job's ingest token
/// when API keys are on (signed with the first key, as `serve` verifies it).
fn own_receiver(cfg: &crate::config::Config, job: JobId) -> OwnReceiver {
    OwnReceiver {
        job_token: crate::telemetry::job_token::for_first_key(&cfg.server.api_keys, job.as_uuid()),
        ..OwnReceiver::of(cfg)
    }
}

fn build_plan(
    engine: &Engine,
    job: &Job,
    profile: &Profile,
    program: PathBuf,
    cwd: &Path,
) -> RunPlan {
    let cfg = &engine.inner.config;
    let id = job.id.to_string();
    let vars = TemplateVars {
        task: &job.spec.task,
        repo_url: job.spec.repo_url.as_deref().unwrap_or(""),
        base_ref: job.spec.base_ref.as_deref().unwrap_or(""),
        job_id: &id,
        profile: profile.name(),
    };
    let env = claude::child_env(
        std::env::vars(),
        &ChildEnv {
            job_id: id.clone(),
            profile: profile.name().to_string(),
            repo: job.spec.repo_url.as_deref().map(crate::config::mask_url),
            claude_config_dir: cfg
                .claude
                .config_dir
                .as_ref()
                .map(|p| p.display().to_string()),
            otel: cfg.otel.enabled.then(|| OtelEnv {
                endpoint: cfg.otel.endpoint.clone(),
                protocol: cfg.otel.protocol.clone(),
                log_prompts: cfg.otel.log_prompts,
                log_tool_details: cfg.otel.log_tool_details,
                receiver: Some(own_receiver(cfg, job.id)),
            }),
            profile_env: profile.env().clone(),
        },
    );
    let wall_timeout = match (job.spec.timeout_seconds, profile.timeout_seconds()) {
        (Some(t), _) => Some((Duration::from_secs(t), "limit set on the job".to_string())),
        (None, Some(t)) => Some((
            Duration::from_secs(t),
            format!("limit of profile '{}'", profile.name()),
        )),
        (None, None) => Some((
            Duration::from_secs(cfg.claude.timeout_seconds),
            "limit of AGENTICORE_CLAUDE_TIMEOUT".to_string(),
        )),
    };
    let stall = cfg.claude.stall_timeout_seconds;
    RunPlan {
        job_id: job.id,
        program,
        args: profile.claude_args(job.spec.session_id.as_deref()),
        env,
        cwd: cwd.to_path_buf(),
        prompt: profile.render_prompt(&vars),
        shim_exe: engine.inner.shim_exe.clone(),
        wall_timeout,
        stall_timeout: (stall > 0).then(|| Duration::from_secs(stall)),
        kill_grace: Duration::from_secs(cfg.claude.kill_grace_seconds),
        log_path: log_path(cfg, job.id),
        output_mode: match profile.output_format() {
            OutputFormat::Text => OutputMode::Text,
            OutputFormat::Json => OutputMode::Json,
            OutputFormat::StreamJson => OutputMode::StreamJson,
        },
        allow_permission_denials: profile.allow_permission_denials(),
    }
}

/// The profile's MCP servers as a `--mcp-config` file in the job's directory, readable by its
/// owner only (entries may carry credentials: they never go on the command line).
async fn write_mcp_config(job_dir: &Path, profile: &Profile) -> Result<PathBuf, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = job_dir.join("mcp.json");
    let body = serde_json::json!({ "mcpServers": profile.mcp_servers() }).to_string();
    let p = path.clone();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&p)?;
        f.write_all(body.as_bytes())
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r.map_err(|e| e.to_string()))
    .map_err(|e| format!("cannot write the MCP config {}: {e}", path.display()))?;
    Ok(path)
}

/// The job's log file: `~/.agenticore/logs/<id>.jsonl`.
pub fn log_path(cfg: &crate::config::Config, id: JobId) -> PathBuf {
    cfg.logs_dir().join(format!("{id}.jsonl"))
}
