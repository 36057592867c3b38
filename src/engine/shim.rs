//! The job shim: `agenticore __job-shim <claude> [args...]`.
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

use std::ffi::OsString;
use std::process::Command;

use nix::errno::Errno;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, kill, sigaction};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;

/// The first argument that selects the shim in `main`.
pub const SHIM_ARG: &str = "__job-shim";

/// Exit status when claude could not be started at all.
pub const EXIT_SPAWN_FAILED: i32 = 127;

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
    let mut args = args.into_iter();
    let Some(program) = args.next() else {
        eprintln!("agenticore: {SHIM_ARG} needs a program to run");
        return 2;
    };
    if let Err(e) = set_child_subreaper() {
        // Without it, orphans go to init; the job-id scan still finds them.
        eprintln!("agenticore: could not become a child subreaper: {e}");
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

    let child = match Command::new(&program).args(args).spawn() {
        Ok(c) => c,
        Err(e) => {
            let what = if e.kind() == std::io::ErrorKind::NotFound {
                "not found".to_string()
            } else {
                e.to_string()
            };
            eprintln!(
                "agenticore: cannot run the claude binary {}: {what}",
                program.to_string_lossy()
            );
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
                eprintln!("agenticore: waitpid failed: {e}");
                break;
            }
        }
    }
    code.unwrap_or(EXIT_SPAWN_FAILED)
}

/// Claude has exited: kill everything it left running under us.
fn kill_leftovers() {
    let me = std::process::id();
    for _ in 0..50 {
        let left = super::proctree::descendants(me);
        if left.is_empty() {
            return;
        }
        for &p in &left {
            let _ = kill(Pid::from_raw(p as i32), Signal::SIGSTOP);
        }
        for &p in &left {
            let _ = kill(Pid::from_raw(p as i32), Signal::SIGKILL);
        }
        // Reap what died so the next scan does not see it.
        while let Ok(st) = waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
            if st == WaitStatus::StillAlive {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
