//! SIGTERM to a node hands back the work it claimed but has not started: a job still fetching
//! its repository (a `git` on PATH that sleeps before fetching) goes back to the queue at once,
//! same id, without waiting for the drain timeout, and the next node runs it exactly once.
//! On SQLite the next node is the daemon restarted on the same home; on Redis another node.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::redis_prefix::Prefix;
use common::*;

/// A directory with a `git` that sleeps 60 s before a clone or fetch (touching `mark` first),
/// then runs the real git.
fn slow_git(dir: &Path, mark: &Path) -> PathBuf {
    let real = std::process::Command::new("sh")
        .args(["-c", "command -v git"])
        .output()
        .expect("sh");
    let real = String::from_utf8_lossy(&real.stdout).trim().to_string();
    assert!(!real.is_empty(), "git is not on PATH");
    let bin = dir.join("slowbin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let script = format!(
        "#!/bin/sh\ncase \" $* \" in *\" clone \"*|*\" fetch \"*) touch '{}'; sleep 60;; esac\nexec '{real}' \"$@\"\n",
        mark.display()
    );
    let git = bin.join("git");
    std::fs::write(&git, script).expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&git, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    bin
}

fn post(d: &Daemon, task: &str, repo: &str) -> String {
    let body = serde_json::json!({"task": task, "repo_url": repo}).to_string();
    let out = std::process::Command::new("curl")
        .args(["-sf", "-X", "POST", "-H", "Content-Type: application/json"])
        .args(["-d", &body, &format!("{}/jobs", d.url)])
        .output()
        .expect("curl");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("POST /jobs");
    v["job"]["id"].as_str().expect("id").to_string()
}

fn job(d: &Daemon, id: &str) -> serde_json::Value {
    let out = std::process::Command::new("curl")
        .args(["-sf", &format!("{}/jobs/{id}", d.url)])
        .output()
        .expect("curl");
    serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("GET /jobs/id")["job"].clone()
}

/// `redis`: on a Redis prefix (the second node has its own home), else SQLite (the second
/// node is a restart on the same home).
fn hand_back(redis: Option<&Prefix>) {
    let first = Sandbox::new();
    let mark = first.path().join("git-started");
    let slow = slow_git(first.path(), &mark);
    let remote = bare_remote(first.path());
    let log = first.path().join("shared.log");
    let with_store = |sb: Sandbox| match redis {
        Some(p) => sb
            .env("REDIS_URL", &p.url)
            .env("REDIS_KEY_PREFIX", &p.name)
            .env("AGENTICORE_REDIS_REQUIRED", "true"),
        None => sb,
    };
    let mut first = with_store(first).env("PATH", &path_with(&slow));
    let mut d = Daemon::start(&first, &["--port", "0", "--drain-timeout", "120"]);
    let id = post(
        &d,
        &format!("handed back [fake:sleep=0;log={}]", log.display()),
        &remote,
    );
    let t0 = Instant::now();
    while !mark.exists() {
        assert!(t0.elapsed() < Duration::from_secs(20), "git never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let running = job(&d, &id);
    assert_eq!(running["status"], "running", "{running}");
    let owner = running["node"].as_str().unwrap_or_default().to_string();

    // Nothing has started: no drain to wait for.
    let stopped = Instant::now();
    d.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(d.wait_exit(Duration::from_secs(20)), Some(0));
    assert!(
        stopped.elapsed() < Duration::from_secs(15),
        "waited {:?} for a job that never started",
        stopped.elapsed()
    );
    assert!(
        !log.exists(),
        "claude ran: {:?}",
        std::fs::read_to_string(&log)
    );
    let journal = std::fs::read_to_string(first.home().join("logs").join(format!("{id}.jsonl")))
        .expect("job log");
    assert!(journal.contains("handed back to the queue"), "{journal}");

    // The next node runs it: the same id, once.
    let next = match redis {
        Some(_) => with_store(Sandbox::new()),
        None => {
            first.extra_env.retain(|(k, _)| k != "PATH");
            first
        }
    };
    let d2 = Daemon::start(&next, &["--port", "0"]);
    let queued = job(&d2, &id);
    assert!(
        ["queued", "running", "succeeded"].contains(&queued["status"].as_str().unwrap_or("")),
        "{queued}"
    );
    let t0 = Instant::now();
    let done = loop {
        let j = job(&d2, &id);
        if j["status"] != "queued" && j["status"] != "running" {
            break j;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "{j}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_ne!(done["node"].as_str().unwrap_or_default(), owner, "{done}");
    let runs = std::fs::read_to_string(&log).expect("fake log");
    assert_eq!(
        runs.lines().filter(|l| l.starts_with("start ")).count(),
        1,
        "{runs}"
    );
}

#[test]
fn sigterm_hands_an_unstarted_job_back_and_the_restarted_daemon_runs_it() {
    hand_back(None);
}

#[test]
fn on_redis_sigterm_hands_an_unstarted_job_back_and_another_node_runs_it() {
    let prefix = Prefix::new("handback");
    hand_back(Some(&prefix));
}
