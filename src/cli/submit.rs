//! `agenticore submit TASK [--wait]`: queue a job; with `--wait`, run it here with live
//! progress (a spinner on a terminal, plain lines otherwise) and exit with its outcome.

use std::io::{IsTerminal, Read, Write};
use std::time::Duration;

use agenticore::api::{JobView, SubmitBody};
use agenticore::client::{Backend, Update};
use agenticore::engine::events::{EventKind, JobEvent};
use agenticore::job::JobId;
use agenticore::signals::{StopSignal, StopSignals};

use super::args::SubmitArgs;
use super::output::{job_details, job_exit_code, job_value, print_json};
use super::{CliError, CliResult, exit};

pub async fn run(backend: &Backend, a: SubmitArgs) -> CliResult {
    let task = if a.task == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CliError::usage(format!("cannot read the task from stdin: {e}")))?;
        s
    } else {
        a.task.clone()
    };
    if a.keep_worktree && !backend.is_local() {
        eprintln!(
            "agenticore: --keep-worktree only applies to the local engine; the server ignores it"
        );
    }
    let body = SubmitBody {
        task,
        repo_url: a.repo.clone(),
        profile: a.profile.clone(),
        base_ref: a.base_ref.clone(),
        wait: a.wait,
        session_id: a.session_id.clone(),
        timeout: a.timeout,
    };
    let job = backend.submit(body, a.keep_worktree).await?;
    if !a.wait {
        if a.json {
            print_json(&serde_json::json!({"success": true, "job": job_value(&job)}));
        } else {
            println!("{}", job.id);
            eprintln!(
                "Queued job {} (profile {}). Follow it with: agenticore logs -f {}",
                job.id, job.profile, job.id
            );
        }
        return Ok(exit::OK);
    }
    let id: JobId = job.id.parse().map_err(|e| {
        CliError::new(
            exit::UNREACHABLE,
            format!("the server sent a bad job id: {e}"),
        )
    })?;
    let mut display = Display::new(a.json);
    let done = watch(backend, id, &mut display).await?;
    if a.json {
        print_json(&serde_json::json!({"success": true, "job": job_value(&done)}));
    } else {
        // After a hangup there may be no terminal left: a failed write is not an error.
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "{}", job_details(&done)).and_then(|()| out.flush());
    }
    Ok(job_exit_code(&done))
}

/// Show the job's progress until it is terminal; locally, run it in this process (unless
/// another runner took it). The first stop signal (Ctrl-C, a closed terminal, SIGTERM,
/// SIGQUIT) cancels the job and the watch goes on until its processes are dead; a second one
/// stops watching a remote job (it stays cancelled).
async fn watch(backend: &Backend, id: JobId, display: &mut Display) -> Result<JobView, CliError> {
    let mut watch = backend.watch(id, backend.is_local()).await?;
    let mut signals = StopSignals::new()
        .map_err(|e| CliError::usage(format!("cannot watch for signals: {e}")))?;
    display.line(&format!("job {id} queued"));
    let mut cancelled = false;
    let result = loop {
        tokio::select! {
            u = watch.next() => match u {
                Ok(Update::Event(ev)) => display.event(&ev),
                Ok(Update::Snapshot(job)) => display.progress(&job),
                Ok(Update::Done(job)) => break Ok(job),
                Err(e) => break Err(CliError::from(e)),
            },
            stop = signals.next() => {
                if stop == StopSignal::Hangup {
                    // The terminal is gone: writing to it would fail.
                    display.silence();
                }
                if !cancelled {
                    cancelled = true;
                    display.line(&format!(
                        "{}: cancelling the job (its processes are being killed)...",
                        stop.name()
                    ));
                    if let Err(e) = backend.request_cancel(id, cancel_reason(stop)).await {
                        display.line(&format!("cancel failed: {e}"));
                    }
                } else if !backend.is_local() {
                    break Err(CliError::new(
                        exit::CANCELLED,
                        format!("stopped watching job {id}; its cancellation was requested"),
                    ));
                }
            }
        }
    };
    watch.close().await;
    display.finish();
    result
}

/// The reason recorded on a job that `submit --wait` cancels because its process is asked to
/// stop: the job runs in (or is watched by) this process, so it stops with it rather than run
/// on unwatched.
fn cancel_reason(stop: StopSignal) -> &'static str {
    match stop {
        StopSignal::Interrupt => "cancelled by user (Ctrl-C)",
        StopSignal::Hangup => "cancelled: the terminal was closed (SIGHUP)",
        StopSignal::Terminate => "cancelled: agenticore was asked to stop (SIGTERM)",
        StopSignal::Quit => "cancelled: agenticore was asked to quit (SIGQUIT)",
    }
}

/// Progress on stderr: an indicatif spinner on a terminal, plain lines when piped.
struct Display {
    bar: Option<indicatif::ProgressBar>,
    quiet: bool,
    status: String,
    turns: u64,
    cost: Option<f64>,
}

impl Display {
    fn new(quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let b = indicatif::ProgressBar::new_spinner();
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{spinner} {elapsed:>4} {prefix} {wide_msg}",
            ) {
                b.set_style(style);
            }
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        Display {
            bar,
            quiet,
            status: "queued".into(),
            turns: 0,
            cost: None,
        }
    }

    fn line(&self, s: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(b) => b.println(s),
            None => {
                let _ = writeln!(std::io::stderr(), "{s}");
            }
        }
    }

    /// Write nothing more (the terminal was closed).
    fn silence(&mut self) {
        self.quiet = true;
        if let Some(b) = self.bar.take() {
            b.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
    }

    fn event(&mut self, ev: &JobEvent) {
        match &ev.kind {
            EventKind::Turn { turns } => {
                self.turns = self.turns.max(*turns);
                self.set_prefix();
                return;
            }
            EventKind::Status { status, .. } => {
                self.status = status.to_string();
                self.set_prefix();
            }
            EventKind::Result { cost_usd, .. } => {
                self.cost = cost_usd.or(self.cost);
                self.set_prefix();
            }
            _ => {}
        }
        if let Some(text) = ev.describe() {
            match &self.bar {
                Some(b) => b.set_message(text),
                None => self.line(&text),
            }
        }
    }

    /// What the record says (the job may be run by another process, whose events we do not
    /// see here).
    fn progress(&mut self, job: &JobView) {
        self.status = job.status.to_string();
        self.turns = self.turns.max(job.num_turns.unwrap_or(0));
        self.cost = job.cost_usd.or(self.cost);
        self.set_prefix();
    }

    fn set_prefix(&self) {
        if let Some(b) = &self.bar {
            let cost = self.cost.map(|c| format!(" ${c:.4}")).unwrap_or_default();
            b.set_prefix(format!("{} turn {}{cost}", self.status, self.turns));
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
