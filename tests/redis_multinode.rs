//! Scale-out with real processes: three `serve` nodes (separate homes, as separate pods would
//! be) on one Redis prefix, each with a cap of 2.
//! - 300 short jobs submitted round-robin: each runs exactly once (the fake claude logs its job
//!   id to a shared file), never more than 2 at a time on a node, and every node lists all.
//! - A cancel sent to one node stops a job running on another.
//! - kill -9 of the node running a job: another node reconciles it ("interrupted") and kills
//!   what is left of its processes (same host here, so the dead pid is noticed at once;
//!   across hosts the lease, 20 s, runs out first).

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::redis_prefix::Prefix;
use common::*;

struct Cluster {
    nodes: Vec<(Sandbox, Daemon)>,
    _prefix: Prefix,
}

/// Three nodes; with `pods`, each named as a pod of its own machine (`AGENTICORE_POD_NAME`), so
/// none can tell from a pid that another died: only the lease tells.
fn cluster(test: &str, pods: bool) -> Cluster {
    let prefix = Prefix::new(test);
    let nodes = (0..3)
        .map(|i| {
            let mut sb = Sandbox::new()
                .env("REDIS_URL", &prefix.url)
                .env("REDIS_KEY_PREFIX", &prefix.name)
                .env("AGENTICORE_REDIS_REQUIRED", "true")
                .env("AGENTICORE_MAX_PARALLEL_JOBS", "2");
            if pods {
                sb = sb.env("AGENTICORE_POD_NAME", &format!("pod-{i}"));
            }
            let d = Daemon::start(&sb, &["--port", "0"]);
            (sb, d)
        })
        .collect();
    Cluster {
        nodes,
        _prefix: prefix,
    }
}

fn get(url: &str) -> serde_json::Value {
    let out = std::process::Command::new("curl")
        .args(["-sf", url])
        .output()
        .expect("curl");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("GET {url}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn delete(url: &str) -> serde_json::Value {
    let out = std::process::Command::new("curl")
        .args(["-s", "-X", "DELETE", url])
        .output()
        .expect("curl");
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

fn job(d: &Daemon, id: &str) -> serde_json::Value {
    get(&format!("{}/jobs/{id}", d.url))["job"].clone()
}

fn wait_job(d: &Daemon, id: &str, want: &str, within: Duration) -> serde_json::Value {
    let t0 = Instant::now();
    loop {
        let j = job(d, id);
        if j["status"] == want {
            return j;
        }
        assert!(t0.elapsed() < within, "job {id} not {want}: {j}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Which node (index) wrote the job's log: each node logs the jobs it runs in its own home.
fn runner_of(c: &Cluster, id: &str) -> Option<usize> {
    c.nodes
        .iter()
        .position(|(sb, _)| sb.home().join("logs").join(format!("{id}.jsonl")).exists())
}

fn ids_listed(d: &Daemon) -> HashSet<String> {
    get(&format!("{}/jobs?limit=1000", d.url))["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter_map(|j| j["id"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn three_hundred_jobs_on_three_nodes_run_once_each_within_each_nodes_cap() {
    let c = cluster("three-hundred", false);
    const N: usize = 300;
    let log: PathBuf = c.nodes[0].0.path().join("shared.log");
    let mut ids = Vec::new();
    for i in 0..N {
        let (_, d) = &c.nodes[i % 3];
        ids.push(d.post(&format!("job {i} [fake:sleep=0.1;log={}]", log.display())));
    }
    let t0 = Instant::now();
    loop {
        let done = get(&format!(
            "{}/jobs?status=succeeded&limit=1000",
            c.nodes[1].1.url
        ))["jobs"]
            .as_array()
            .map(|a| a.len())
            .unwrap_or(0);
        if done == N {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "{done}/{N} succeeded after {:?}",
            t0.elapsed()
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    // Exactly once each: one start and one end per job id.
    let text = std::fs::read_to_string(&log).expect("shared log");
    let mut starts: HashMap<String, usize> = HashMap::new();
    let mut events: BTreeMap<usize, Vec<(f64, i32)>> = BTreeMap::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(f.len(), 4, "{l}");
        let at: f64 = f[1].parse().expect("time");
        let node = runner_of(&c, f[3]).unwrap_or_else(|| panic!("no node logged {}", f[3]));
        if f[0] == "start" {
            *starts.entry(f[3].to_string()).or_default() += 1;
        }
        events
            .entry(node)
            .or_default()
            .push((at, if f[0] == "start" { 1 } else { -1 }));
    }
    assert_eq!(starts.len(), N, "{text}");
    for id in &ids {
        assert_eq!(
            starts.get(id),
            Some(&1),
            "job {id} ran {:?} times",
            starts.get(id)
        );
    }
    // Never more than 2 at once on a node; every node took part.
    assert_eq!(
        events.len(),
        3,
        "not every node ran jobs: {:?}",
        events.keys()
    );
    for (node, ev) in &mut events {
        ev.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let (mut now, mut max) = (0, 0);
        for (_, d) in ev.iter() {
            now += d;
            max = max.max(now);
        }
        assert!(max <= 2, "node {node} ran {max} jobs at once");
    }
    // Every node lists every job.
    let want: HashSet<String> = ids.iter().cloned().collect();
    for (_, d) in &c.nodes {
        assert_eq!(ids_listed(d), want);
    }
    // Every node's /health shows the three nodes with their caps, itself marked.
    for (_, d) in &c.nodes {
        let h = get(&format!("{}/health", d.url));
        let nodes = h["nodes"].as_array().cloned().unwrap_or_default();
        assert_eq!(nodes.len(), 3, "{h}");
        assert!(nodes.iter().all(|n| n["max_parallel_jobs"] == 2), "{h}");
        let this: Vec<&serde_json::Value> = nodes.iter().filter(|n| n["this"] == true).collect();
        assert_eq!(this.len(), 1, "{h}");
        assert_eq!(this[0]["node"], h["node"], "{h}");
    }
    // `agenticore status` against a node prints the same, one line per node.
    let (sb, d) = &c.nodes[2];
    let out = sb
        .cmd()
        .args(["status"])
        .env("AGENTICORE_URL", &d.url)
        .output()
        .expect("status");
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("/2 running")).collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(
        lines.iter().filter(|l| l.ends_with("(this node)")).count(),
        1,
        "{text}"
    );
}

fn wait_runner(c: &Cluster, id: &str) -> usize {
    let t0 = Instant::now();
    loop {
        if let Some(n) = runner_of(c, id)
            && job(&c.nodes[n].1, id)["status"] == "running"
            && job_processes(id).len() >= 3
        {
            return n;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "job {id} never ran");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_cancel_sent_to_one_node_stops_the_job_on_another() {
    let c = cluster("cancel", true);
    let id = c.nodes[0].1.post("long [fake:sleep=60;child=600]");
    let runner = wait_runner(&c, &id);
    let other = (runner + 1) % 3;
    let reply = delete(&format!("{}/jobs/{id}", c.nodes[other].1.url));
    assert_eq!(reply["success"], true, "{reply}");
    let j = wait_job(&c.nodes[other].1, &id, "cancelled", Duration::from_secs(20));
    assert!(j.get("started_at").is_some(), "{j}");
    assert_eq!(
        wait_no_processes(&id, Duration::from_secs(10)),
        Vec::<u32>::new()
    );
}

#[test]
fn after_kill_9_of_a_node_the_others_reconcile_its_job() {
    let mut c = cluster("kill", false);
    let id = c.nodes[0].1.post("long [fake:sleep=60;child=600]");
    let runner = wait_runner(&c, &id);
    let d = &mut c.nodes[runner].1;
    d.signal(nix::sys::signal::Signal::SIGKILL);
    let _ = d.child.wait();
    let survivor = &c.nodes[(runner + 1) % 3].1;
    let j = wait_job(survivor, &id, "failed", Duration::from_secs(40));
    assert!(
        j["error"]
            .as_str()
            .unwrap_or_default()
            .contains("interrupted"),
        "{j}"
    );
    assert_eq!(
        wait_no_processes(&id, Duration::from_secs(10)),
        Vec::<u32>::new()
    );
    // The survivors still take new work.
    let next = survivor.post("after [fake:sleep=0]");
    wait_job(survivor, &next, "succeeded", Duration::from_secs(20));
}

/// As on separate machines: the survivors cannot check the dead node's pid, so its job is
/// reconciled when its lease (20 s) runs out.
#[test]
fn a_node_of_another_machine_that_dies_loses_its_job_when_the_lease_runs_out() {
    let mut c = cluster("lease", true);
    let id = c.nodes[0].1.post("long [fake:sleep=90;child=600]");
    let runner = wait_runner(&c, &id);
    let survivor_ix = (runner + 1) % 3;
    let owner = get(&format!("{}/jobs/{id}", c.nodes[survivor_ix].1.url))["job"]["node"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        owner.starts_with(&format!("pod-{runner}:")),
        "owner {owner:?}"
    );
    let d = &mut c.nodes[runner].1;
    d.signal(nix::sys::signal::Signal::SIGKILL);
    let _ = d.child.wait();
    let killed = Instant::now();
    let survivor = &c.nodes[survivor_ix].1;
    // Still running while the lease holds...
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(job(survivor, &id)["status"], "running");
    // ...then failed "interrupted", and what was left of it is killed.
    let j = wait_job(survivor, &id, "failed", Duration::from_secs(40));
    assert!(
        killed.elapsed() >= Duration::from_secs(15),
        "{:?}",
        killed.elapsed()
    );
    let error = j["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("interrupted") && error.contains(&owner),
        "{j}"
    );
    assert_eq!(
        wait_no_processes(&id, Duration::from_secs(10)),
        Vec::<u32>::new()
    );
}
