//! The `serve` daemon as a real process: drain on SIGTERM, cancel after the drain timeout,
//! and reconcile after a kill -9 (the job fails "interrupted", nothing of it survives).

mod common;

use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::*;

fn wait_processes(id: &str, n: usize) {
    let t0 = Instant::now();
    while job_processes(id).len() < n {
        assert!(t0.elapsed() < Duration::from_secs(20), "job {id} never ran");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_lets_a_short_job_finish_then_exits() {
    let sb = Sandbox::new();
    let mut d = Daemon::start(&sb, &["--port", "0", "--drain-timeout", "20"]);
    let id = d.post("short [fake:sleep=1.5]");
    wait_processes(&id, 2);
    d.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(d.wait_exit(Duration::from_secs(20)), Some(0));
    assert_eq!(sb.job(&id)["status"], "succeeded");
}

#[test]
fn sigterm_cancels_what_outlives_the_drain_timeout() {
    let sb = Sandbox::new();
    let mut d = Daemon::start(&sb, &["--port", "0", "--drain-timeout", "1"]);
    let id = d.post("long [fake:sleep=60;child=600]");
    wait_processes(&id, 3);
    d.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(d.wait_exit(Duration::from_secs(20)), Some(0));
    let job = sb.job(&id);
    assert_eq!(job["status"], "cancelled", "{job}");
    assert!(
        job["error"]
            .as_str()
            .unwrap()
            .contains("agenticore stopped"),
        "{job}"
    );
    assert_eq!(job_processes(&id), Vec::<u32>::new());
}

#[test]
fn after_kill_9_a_restarted_daemon_reconciles_the_job_and_kills_its_orphans() {
    let sb = Sandbox::new();
    let mut d = Daemon::start(&sb, &["--port", "0"]);
    let id = d.post("long [fake:sleep=60;child=600]");
    wait_processes(&id, 3);
    d.signal(nix::sys::signal::Signal::SIGKILL);
    let _ = d.child.wait();
    // The job's processes outlive the daemon...
    assert!(!job_processes(&id).is_empty());
    // ...until a new daemon starts and reconciles.
    let _d2 = Daemon::start(&sb, &["--port", "0"]);
    let t0 = Instant::now();
    loop {
        let job = sb.job(&id);
        if job["status"] == "failed" {
            assert!(
                job["error"].as_str().unwrap().contains("interrupted"),
                "{job}"
            );
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "not reconciled: {job}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        wait_no_processes(&id, Duration::from_secs(5)),
        Vec::<u32>::new()
    );
}

#[test]
fn a_public_bind_without_keys_is_refused() {
    let sb = Sandbox::new();
    let out = sb.run(&["serve", "--host", "0.0.0.0", "--port", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("AGENTICORE_API_KEYS"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn with_requeue_configured_an_interrupted_job_runs_again_as_a_new_job() {
    let sb = Sandbox::new().env("AGENTICORE_REQUEUE_INTERRUPTED", "true");
    let mut d = Daemon::start(&sb, &["--port", "0"]);
    let task = "again [fake:sleep=60;child=600]";
    let id = d.post(task);
    wait_processes(&id, 3);
    d.signal(nix::sys::signal::Signal::SIGKILL);
    let _ = d.child.wait();
    let _d2 = Daemon::start(&sb, &["--port", "0"]);
    let t0 = Instant::now();
    let new_id = loop {
        let (_, v) = sb.json(&["jobs", "--json"]);
        let jobs = v["jobs"].as_array().expect("jobs").clone();
        if let Some(j) = jobs
            .iter()
            .find(|j| j["id"] != id.as_str() && j["task"] == task)
        {
            break j["id"].as_str().expect("id").to_string();
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "not re-queued: {v}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let old = sb.job(&id);
    assert_eq!(old["status"], "failed", "{old}");
    assert!(
        old["error"].as_str().unwrap().contains("interrupted"),
        "{old}"
    );
    // The new run starts once the old processes are gone, and is a run of its own.
    let new = sb.wait_status(&new_id, &["running"], Duration::from_secs(20));
    assert_eq!(new["task"], task);
    let log = stdout(&sb.run(&["logs", &id, "--raw"]));
    assert!(
        log.contains(&new_id),
        "the old log does not name the new job: {log}"
    );
    let out = sb.run(&["cancel", &new_id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        wait_no_processes(&id, Duration::from_secs(5)),
        Vec::<u32>::new()
    );
    assert_eq!(
        wait_no_processes(&new_id, Duration::from_secs(5)),
        Vec::<u32>::new()
    );
}
