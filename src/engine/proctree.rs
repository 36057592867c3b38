//! Finding and killing every process of a job, without special privileges.
//!
//! A job's processes are (a) the descendants of its shim (the shim is a child subreaper, so
//! orphans that `setsid` away from claude's process group are re-parented to it and stay
//! findable by parent id), and (b) anything whose environment carries
//! `AGENTICORE_JOB_ID=<id>`, which every descendant inherits: the backstop after a crash of
//! agenticore itself. Killing stops the whole set first (SIGSTOP) so nothing can fork away,
//! then SIGKILLs it, and repeats until nothing of the job is left.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The variable every process of a job inherits.
pub const JOB_ENV: &str = "AGENTICORE_JOB_ID";

/// One row of `/proc/<pid>/stat`: pid, parent pid, state.
#[derive(Debug, Clone, Copy)]
struct ProcStat {
    pid: i32,
    ppid: i32,
    state: char,
}

fn read_stat(pid: i32) -> Option<ProcStat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself contain spaces or ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some(ProcStat { pid, ppid, state })
}

fn all_pids() -> Vec<i32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .collect()
}

/// Every live (non-zombie) descendant of `root`, not including `root`.
pub fn descendants(root: u32) -> BTreeSet<u32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for st in all_pids().into_iter().filter_map(read_stat) {
        if st.state != 'Z' {
            children.entry(st.ppid).or_default().push(st.pid);
        }
    }
    let mut out = BTreeSet::new();
    let mut stack = vec![root as i32];
    while let Some(p) = stack.pop() {
        for &c in children.get(&p).map(Vec::as_slice).unwrap_or_default() {
            if out.insert(c as u32) {
                stack.push(c);
            }
        }
    }
    out
}

/// Every live process whose environment holds `AGENTICORE_JOB_ID=<job_id>`. Processes of
/// other users (unreadable environ) are skipped.
pub fn tagged_with(job_id: &str) -> BTreeSet<u32> {
    let needle = format!("{JOB_ENV}={job_id}");
    let me = std::process::id() as i32;
    all_pids()
        .into_iter()
        .filter(|&pid| pid != me)
        .filter(|&pid| read_stat(pid).is_some_and(|s| s.state != 'Z'))
        .filter(|&pid| {
            fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|&b| b == 0).any(|kv| kv == needle.as_bytes()))
                .unwrap_or(false)
        })
        .map(|p| p as u32)
        .collect()
}

/// Is this pid alive (and not a zombie)?
pub fn alive(pid: u32) -> bool {
    read_stat(pid as i32).is_some_and(|s| s.state != 'Z')
}

fn signal_all(pids: &BTreeSet<u32>, sig: Signal) {
    for &p in pids {
        // ESRCH (already gone) is fine; EPERM means not ours: nothing to do.
        let _ = kill(Pid::from_raw(p as i32), sig);
    }
}

/// The processes of a job: the tree under `root` (if given) plus everything tagged with the
/// job's id (none when `job_id` is empty). Never the calling process itself: the shim, which
/// is the root of its job's tree and carries the tag, uses this to kill everything below it.
pub fn job_processes(root: Option<u32>, job_id: &str) -> BTreeSet<u32> {
    let mut set = if job_id.is_empty() {
        BTreeSet::new()
    } else {
        tagged_with(job_id)
    };
    if let Some(r) = root {
        if alive(r) {
            set.insert(r);
        }
        set.extend(descendants(r));
    }
    set.remove(&std::process::id());
    set
}

/// Send SIGTERM to every process of the job (the polite first step of a cancel).
pub fn terminate(root: Option<u32>, job_id: &str) -> usize {
    let set = job_processes(root, job_id);
    signal_all(&set, Signal::SIGTERM);
    set.len()
}

/// Stop and kill every process of the job, repeating until none is left or `deadline`
/// passes. Returns the pids still alive at the end (empty on success).
pub fn kill_all(root: Option<u32>, job_id: &str, within: Duration) -> BTreeSet<u32> {
    let deadline = Instant::now() + within;
    let mut killed: BTreeSet<u32> = BTreeSet::new();
    loop {
        // Freeze what we can see, then look again: a process forked between the scan and the
        // stop is caught by the next scan, and a frozen process cannot fork.
        let mut set = job_processes(root, job_id);
        set.retain(|p| !killed.contains(p) || alive(*p));
        if set.is_empty() {
            return BTreeSet::new();
        }
        loop {
            signal_all(&set, Signal::SIGSTOP);
            let more = job_processes(root, job_id);
            let before = set.len();
            set.extend(more);
            if set.len() == before {
                break;
            }
        }
        signal_all(&set, Signal::SIGKILL);
        killed.extend(set.iter().copied());
        if Instant::now() >= deadline {
            let left: BTreeSet<u32> = job_processes(root, job_id);
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn finds_and_kills_a_setsid_grandchild_by_its_tag() {
        let tag = uuid::Uuid::now_v7().to_string();
        // sh starts a setsid'd sleep (own session, like claude's Bash tool) and waits.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("setsid sleep 300 & wait")
            .env(JOB_ENV, &tag)
            .spawn()
            .expect("spawn sh");
        let root = child.id();
        let deadline = Instant::now() + Duration::from_secs(5);
        while tagged_with(&tag).len() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let found = job_processes(Some(root), &tag);
        assert!(found.len() >= 2, "found {found:?}");
        let left = kill_all(Some(root), &tag, Duration::from_secs(5));
        let _ = child.wait();
        assert!(left.is_empty(), "left alive: {left:?}");
        assert!(tagged_with(&tag).is_empty());
    }
}
