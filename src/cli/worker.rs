//! The background worker: `submit` without `--wait` starts one (detached, in its own session)
//! when none runs. It drains the queue and exits once idle, so queued jobs survive the shell
//! without a daemon. One worker at a time, chosen by a file lock.

use std::fs::{File, OpenOptions};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use agenticore::config::Config;
use agenticore::engine::RunMode;
use tokio_util::sync::CancellationToken;

use super::context::Ctx;
use super::{CliResult, exit};

/// How long the worker waits with nothing to do before it exits.
const IDLE_EXIT: Duration = Duration::from_secs(3);

fn lock_path(config: &Config) -> PathBuf {
    config.home.join("worker.lock")
}

fn open_lock(config: &Config) -> std::io::Result<File> {
    std::fs::create_dir_all(&config.home)?;
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path(config))
}

/// Start a worker unless one holds the lock.
pub fn ensure_running(config: &Config) {
    let Ok(lock) = open_lock(config) else {
        tracing::warn!("cannot open the worker lock; starting a worker anyway");
        spawn(config);
        return;
    };
    if lock.try_lock().is_ok() {
        // Nobody runs; release and start one (it takes the lock itself).
        drop(lock);
        spawn(config);
    }
}

fn spawn(config: &Config) {
    let Ok(exe) = std::env::current_exe() else {
        eprintln!("agenticore: cannot find its own binary to start the background worker");
        return;
    };
    let log = std::fs::create_dir_all(config.logs_dir()).and_then(|_| {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(config.logs_dir().join("worker.log"))
    });
    let (out, err) = match log.and_then(|f| Ok((f.try_clone()?, f))) {
        Ok((a, b)) => (Stdio::from(a), Stdio::from(b)),
        Err(_) => (Stdio::null(), Stdio::null()),
    };
    let mut cmd = Command::new(exe);
    cmd.arg("__worker")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    // SAFETY: setsid is async-signal-safe and touches no memory of ours; it detaches the
    // worker from the terminal's session so closing the shell does not kill it.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    if let Err(e) = cmd.spawn() {
        eprintln!("agenticore: could not start the background worker: {e}");
    }
}

/// `agenticore __worker`.
pub async fn run(ctx: &Ctx) -> CliResult {
    let config = ctx.config();
    loop {
        let lock = open_lock(config)
            .map_err(|e| super::CliError::new(exit::UNREACHABLE, e.to_string()))?;
        if lock.try_lock().is_err() {
            // Another worker runs; it will see our jobs.
            return Ok(exit::OK);
        }
        tracing::info!("worker started");
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {},
            }
            stop.cancel();
        });
        ctx.engine
            .run_scheduler(RunMode::UntilIdle { idle: IDLE_EXIT }, shutdown.clone())
            .await;
        drop(lock);
        if shutdown.is_cancelled() {
            return Ok(exit::OK);
        }
        // A job queued between our last look and the release would have found the lock
        // held: look once more now that it is free.
        let queued = ctx
            .engine
            .store()
            .counts()
            .await
            .map(|c| c.queued)
            .unwrap_or(0);
        if queued == 0 {
            tracing::info!("worker idle, exiting");
            return Ok(exit::OK);
        }
    }
}
