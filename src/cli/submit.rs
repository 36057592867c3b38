//! `agenticore submit TASK [--wait]`: queue a job; with `--wait`, run it here with live
//! progress (a spinner on a terminal, plain lines otherwise) and exit with its outcome.

use std::io::{IsTerminal, Read};
use std::time::Duration;

use agenticore::engine::events::{EventKind, JobEvent};
use agenticore::engine::{RunMode, SubmitRequest};
use agenticore::job::{Job, JobId};
use tokio_util::sync::CancellationToken;

use super::args::SubmitArgs;
use super::context::Ctx;
use super::output::{job_details, job_exit_code, job_value, print_json};
use super::{CliError, CliResult, exit, worker};

pub async fn run(ctx: &Ctx, a: SubmitArgs) -> CliResult {
    let task = if a.task == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CliError::usage(format!("cannot read the task from stdin: {e}")))?;
        s
    } else {
        a.task.clone()
    };
    let req = SubmitRequest {
        task,
        repo_url: a.repo.clone(),
        base_ref: a.base_ref.clone(),
        profile: a.profile.clone(),
        session_id: a.session_id.clone(),
        timeout_seconds: a.timeout,
        wait: a.wait,
        keep_worktree_on_failure: a.keep_worktree,
    };
    let job = ctx.engine.submit(req).await?;
    if !a.wait {
        worker::ensure_running(ctx.config());
        if a.json {
            print_json(&serde_json::json!({"success": true, "job": job_value(&job)}));
        } else {
            println!("{}", job.id);
            eprintln!(
                "Queued job {} (profile {}). Follow it with: agenticore logs -f {}",
                job.id, job.spec.profile, job.id
            );
        }
        return Ok(exit::OK);
    }
    let done = run_and_watch(ctx, job.id, a.json).await?;
    if a.json {
        print_json(&serde_json::json!({"success": true, "job": job_value(&done)}));
    } else {
        print!("{}", job_details(&done));
    }
    Ok(job_exit_code(&done))
}

/// Run the job in this process (unless another runner took it) and show its progress until
/// it is terminal. The first Ctrl-C cancels the job; the run ends when its processes are dead.
async fn run_and_watch(ctx: &Ctx, id: JobId, quiet: bool) -> Result<Job, CliError> {
    let engine = ctx.engine.clone();
    // Subscribe before the scheduler starts, so no event of the run is missed.
    let mut events = engine.subscribe();
    let shutdown = CancellationToken::new();
    let sched = {
        let engine = engine.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move { engine.run_scheduler(RunMode::Only(id), shutdown).await })
    };
    let mut display = Display::new(quiet);
    display.line(&format!("job {id} queued"));
    let mut cancelled = false;
    let mut poll = tokio::time::interval(Duration::from_millis(500));
    let mut ticks: u64 = 0;
    let job = loop {
        tokio::select! {
            ev = events.recv() => {
                if let Ok(ev) = ev && ev.job_id == id {
                    display.event(&ev);
                    if let EventKind::Status { status, .. } = ev.kind
                        && status.is_terminal()
                    {
                        break engine.get(id).await?;
                    }
                }
            }
            _ = tokio::signal::ctrl_c(), if !cancelled => {
                cancelled = true;
                display.line("Ctrl-C: cancelling the job (its processes are being killed)...");
                if let Err(e) = engine.cancel(id, "cancelled by user (Ctrl-C)").await {
                    display.line(&format!("cancel failed: {e}"));
                }
            }
            _ = poll.tick() => {
                ticks += 1;
                if ticks.is_multiple_of(4) {
                    // If another process runs our job and dies, this is what notices.
                    engine.reconcile().await;
                }
                let job = engine.get(id).await?;
                if job.status().is_terminal() {
                    break job;
                }
                display.progress(&job);
            }
        }
    };
    shutdown.cancel();
    let _ = sched.await;
    display.finish();
    Ok(job)
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
            None => eprintln!("{s}"),
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

    /// What the store says (the job may be run by another process, whose events we do not see).
    fn progress(&mut self, job: &Job) {
        self.status = job.status().to_string();
        self.turns = self.turns.max(job.progress.num_turns.unwrap_or(0));
        self.cost = job.progress.cost_usd.or(self.cost);
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
