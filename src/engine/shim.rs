//! The job shim: `agenticore __job-shim [--runner-pid=<pid>] <claude> [args...]`.
//!
//! agenticore does not spawn `claude` directly. It spawns itself as this small shim, which
//! makes itself a child subreaper and then runs claude. Processes that escape claude's process
//! group (its Bash tool runs commands with `setsid`) are re-parented to the shim instead of to
//! init, so they stay descendants of the job and `proctree` finds them by parent id. The shim
//! reaps every orphan, and when claude exits it kills whatever claude left behind, so a job
//! never outlives its record. It exits with claude's status (128+N for a signal).
//!
//! The shim ignores SIGTERM/SIGINT/SIGHUP (with a no-op handler, which `exec` resets, so
//! claude still gets the defaults): a polite cancel sent to the process group reaches claude,
//! and the shim stays to reap and clean up.
//!
//! A job never outlives its runner: with `--runner-pid`, the shim checks every 100 ms that the
//! agenticore process which started it is still its parent. When that process dies without
//! cleaning up (kill -9, OOM kill, abort), nobody would watch, time out or record the job any
//! more, so the shim ends it as a cancel would: SIGTERM to every process of the job, a short
//! grace, then SIGSTOP + SIGKILL of all that is left, and it exits. The store still says
//! `running`; the next agenticore that looks reconciles the job ("interrupted") and finds
//! nothing left to kill. (Not `PR_SET_PDEATHSIG`: it fires when the *thread* that spawned the
//! shim exits, and tokio spawns from pool threads that come and go; the parent *process* is
//! what matters, and polling `getppid` is exact and costs nothing.) A runner that died before
//! the shim started is caught by the same check, before claude is run.

use std::ffi::OsString;
use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{Pid, getppid};

use super::proctree;

/// The first argument that selects the shim in `main`.
pub const SHIM_ARG: &str = "__job-shim";

/// `--runner-pid=<pid>`: the agenticore process that runs the job (the shim's parent).
pub const RUNNER_PID_ARG: &str = "--runner-pid=";

/// Exit status when claude could not be started at all.
pub const EXIT_SPAWN_FAILED: i32 = 127;

/// Exit status when the runner was already gone before claude could start.
pub const EXIT_RUNNER_GONE: i32 = 125;

/// How often the shim checks that its runner is alive.
const RUNNER_POLL: Duration = Duration::from_millis(100);

/// Once the runner is gone: how long claude gets to exit on SIGTERM before everything is
/// killed. Short, because nobody is left to record what it does.
const ORPHAN_GRACE: Duration = Duration::from_millis(500);

/// How long the final kill may keep trying.
const KILL_WITHIN: Duration = Duration::from_secs(2);

extern "C" fn ignore_signal(_: libc::c_int) {}

fn set_child_subreaper() -> std::io::Result<()> {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes plain integer arguments and touches no
    // memory of ours.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Run the shim with the arguments after `__job-shim`. Returns the exit code.
pub fn run(args: Vec<OsString>) -> i32 {
    let mut args = args.into_iter().peekable();
    let runner = match args
        .peek()
        .and_then(|a| a.to_str())
        .and_then(|a| a.strip_prefix(RUNNER_PID_ARG))
    {
        Some(pid) => match pid.parse::<i32>() {
            Ok(pid) if pid > 0 => {
                args.next();
                Some(pid)
            }
            _ => {
                say(&format!(
                    "agenticore: {SHIM_ARG}: bad {RUNNER_PID_ARG}{pid}"
                ));
                return 2;
            }
        },
        None => None,
    };
    let Some(program) = args.next() else {
        say(&format!("agenticore: {SHIM_ARG} needs a program to run"));
        return 2;
    };
    if let Err(e) = set_child_subreaper() {
        // Without it, orphans go to init; the job-id scan still finds them.
        say(&format!(
            "agenticore: could not become a child subreaper: {e}"
        ));
    }
    let action = SigAction::new(
        SigHandler::Handler(ignore_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        // SAFETY: the handler is a no-op that touches nothing, so it is async-signal-safe.
        let _ = unsafe { sigaction(sig, &action) };
    }

    if let Some(pid) = runner {
        if getppid().as_raw() != pid {
            say(&format!(
                "agenticore: the agenticore process that started this job ({pid}) is gone; \
                 not starting claude"
            ));
            return EXIT_RUNNER_GONE;
        }
        // Claude starts right below; a runner dying from here on is caught within one poll.
        std::thread::spawn(move || end_job_when_runner_dies(pid));
    }

    let child = match Command::new(&program).args(args).spawn() {
        Ok(c) => c,
        Err(e) => {
            let what = if e.kind() == std::io::ErrorKind::NotFound {
                "not found".to_string()
            } else {
                e.to_string()
            };
            say(&format!(
                "agenticore: cannot run the claude binary {}: {what}",
                program.to_string_lossy()
            ));
            return EXIT_SPAWN_FAILED;
        }
    };
    let claude = Pid::from_raw(child.id() as i32);
    let mut code: Option<i32> = None;
    loop {
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(pid, c)) if pid == claude => {
                code = Some(c);
                kill_leftovers();
            }
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == claude => {
                code = Some(128 + sig as i32);
                kill_leftovers();
            }
            Ok(_) => {}
            Err(Errno::EINTR) => {}
            Err(Errno::ECHILD) => break,
            Err(e) => {
                say(&format!("agenticore: waitpid failed: {e}"));
                break;
            }
        }
    }
    code.unwrap_or(EXIT_SPAWN_FAILED)
}

/// Claude has exited: kill everything it left running under us.
fn kill_leftovers() {
    let _ = proctree::kill_all(Some(std::process::id()), &job_id(), KILL_WITHIN);
}

/// The job's id, as the runner set it in our environment (every process of the job carries
/// it); empty if absent.
fn job_id() -> String {
    std::env::var(proctree::JOB_ENV).unwrap_or_default()
}

/// Wait until `runner` is no longer our parent, then end the job: SIGTERM to all of it, a
/// short grace, then kill what is left. The main thread reaps the processes and exits once
/// none is left.
fn end_job_when_runner_dies(runner: i32) {
    while getppid().as_raw() == runner {
        std::thread::sleep(RUNNER_POLL);
    }
    say(&format!(
        "agenticore: the agenticore process running this job ({runner}) died; \
         ending the job's processes"
    ));
    let me = Some(std::process::id());
    let id = job_id();
    proctree::terminate(me, &id);
    let grace_end = Instant::now() + ORPHAN_GRACE;
    while Instant::now() < grace_end && !proctree::job_processes(me, &id).is_empty() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = proctree::kill_all(me, &id, KILL_WITHIN);
}

/// A line on stderr, if anyone still reads it (the runner that did may be dead: a failed
/// write must not panic).
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}
