//! Runs one claude process for one job and watches it: spawn (through the shim, in its own
//! process group, allow-listed env, prompt on stdin), parse the stream live, log it, enforce
//! the wall-clock and stall timeouts, honour cancel, kill the whole tree, and turn what
//! happened into an `Outcome` with an error that says why.
//!
//! The runner knows nothing of profiles, repos or stores: the engine hands it a `RunPlan` and
//! reads `RunnerMsg`s from a channel.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::claude::{ResultEvent, STREAM_ARGS, StreamState};
use super::events::{EventKind, tail_chars, truncate_chars};
use super::joblog::JobLog;
use super::proctree;
use super::shim::{EXIT_SPAWN_FAILED, RUNNER_PID_ARG, SHIM_ARG};
use crate::job::OUTPUT_LIMIT_CHARS;
use crate::job::{JobId, Outcome, TimeoutKind};

/// What the profile asked to keep as the job's `output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    /// The result text.
    Text,
    /// The result event as JSON (what `--output-format json` prints).
    Json,
    /// The tail of the event stream.
    StreamJson,
}

/// Everything needed to run claude for one job.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub job_id: JobId,
    /// The claude binary, resolved to a path.
    pub program: PathBuf,
    /// Profile flags (the runner adds `-p --output-format stream-json --verbose`).
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: PathBuf,
    /// Written to claude's stdin, then stdin is closed.
    pub prompt: String,
    /// The agenticore binary, run as the job shim.
    pub shim_exe: PathBuf,
    /// Wall-clock limit and where it came from (for the error text).
    pub wall_timeout: Option<(Duration, String)>,
    pub stall_timeout: Option<Duration>,
    pub kill_grace: Duration,
    /// The job's log: every stdout line of claude, plus stderr and lifecycle lines.
    pub log_path: PathBuf,
    pub output_mode: OutputMode,
    pub allow_permission_denials: bool,
}

/// Reports from a running job, in order.
#[derive(Debug)]
pub enum RunnerMsg {
    Spawned { pid: u32 },
    Event(EventKind),
}

/// What the run produced besides its outcome.
#[derive(Debug, Default)]
pub struct RunReport {
    pub stream: StreamState,
    pub stderr_tail: String,
    pub output: Option<String>,
}

const STDERR_KEEP: usize = 4_000;

/// Why the runner stopped the process.
#[derive(Debug, Clone)]
enum StopReason {
    Cancel(String),
    Timeout(TimeoutKind, String),
}

/// Run the plan to the end. `cancel` turning `Some(reason)` kills the job.
pub async fn run(
    plan: &RunPlan,
    mut cancel: watch::Receiver<Option<String>>,
    tx: mpsc::UnboundedSender<RunnerMsg>,
) -> (Outcome, RunReport) {
    let mut report = RunReport::default();
    let mut log = JobLog::open(&plan.log_path).await;

    if let Some(reason) = cancel.borrow().clone() {
        return (
            Outcome::Cancelled {
                exit_code: None,
                reason,
            },
            report,
        );
    }

    let mut cmd = Command::new(&plan.shim_exe);
    cmd.arg(SHIM_ARG)
        .arg(format!("{RUNNER_PID_ARG}{}", std::process::id()))
        .arg(&plan.program)
        .args(STREAM_ARGS)
        .args(&plan.args)
        .current_dir(&plan.cwd)
        .env_clear()
        .envs(&plan.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let error = format!(
                "could not start the job process ({}): {e}",
                plan.shim_exe.display()
            );
            log.note(json!({"event": "spawn_failed", "error": error}))
                .await;
            return (
                Outcome::Failed {
                    exit_code: None,
                    error,
                    timeout: None,
                },
                report,
            );
        }
    };
    let pid = child.id();
    if let Some(pid) = pid {
        let _ = tx.send(RunnerMsg::Spawned { pid });
    }
    log.note(json!({"event": "spawned", "pid": pid, "cwd": plan.cwd, "args": plan.args}))
        .await;

    // The prompt goes on stdin (never argv: it may be long or sensitive). Written from a
    // task so a claude that does not read stdin cannot block us.
    if let Some(mut stdin) = child.stdin.take() {
        let prompt = plan.prompt.clone();
        tokio::spawn(async move {
            let _ = stdin.write_all(prompt.as_bytes()).await;
            let _ = stdin.shutdown().await;
        });
    }
    let mut stdout = child.stdout.take().map(|s| BufReader::new(s).lines());
    let mut stderr = child.stderr.take().map(|s| BufReader::new(s).lines());

    let started = Instant::now();
    let mut last_output = Instant::now();
    let mut stop: Option<StopReason> = None;
    let mut exit: Option<std::process::ExitStatus> = None;
    let mut kill_deadline: Option<Instant> = None;

    loop {
        let wall_at = plan.wall_timeout.as_ref().map(|(d, _)| started + *d);
        let stall_at = plan.stall_timeout.map(|d| last_output + d);
        let next_timer = [wall_at, stall_at, kill_deadline]
            .into_iter()
            .flatten()
            .min();
        let sleep = async {
            match next_timer {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        if exit.is_some() && stdout.is_none() && stderr.is_none() {
            break;
        }
        tokio::select! {
            line = next_line(&mut stdout) => match line {
                Some(line) => {
                    last_output = Instant::now();
                    log.raw(&line).await;
                    for ev in report.stream.feed(&line) {
                        let _ = tx.send(RunnerMsg::Event(ev));
                    }
                }
                None => stdout = None,
            },
            line = next_line(&mut stderr) => match line {
                Some(line) => {
                    last_output = Instant::now();
                    log.note(json!({"stream": "stderr", "line": line})).await;
                    report.stderr_tail.push_str(&line);
                    report.stderr_tail.push('\n');
                    if report.stderr_tail.len() > 2 * STDERR_KEEP {
                        report.stderr_tail = tail_chars(&report.stderr_tail, STDERR_KEEP).to_string();
                    }
                }
                None => stderr = None,
            },
            status = child.wait(), if exit.is_none() => {
                match status {
                    Ok(st) => exit = Some(st),
                    Err(e) => {
                        tracing::warn!(job = %plan.job_id, "waiting for the job process failed: {e}");
                        exit = Some(std::os::unix::process::ExitStatusExt::from_raw(1 << 8));
                    }
                }
                // The shim has killed claude's leftovers, so the pipes close; but a process
                // that escaped the tree could still hold them: give the readers a moment.
                kill_deadline = Some(Instant::now() + Duration::from_secs(2));
            },
            changed = cancel.changed(), if stop.is_none() => {
                let reason = if changed.is_ok() { cancel.borrow().clone() } else { None };
                if let Some(reason) = reason {
                    log.note(json!({"event": "cancel", "reason": reason})).await;
                    stop = Some(StopReason::Cancel(reason));
                    begin_stop(plan, pid).await;
                    kill_deadline = Some(Instant::now() + plan.kill_grace);
                } else if changed.is_err() {
                    // The engine dropped the sender: treat as shutdown without a reason.
                    stop = Some(StopReason::Cancel("agenticore is shutting down".into()));
                    begin_stop(plan, pid).await;
                    kill_deadline = Some(Instant::now() + plan.kill_grace);
                }
            },
            _ = sleep => {
                let now = Instant::now();
                if kill_deadline.is_some_and(|d| now >= d) {
                    // Grace is over (or the process exited and pipes linger): kill everything.
                    kill_tree(plan, pid).await;
                    if exit.is_some() {
                        stdout = None;
                        stderr = None;
                    }
                    kill_deadline = if exit.is_some() { None } else { Some(now + Duration::from_secs(1)) };
                } else if stop.is_none() && exit.is_none() {
                    let reason = match (wall_at, &plan.wall_timeout) {
                        (Some(at), Some((d, source))) if now >= at => Some(StopReason::Timeout(
                            TimeoutKind::WallClock { seconds: d.as_secs() },
                            source.clone(),
                        )),
                        _ => plan.stall_timeout.map(|d| StopReason::Timeout(
                            TimeoutKind::Stall { seconds: d.as_secs() },
                            "stall timeout".to_string(),
                        )),
                    };
                    if let Some(r) = reason {
                        log.note(json!({"event": "timeout", "detail": format!("{r:?}")})).await;
                        stop = Some(r);
                        begin_stop(plan, pid).await;
                        kill_deadline = Some(now + plan.kill_grace);
                    }
                }
            }
        }
    }

    // Whatever happened, nothing of the job may survive it.
    kill_tree(plan, pid).await;

    let code = exit.map(exit_code);
    log.note(json!({"event": "exited", "exit_code": code}))
        .await;
    report.output = report
        .stream
        .result
        .as_ref()
        .map(|r| bounded_output(plan.output_mode, r, &report.stream));
    if report.output.is_none()
        && plan.output_mode == OutputMode::StreamJson
        && !report.stream.tail.is_empty()
    {
        report.output = Some(tail_chars(&report.stream.tail, OUTPUT_LIMIT_CHARS).to_string());
    }
    let outcome = classify(plan, code, stop, &report);
    (outcome, report)
}

async fn next_line<R>(reader: &mut Option<tokio::io::Lines<R>>) -> Option<String>
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    match reader {
        Some(r) => match r.next_line().await {
            Ok(Some(line)) => Some(line),
            Ok(None) | Err(_) => None,
        },
        None => std::future::pending().await,
    }
}

/// SIGTERM to the job's process group and every process of the job.
async fn begin_stop(plan: &RunPlan, pid: Option<u32>) {
    let id = plan.job_id.to_string();
    if let Some(p) = pid {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(p as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    let _ = tokio::task::spawn_blocking(move || proctree::terminate(pid, &id)).await;
}

/// SIGSTOP + SIGKILL every process of the job until none is left.
async fn kill_tree(plan: &RunPlan, pid: Option<u32>) {
    let id = plan.job_id.to_string();
    let left =
        tokio::task::spawn_blocking(move || proctree::kill_all(pid, &id, Duration::from_secs(5)))
            .await
            .unwrap_or_default();
    if !left.is_empty() {
        tracing::error!(job = %plan.job_id, ?left, "processes of the job survived SIGKILL");
    }
}

fn exit_code(st: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    st.code()
        .or_else(|| st.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}

fn bounded_output(mode: OutputMode, r: &ResultEvent, st: &StreamState) -> String {
    let full = match mode {
        OutputMode::Text => r.result.clone().unwrap_or_default(),
        OutputMode::Json => r.raw.clone(),
        OutputMode::StreamJson => st.tail.clone(),
    };
    match mode {
        OutputMode::StreamJson => tail_chars(&full, OUTPUT_LIMIT_CHARS).to_string(),
        _ => truncate_chars(&full, OUTPUT_LIMIT_CHARS),
    }
}

/// Turn what happened into one outcome with an error that says why.
fn classify(
    plan: &RunPlan,
    code: Option<i32>,
    stop: Option<StopReason>,
    report: &RunReport,
) -> Outcome {
    let stderr_tail = tail_chars(report.stderr_tail.trim(), 1_000).to_string();
    match stop {
        Some(StopReason::Cancel(reason)) => {
            return Outcome::Cancelled {
                exit_code: code,
                reason,
            };
        }
        Some(StopReason::Timeout(kind, source)) => {
            let error = match &kind {
                TimeoutKind::WallClock { .. } => format!("{kind} ({source})"),
                TimeoutKind::Stall { .. } => kind.to_string(),
            };
            return Outcome::Failed {
                exit_code: code,
                error,
                timeout: Some(kind),
            };
        }
        None => {}
    }
    let failed = |error: String| Outcome::Failed {
        exit_code: code,
        error,
        timeout: None,
    };
    let Some(r) = &report.stream.result else {
        return match code {
            Some(EXIT_SPAWN_FAILED) if !stderr_tail.is_empty() => {
                failed(stderr_tail.trim_start_matches("agenticore: ").to_string())
            }
            Some(c) => failed(format!(
                "claude exited with code {c} without a result{}",
                if stderr_tail.is_empty() {
                    String::new()
                } else {
                    format!(": {stderr_tail}")
                }
            )),
            None => failed("claude's exit status is unknown".into()),
        };
    };
    if r.is_error || r.subtype != "success" {
        let text = r
            .result
            .clone()
            .filter(|t| !t.trim().is_empty())
            .or_else(|| (!r.errors.is_empty()).then(|| r.errors.join("; ")))
            .unwrap_or_else(|| r.subtype.clone());
        let error = if let Some(status) = r.api_error_status {
            format!("Claude API error (HTTP {status}): {text}")
        } else if r.subtype == "error_max_turns" {
            format!("claude stopped: {text}")
        } else {
            format!("claude reported an error ({}): {text}", r.subtype)
        };
        return failed(error);
    }
    if !r.permission_denials.is_empty() && !plan.allow_permission_denials {
        let mut tools: Vec<&str> = r
            .permission_denials
            .iter()
            .map(|d| d.tool_name.as_str())
            .collect();
        tools.dedup();
        return failed(format!(
            "claude was denied {} tool call(s) ({}), so the task was not fully done; allow them \
             in the profile (permission_mode, settings.permissions.allow) or set \
             allow_permission_denials: true",
            r.permission_denials.len(),
            tools.join(", ")
        ));
    }
    match code {
        Some(0) => Outcome::Succeeded { exit_code: 0 },
        Some(c) => failed(format!(
            "claude reported success but exited with code {c}{}",
            if stderr_tail.is_empty() {
                String::new()
            } else {
                format!(": {stderr_tail}")
            }
        )),
        None => failed("claude's exit status is unknown".into()),
    }
}
