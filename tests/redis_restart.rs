//! Redis going away under a running cluster: a private `redis-server` (its own unix socket and
//! directory, append-only file fsynced on every write, as the deploy docs ask) is stopped and
//! started again while three `serve` nodes run jobs.
//! - A short restart: no job is lost, none runs twice; jobs that ended while Redis was down
//!   are recorded once it is back, and `/health` said degraded meanwhile.
//! - An outage longer than the lease (20 s): when Redis is back, no node calls the others'
//!   jobs "interrupted" before their owners could renew them; every job ends `succeeded`.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::*;

/// A redis-server of the test's own, on a unix socket in a temp dir; stopped when dropped.
struct OwnRedis {
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl OwnRedis {
    fn start() -> OwnRedis {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut r = OwnRedis { dir, child: None };
        r.spawn();
        r
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    fn url(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", "0", "--unixsocketperm", "700", "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--unixsocket")
            .arg(self.socket())
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("these tests start their own redis-server, which must be on PATH: {e}")
            });
        self.child = Some(child);
        let t0 = Instant::now();
        while !ping(&self.socket()) {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM (Redis writes what it holds and exits), then wait.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(c.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let _ = c.wait();
        }
        assert!(!ping(&self.socket()), "redis still answers");
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn ping(socket: &Path) -> bool {
    let Ok(mut s) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 16];
    s.write_all(b"PING\r\n").is_ok()
        && s.read(&mut buf)
            .is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
}

/// Three nodes with a cap of 2 each, named as pods, on the given Redis.
fn nodes(redis: &OwnRedis) -> Vec<(Sandbox, Daemon)> {
    (0..3)
        .map(|i| {
            let sb = Sandbox::new()
                .env("REDIS_URL", &redis.url())
                .env("REDIS_KEY_PREFIX", "restart")
                .env("AGENTICORE_REDIS_REQUIRED", "true")
                .env("AGENTICORE_MAX_PARALLEL_JOBS", "2")
                .env("AGENTICORE_POD_NAME", &format!("pod-{i}"));
            let d = Daemon::start(&sb, &["--port", "0"]);
            (sb, d)
        })
        .collect()
}

/// `(HTTP code, body)` of a GET; code 0 when the daemon does not answer.
fn get(url: &str) -> (u16, serde_json::Value) {
    let out = Command::new("curl")
        .args(["-s", "-m", "10", "-w", "\n%{http_code}", url])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (
        code.trim().parse().unwrap_or(0),
        serde_json::from_str(body).unwrap_or_default(),
    )
}

fn count_lines(log: &Path, what: &str) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with(what))
        .count()
}

/// Poll every node's `/health` for `how_long`: did any say degraded, and did any hold
/// unwritten results?
fn watch_health(nodes: &[(Sandbox, Daemon)], how_long: Duration) -> (bool, bool) {
    let (mut degraded, mut unsaved) = (false, false);
    let t0 = Instant::now();
    while t0.elapsed() < how_long {
        for (_, d) in nodes {
            let (code, h) = get(&format!("{}/health", d.url));
            if code == 503 && h["status"] == "degraded" {
                degraded = true;
            }
            if h["unsaved_results"].as_u64().unwrap_or(0) > 0 {
                unsaved = true;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    (degraded, unsaved)
}

/// Wait until every job is terminal (as node 0 sees it); their statuses by id.
fn wait_all_terminal(
    nodes: &[(Sandbox, Daemon)],
    ids: &[String],
    within: Duration,
) -> HashMap<String, serde_json::Value> {
    let t0 = Instant::now();
    loop {
        let (_, page) = get(&format!("{}/jobs?limit=1000", nodes[0].1.url));
        let jobs: HashMap<String, serde_json::Value> = page["jobs"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|j| Some((j["id"].as_str()?.to_string(), j.clone())))
                    .collect()
            })
            .unwrap_or_default();
        let done = ids
            .iter()
            .filter(|id| {
                jobs.get(*id).is_some_and(|j| {
                    ["succeeded", "failed", "cancelled"]
                        .contains(&j["status"].as_str().unwrap_or(""))
                })
            })
            .count();
        if done == ids.len() {
            return jobs;
        }
        assert!(
            t0.elapsed() < within,
            "{done}/{} jobs terminal after {:?}",
            ids.len(),
            t0.elapsed()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Each job started exactly once and ended `succeeded`.
fn assert_each_ran_once_and_succeeded(
    log: &Path,
    ids: &[String],
    jobs: &HashMap<String, serde_json::Value>,
) {
    let text = std::fs::read_to_string(log).expect("shared log");
    let mut starts: HashMap<&str, usize> = HashMap::new();
    for l in text.lines().filter(|l| l.starts_with("start ")) {
        let id = l.split_whitespace().nth(3).unwrap_or_default();
        *starts.entry(id).or_default() += 1;
    }
    for id in ids {
        assert_eq!(
            starts.get(id.as_str()),
            Some(&1),
            "job {id} started {:?} times",
            starts.get(id.as_str())
        );
        let j = &jobs[id];
        assert_eq!(j["status"], "succeeded", "{j}");
    }
}

fn wait_all_healthy(nodes: &[(Sandbox, Daemon)], within: Duration) {
    let t0 = Instant::now();
    for (_, d) in nodes {
        loop {
            let (code, h) = get(&format!("{}/health", d.url));
            if code == 200 {
                break;
            }
            assert!(t0.elapsed() < within, "{} still unhealthy: {h}", d.url);
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn a_redis_restart_mid_run_loses_no_job_and_runs_none_twice() {
    let mut redis = OwnRedis::start();
    let nodes = nodes(&redis);
    let log = nodes[0].0.path().join("shared.log");
    const N: usize = 24;
    let ids: Vec<String> = (0..N)
        .map(|i| {
            nodes[i % 3]
                .1
                .post(&format!("job {i} [fake:sleep=1;log={}]", log.display()))
        })
        .collect();
    // Restart once a few jobs are done and others run.
    let t0 = Instant::now();
    while count_lines(&log, "end") < 3 {
        assert!(t0.elapsed() < Duration::from_secs(60), "no job ended");
        std::thread::sleep(Duration::from_millis(50));
    }
    redis.stop();
    // Jobs end while Redis is down: their nodes keep the results and say so.
    let (degraded, unsaved) = watch_health(&nodes, Duration::from_secs(3));
    redis.spawn();
    assert!(degraded, "no node said degraded while Redis was down");
    assert!(
        unsaved,
        "no node held an unwritten result while Redis was down"
    );

    let jobs = wait_all_terminal(&nodes, &ids, Duration::from_secs(120));
    assert_each_ran_once_and_succeeded(&log, &ids, &jobs);
    wait_all_healthy(&nodes, Duration::from_secs(30));
}

#[test]
fn after_an_outage_longer_than_the_lease_no_live_job_is_called_interrupted() {
    let mut redis = OwnRedis::start();
    let nodes = nodes(&redis);
    let log = nodes[0].0.path().join("shared.log");
    // Six jobs, one per slot, all running before Redis goes.
    let ids: Vec<String> = (0..6)
        .map(|i| {
            nodes[i % 3]
                .1
                .post(&format!("job {i} [fake:sleep=6;log={}]", log.display()))
        })
        .collect();
    let t0 = Instant::now();
    while count_lines(&log, "start") < 6 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "not all jobs started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    redis.stop();
    // Longer than the 20 s lease: every lease has lapsed when Redis is back, and every job
    // ended meanwhile.
    std::thread::sleep(Duration::from_secs(25));
    assert_eq!(count_lines(&log, "end"), 6, "the jobs should have ended");
    redis.spawn();

    let jobs = wait_all_terminal(&nodes, &ids, Duration::from_secs(60));
    assert_each_ran_once_and_succeeded(&log, &ids, &jobs);
    wait_all_healthy(&nodes, Duration::from_secs(30));
}

/// A node told to stop while Redis is down, holding a finished job's result: it saves the
/// result in its home and exits; started again on that home once Redis is back, it writes the
/// result before it reaps anything (else the job, owned by a dead pid, would be "interrupted").
#[test]
fn a_result_held_when_the_node_stops_is_written_by_its_next_start() {
    let mut redis = OwnRedis::start();
    let sb = Sandbox::new()
        .env("REDIS_URL", &redis.url())
        .env("REDIS_KEY_PREFIX", "restart")
        .env("AGENTICORE_REDIS_REQUIRED", "true")
        .env("AGENTICORE_POD_NAME", "pod-0");
    let log = sb.path().join("shared.log");
    let mut d = Daemon::start(&sb, &["--port", "0", "--drain-timeout", "1"]);
    let id = d.post(&format!("held [fake:sleep=2;log={}]", log.display()));
    let t0 = Instant::now();
    while count_lines(&log, "start") < 1 {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the job never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    redis.stop();
    while count_lines(&log, "end") < 1 {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the job never ended"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The node holds the result it cannot write.
    let t1 = Instant::now();
    loop {
        let (code, h) = get(&format!("{}/health", d.url));
        if code == 503 && h["unsaved_results"] == 1 {
            break;
        }
        assert!(t1.elapsed() < Duration::from_secs(20), "{code} {h}");
        std::thread::sleep(Duration::from_millis(100));
    }
    d.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(
        d.wait_exit(Duration::from_secs(30)).is_some(),
        "the node did not stop"
    );
    let saved = sb.home().join("unsaved").join(format!("{id}.json"));
    assert!(saved.exists(), "no saved result at {}", saved.display());

    redis.spawn();
    let d2 = Daemon::start(&sb, &["--port", "0"]);
    let t2 = Instant::now();
    let job = loop {
        let (_, v) = get(&format!("{}/jobs/{id}", d2.url));
        let j = v["job"].clone();
        if j["status"] != "running" {
            break j;
        }
        assert!(t2.elapsed() < Duration::from_secs(30), "{j}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["num_turns"], 2, "{job}");
    assert!(!saved.exists(), "the saved result was not removed");
    assert_eq!(count_lines(&log, "start"), 1);
    let (code, h) = get(&format!("{}/health", d2.url));
    assert_eq!(code, 200, "{h}");
}
