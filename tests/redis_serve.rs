//! Store selection with real processes: `REDIS_URL` set and Redis up → the Redis store; Redis
//! unreachable → a loud fallback to the SQLite file that `/health` (503 "degraded") and
//! `status` name; `AGENTICORE_REDIS_REQUIRED=true` → refuse to start (exit 5). The password of
//! the URL never shows.
//!
//! The tests that need a real Redis use `AGENTICORE_TEST_REDIS_URL` (default
//! `redis://127.0.0.1:6379`) with a unique key prefix, deleted at the end;

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::daemon::Daemon;
use common::redis_prefix::Prefix;
use common::*;

const DOWN: &str = "redis://:sekret-pw@127.0.0.1:1/0";

fn curl(url: &str) -> (u16, serde_json::Value) {
    let out = std::process::Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", url])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').expect("status line");
    (
        code.trim().parse().expect("code"),
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}")),
    )
}

#[test]
fn unreachable_redis_falls_back_to_sqlite_and_health_is_degraded() {
    let sb = Sandbox::new().env("REDIS_URL", DOWN);
    let d = Daemon::start(&sb, &["--port", "0"]);
    let (code, h) = curl(&format!("{}/health", d.url));
    assert_eq!(code, 503, "{h}");
    assert_eq!(h["status"], "degraded");
    let store = h["store"].as_str().expect("store");
    assert!(store.contains("FALLBACK"), "{h}");
    assert!(store.contains("jobs.db"), "{h}");
    let warning = h["store_warning"].as_str().expect("warning");
    assert!(warning.contains("redis://:****@127.0.0.1:1/0"), "{h}");
    assert!(warning.contains("unreachable"), "{h}");
    assert!(!h.to_string().contains("sekret"), "{h}");
    // Jobs still run, on the local file.
    let id = d.post("hello [fake:sleep=0]");
    let job = sb.wait_status(&id, &["succeeded"], Duration::from_secs(20));
    assert_eq!(job["status"], "succeeded");
}

#[test]
fn the_fallback_warns_on_stderr_without_the_password() {
    let sb = Sandbox::new().env("REDIS_URL", DOWN);
    let out = sb.run(&["jobs", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("FALLING BACK"), "{err}");
    assert!(err.contains("AGENTICORE_REDIS_REQUIRED"), "{err}");
    assert!(!err.contains("sekret"), "{err}");
}

#[test]
fn status_names_the_fallback_and_exits_5() {
    let sb = Sandbox::new().env("REDIS_URL", DOWN);
    let out = sb.run(&["status"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(5), "{text}{}", stderr(&out));
    assert!(text.contains("FALLBACK"), "{text}");
    assert!(text.contains("warning"), "{text}");
    assert!(!text.contains("sekret"), "{text}");
    let (code, v) = sb.json(&["status", "--json"]);
    assert_eq!(code, 5);
    assert_eq!(v["status"], "degraded");
    assert!(v["store_warning"].as_str().is_some(), "{v}");
}

#[test]
fn required_redis_refuses_to_start() {
    let sb = Sandbox::new()
        .env("REDIS_URL", DOWN)
        .env("AGENTICORE_REDIS_REQUIRED", "true");
    let out = sb
        .cmd()
        .args(["serve", "--port", "0"])
        .stdin(Stdio::null())
        .output()
        .expect("serve");
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("127.0.0.1:1"), "{err}");
    assert!(!err.contains("sekret"), "{err}");
    let out = sb.run(&["jobs"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let (code, _) = sb.json(&["config", "--json"]);
    assert_eq!(code, 0);
}

#[test]
fn with_redis_up_the_daemon_and_the_cli_use_it() {
    let p = Prefix::new("serve");
    let sb = Sandbox::new()
        .env("REDIS_URL", &p.url)
        .env("REDIS_KEY_PREFIX", &p.name)
        .env("AGENTICORE_REDIS_REQUIRED", "true");
    let d = Daemon::start(&sb, &["--port", "0"]);
    let (code, h) = curl(&format!("{}/health", d.url));
    assert_eq!(code, 200, "{h}");
    assert_eq!(h["status"], "ok");
    assert!(h["store"].as_str().expect("store").contains(&p.name), "{h}");
    assert!(h.get("store_warning").is_none(), "{h}");
    let id = d.post("hello [fake:sleep=0]");
    let job = sb.wait_status(&id, &["succeeded"], Duration::from_secs(20));
    assert_eq!(job["status"], "succeeded");
    // The record is the readable hash.
    assert_eq!(p.hget(&id, "status").as_deref(), Some("succeeded"));
    assert_eq!(p.hget(&id, "task").as_deref(), Some("hello [fake:sleep=0]"));
    assert!(p.hget(&id, "ended_at").is_some());
    drop(d);

    // The embedded engine of the CLI runs on the same Redis.
    let (code, v) = sb.json(&["submit", "embedded [fake:sleep=0]", "--wait", "--json"]);
    assert_eq!(code, 0, "{v}");
    let id2 = v["job"]["id"].as_str().expect("id").to_string();
    assert_eq!(p.hget(&id2, "status").as_deref(), Some("succeeded"));
    let (code, v) = sb.json(&["jobs", "--json"]);
    assert_eq!(code, 0);
    let ids: Vec<&str> = v["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter_map(|j| j["id"].as_str())
        .collect();
    assert_eq!(ids, vec![id2.as_str(), id.as_str()]);
}
