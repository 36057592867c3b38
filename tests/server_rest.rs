//! The REST API over a real in-process server (real engine, scheduler, SQLite and the fake
//! claude): golden JSON shapes of every route and error, auth, cancel, and a 500-POST burst.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::server::{Opts, TestServer, keys, mask};
use reqwest::Method;
use serde_json::{Value, json};

/// Values that change from run to run.
const VOLATILE: &[&str] = &[
    "id",
    "created_at",
    "started_at",
    "ended_at",
    "session_id",
    "output",
    "worktree_path",
    "job_config_dir",
    "node",
    "store",
    "pid",
    "changes",
];

/// `v` with its volatile values masked, as compact JSON (key order included).
fn golden(v: &Value) -> String {
    let mut v = v.clone();
    mask(&mut v, VOLATILE);
    v.to_string()
}

fn assert_golden(what: &str, got: &Value, want: Value) {
    assert_eq!(golden(got), want.to_string(), "{what}: {got}");
}

fn error_body(msg: &str) -> Value {
    json!({"success": false, "error": msg})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_answer_the_seed_shapes() {
    let s = TestServer::start(Opts {
        max_parallel: 2,
        ..Default::default()
    })
    .await;

    // GET /health
    let (code, v) = s.get("/health").await;
    assert_eq!(code, 200);
    assert_golden(
        "health",
        &v,
        json!({"status": "ok", "service": "agenticore", "version": env!("CARGO_PKG_VERSION"),
               "node": "<masked>", "store": "<masked>", "running": 0, "queued": 0,
               "max_parallel_jobs": 2, "changes": "<masked>", "running_here": 0}),
    );
    let changes_before = v["changes"].as_u64().expect("a change counter");
    assert!(v["store"].as_str().unwrap().ends_with("jobs.db"));

    // GET /profiles
    let (code, v) = s.get("/profiles").await;
    assert_eq!(code, 200);
    assert_golden(
        "profiles",
        &v,
        json!({"success": true, "count": 2, "profiles": [
            {"name": "code", "description": "Autonomous coding worker", "model": "sonnet",
             "max_turns": 80, "worktree": true, "auto_pr": true,
             "permission_mode": "bypassPermissions", "effort": "high"},
            {"name": "review", "description": "Code review analyst", "model": "haiku",
             "max_turns": 20, "worktree": true, "auto_pr": false,
             "permission_mode": "bypassPermissions"}]}),
    );

    // GET /jobs, empty
    let (code, v) = s.get("/jobs").await;
    assert_eq!(code, 200);
    assert_golden(
        "empty list",
        &v,
        json!({"success": true, "count": 0, "jobs": []}),
    );

    // POST /jobs with wait: the final, succeeded job. The seed's extra fields are ignored.
    let (code, v) = s
        .post(
            "/jobs",
            json!({"task": "hello [fake:sleep=0]", "wait": true, "repo_url": "", "profile": "",
                   "base_ref": "main", "session_id": "", "file_path": "", "create_repo": false,
                   "private": true, "worktree_id": ""}),
        )
        .await;
    assert_eq!(code, 200, "{v}");
    assert_golden(
        "succeeded job",
        &v,
        json!({"success": true, "job": {
            "id": "<masked>", "repo_url": "", "base_ref": "", "task": "hello [fake:sleep=0]",
            "profile": "code", "status": "succeeded", "mode": "sync", "exit_code": 0,
            "session_id": "<masked>", "output": "<masked>", "created_at": "<masked>",
            "started_at": "<masked>", "ended_at": "<masked>", "ttl_seconds": 86400,
            "pod_name": "test-pod", "worktree_path": "<masked>", "job_config_dir": "<masked>", "node": "<masked>",
            "cost_usd": 0.0123, "num_turns": 2,
            "tokens": {"input": 100, "output": 20, "cache_read": 5, "cache_creation": 1},
            "model": "fake-model", "result_subtype": "success", "last_message": "Done."}}),
    );
    let done_id = v["job"]["id"].as_str().unwrap().to_string();
    // The change counter moved: a client polling /health sees that jobs changed.
    let (_, h) = s.get("/health").await;
    assert_ne!(h["changes"].as_u64(), Some(changes_before), "{h}");
    for ts in ["created_at", "started_at", "ended_at"] {
        assert!(
            v["job"][ts].as_str().unwrap().ends_with("+00:00"),
            "{ts}: {v}"
        );
    }

    // A failed job: status failed, exit code and error.
    let (code, v) = s
        .post(
            "/jobs",
            json!({"task": "fail [fake:exit=3;stderr=boom]", "wait": true}),
        )
        .await;
    assert_eq!(code, 200, "{v}");
    let job = &v["job"];
    assert_eq!(job["status"], "failed", "{v}");
    assert_eq!(job["exit_code"], 3, "{v}");
    assert!(!job["error"].as_str().unwrap_or_default().is_empty(), "{v}");
    let failed_id = job["id"].as_str().unwrap().to_string();

    // POST /jobs without wait: a queued job.
    let (code, v) = s
        .post("/jobs", json!({"task": "later [fake:sleep=0]"}))
        .await;
    assert_eq!(code, 200, "{v}");
    assert_golden(
        "queued job",
        &v,
        json!({"success": true, "job": {
            "id": "<masked>", "repo_url": "", "base_ref": "", "task": "later [fake:sleep=0]",
            "profile": "code", "status": "queued", "mode": "fire_and_forget",
            "created_at": "<masked>", "ttl_seconds": 86400, "pod_name": "test-pod",
            "worktree_path": "<masked>", "job_config_dir": "<masked>"}}),
    );
    let queued_id = v["job"]["id"].as_str().unwrap().to_string();
    s.wait_status(&queued_id, &["succeeded"], Duration::from_secs(20))
        .await;

    // GET /jobs/{id}
    let (code, v) = s.get(&format!("/jobs/{done_id}")).await;
    assert_eq!(code, 200);
    assert_eq!(keys(&v), ["success", "job"]);
    assert_eq!(v["job"]["id"], done_id.as_str());
    assert_eq!(v["job"]["status"], "succeeded");

    // GET /jobs: newest first, count, filters, paging.
    let (code, v) = s.get("/jobs").await;
    assert_eq!(code, 200);
    assert_eq!(keys(&v), ["success", "count", "jobs"]);
    assert_eq!(v["count"], 3);
    let ids: Vec<&str> = v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [queued_id.as_str(), failed_id.as_str(), done_id.as_str()]
    );
    let (_, v) = s.get("/jobs?status=failed&limit=20").await;
    assert_eq!(v["count"], 1);
    assert_eq!(v["jobs"][0]["id"], failed_id.as_str());
    let (_, v) = s.get("/jobs?limit=2").await;
    assert_eq!(keys(&v), ["success", "count", "jobs", "cursor"]);
    assert_eq!(v["count"], 2);
    let cursor = v["cursor"].as_str().unwrap().to_string();
    let (_, v) = s.get(&format!("/jobs?limit=2&cursor={cursor}")).await;
    assert_eq!(v["count"], 1);
    assert_eq!(v["jobs"][0]["id"], done_id.as_str());
    assert!(v.get("cursor").is_none(), "{v}");
    // The seed's statuses that never exist here list nothing; a huge limit is clamped.
    for q in ["status=rejected", "status=expired"] {
        let (code, v) = s.get(&format!("/jobs?{q}")).await;
        assert_eq!(code, 200);
        assert_golden(q, &v, json!({"success": true, "count": 0, "jobs": []}));
    }
    let (code, v) = s.get("/jobs?limit=10000000&status=").await;
    assert_eq!((code, v["count"].clone()), (200, json!(3)));

    // GET /jobs/{id}/logs: NDJSON, whole or tail.
    let r = s
        .client
        .get(s.url(&format!("/jobs/{done_id}/logs")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let whole = r.text().await.unwrap();
    let lines: Vec<&str> = whole.lines().collect();
    for l in &lines {
        serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("log line {l:?}: {e}"));
    }
    let r = s
        .client
        .get(s.url(&format!("/jobs/{done_id}/logs?tail=2")))
        .send()
        .await
        .unwrap();
    let tail = r.text().await.unwrap();
    let want: Vec<&str> = lines.iter().rev().take(2).rev().copied().collect();
    assert_eq!(tail.lines().collect::<Vec<_>>(), want);

    // GET /openapi.json: OpenAPI 3.1 with every route, the schemas and the key schemes.
    let (code, v) = s.get("/openapi.json").await;
    assert_eq!(code, 200);
    assert_eq!(v["openapi"], "3.1.0");
    let paths = keys(&v["paths"]);
    for p in [
        "/jobs",
        "/jobs/{id}",
        "/jobs/{id}/logs",
        "/jobs/{id}/events",
        "/profiles",
        "/health",
        "/stats",
        "/openapi.json",
        "/v1/metrics",
        "/v1/logs",
        "/v1/traces",
    ] {
        assert!(paths.iter().any(|x| x == p), "{p} missing from {paths:?}");
    }
    assert!(v["paths"]["/v1/logs"]["post"]["responses"]["415"].is_object());
    assert!(v["paths"]["/jobs"]["post"].is_object());
    assert!(v["paths"]["/jobs/{id}"]["delete"].is_object());
    assert!(
        v["paths"]["/jobs/{id}/events"]["get"]["responses"]["200"]["content"]["text/event-stream"]
            .is_object()
    );
    for schema in [
        "JobView",
        "SubmitBody",
        "JobEnvelope",
        "JobList",
        "ErrorBody",
        "Health",
        "Stats",
        "StatsGroup",
    ] {
        assert!(v["components"]["schemas"][schema].is_object(), "{schema}");
    }
    let schemes = keys(&v["components"]["securitySchemes"]);
    assert_eq!(schemes, ["api_key_header", "api_key_query", "bearer"]);
    assert_eq!(v["paths"]["/health"]["get"]["security"], json!([{}]));

    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_is_json_with_the_right_status() {
    let s = TestServer::start(Opts {
        max_parallel: 1,
        ..Default::default()
    })
    .await;
    let unknown = "0190b6a0-0000-7000-8000-000000000000";

    // 404: unknown and malformed ids (the hostile one echoed only in part), unknown routes.
    for (path, msg) in [
        (
            format!("/jobs/{unknown}"),
            format!("Job not found: {unknown}"),
        ),
        ("/jobs/nope".to_string(), "Job not found: nope".to_string()),
        (
            format!("/jobs/{unknown}/logs"),
            format!("Job not found: {unknown}"),
        ),
        (
            format!("/jobs/{unknown}/events"),
            format!("Job not found: {unknown}"),
        ),
        (
            "/jobs/nope/events".to_string(),
            "Job not found: nope".to_string(),
        ),
        ("/nope".to_string(), "Not found".to_string()),
        ("/jobs/x/y/z".to_string(), "Not found".to_string()),
    ] {
        let (code, v) = s.get(&path).await;
        assert_eq!(code, 404, "{path}");
        assert_golden(&path, &v, error_body(&msg));
    }
    let hostile = "a".repeat(5000);
    let (code, v) = s.get(&format!("/jobs/{hostile}")).await;
    assert_eq!(code, 404);
    assert!(v["error"].as_str().unwrap().len() < 130, "{v}");
    let (code, v) = s.delete(&format!("/jobs/{unknown}")).await;
    assert_eq!(code, 404);
    assert_golden(
        "delete unknown",
        &v,
        error_body(&format!("Job not found: {unknown}")),
    );

    // 400: bad bodies and bad input.
    let bad_bodies: Vec<(&str, Value)> = vec![
        ("missing task", json!({"repo_url": ""})),
        ("empty task", json!({"task": "  "})),
        ("task not a string", json!({"task": 5})),
        ("wait not a bool", json!({"task": "t", "wait": "yes"})),
        (
            "option-like repo_url",
            json!({"task": "t", "repo_url": "-oProxyCommand=x"}),
        ),
        (
            "bad base_ref",
            json!({"task": "t", "repo_url": "https://github.com/o/r", "base_ref": "--upload-pack=x"}),
        ),
        ("unknown profile", json!({"task": "t", "profile": "nope"})),
        (
            "bad session",
            json!({"task": "t", "session_id": "not-a-uuid"}),
        ),
        (
            "huge timeout",
            json!({"task": "t", "timeout": 999_999_999u64}),
        ),
        ("not an object", json!(["task"])),
    ];
    for (what, body) in bad_bodies {
        let (code, v) = s.post("/jobs", body).await;
        assert_eq!(code, 400, "{what}: {v}");
        assert_eq!(keys(&v), ["success", "error"], "{what}");
        assert_eq!(v["success"], false);
        assert!(!v["error"].as_str().unwrap().is_empty());
    }
    let (_, v) = s.post("/jobs", json!({"repo_url": ""})).await;
    assert!(v["error"].as_str().unwrap().contains("task"), "{v}");
    let (_, v) = s.post("/jobs", json!({"task": ""})).await;
    assert_golden(
        "empty task",
        &v,
        error_body("task is required and must not be empty"),
    );
    let raw = |body: &'static str, ct: &'static str| {
        s.client
            .post(s.url("/jobs"))
            .header("content-type", ct)
            .body(body)
    };
    for (body, ct, want) in [
        ("{\"task\": ", "application/json", 400),
        ("", "application/json", 400),
        ("{\"task\": \"t\"}", "text/plain", 415),
    ] {
        let r = raw(body, ct).send().await.unwrap();
        assert_eq!(r.status().as_u16(), want, "{body:?} {ct}");
        assert_eq!(r.headers()["content-type"], "application/json");
        let v: Value = r.json().await.unwrap();
        assert_eq!(keys(&v), ["success", "error"]);
    }
    let r = s
        .client
        .post(s.url("/jobs"))
        .body("{\"task\":\"t\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415, "no content type");

    for q in [
        "limit=0",
        "limit=abc",
        "limit=-1",
        "status=bogus",
        "cursor=zzz",
    ] {
        let (code, v) = s.get(&format!("/jobs?{q}")).await;
        assert_eq!(code, 400, "{q}: {v}");
        assert_eq!(keys(&v), ["success", "error"]);
    }
    let (_, v) = s.get("/jobs?limit=0").await;
    assert_golden("limit=0", &v, error_body("limit must be at least 1"));
    let (code, _) = s.delete(&format!("/jobs/{unknown}?wait=maybe")).await;
    assert_eq!(code, 400);

    // 413: a 2 MiB body.
    // (On its own connection: the server closes a connection whose body it refused, and a
    // pooled connection reused after that would fail the next request with a broken pipe.)
    let big = json!({"task": "x".repeat(2 * 1024 * 1024)});
    let r = reqwest::Client::new()
        .post(s.url("/jobs"))
        .header("connection", "close")
        .json(&big)
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    assert_eq!(code, 413, "{v}");
    assert_golden(
        "413",
        &v,
        error_body("request body too large (the limit is 1048576 bytes)"),
    );

    // 405, with Allow.
    for (m, p) in [
        (Method::PUT, "/jobs"),
        (Method::POST, format!("/jobs/{unknown}").leak() as &str),
        (Method::POST, "/health"),
        (Method::DELETE, "/profiles"),
    ] {
        let r = s.client.request(m.clone(), s.url(p)).send().await.unwrap();
        assert_eq!(r.status(), 405, "{m} {p}");
        assert_eq!(r.headers()["content-type"], "application/json");
        let v: Value = r.json().await.unwrap();
        assert_golden("405", &v, error_body("Method not allowed"));
    }

    // Nothing was queued by any of this.
    let (_, v) = s.get("/jobs").await;
    assert_eq!(v["count"], 0, "{v}");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_cancels_queued_and_running_jobs() {
    let s = TestServer::start(Opts {
        max_parallel: 1,
        ..Default::default()
    })
    .await;
    let (_, v) = s
        .post("/jobs", json!({"task": "long [fake:sleep=30]"}))
        .await;
    let running = v["job"]["id"].as_str().unwrap().to_string();
    s.wait_status(&running, &["running"], Duration::from_secs(20))
        .await;
    let (_, v) = s
        .post("/jobs", json!({"task": "queued [fake:sleep=0]"}))
        .await;
    let queued = v["job"]["id"].as_str().unwrap().to_string();

    // Queued: cancelled at once, never runs.
    let (code, v) = s.delete(&format!("/jobs/{queued}")).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(keys(&v), ["success", "job"]);
    assert_eq!(v["job"]["status"], "cancelled", "{v}");
    assert_eq!(v["job"]["error"], "cancelled by user", "{v}");

    // Running, wait=false: flagged; its runner kills it.
    let (code, v) = s.delete(&format!("/jobs/{running}?wait=false")).await;
    assert_eq!(code, 200, "{v}");
    match v["job"]["status"].as_str().unwrap() {
        "running" => assert_eq!(v["job"]["cancel_requested"], true, "{v}"),
        "cancelled" => {}
        other => panic!("unexpected status {other}: {v}"),
    }
    let t0 = Instant::now();
    // By default DELETE answers once the job is really over.
    let (code, v) = s.delete(&format!("/jobs/{running}")).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["job"]["status"], "cancelled", "{v}");
    assert!(v["job"].get("cancel_requested").is_none(), "{v}");
    assert!(t0.elapsed() < Duration::from_secs(15));

    // Cancelling a finished job changes nothing.
    let (code, v) = s.delete(&format!("/jobs/{queued}")).await;
    assert_eq!(
        (code, v["job"]["status"].clone()),
        (200, json!("cancelled"))
    );
    let (_, h) = s.get("/health").await;
    assert_eq!(
        (h["running"].clone(), h["queued"].clone()),
        (json!(0), json!(0))
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_guard_every_route_but_health() {
    let key = "k3y-0123456789abcdef";
    let s = TestServer::start(Opts {
        max_parallel: 1,
        keys: vec![key.to_string(), "second-key".to_string()],
        ..Default::default()
    })
    .await;
    let unauthorized = json!({"error": "Invalid or missing API key"});
    let status_of = |rb: reqwest::RequestBuilder| async move {
        let r = rb.send().await.unwrap();
        let code = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        (code, v)
    };
    let c = &s.client;
    let attempts = [
        ("no key", c.get(s.url("/jobs"))),
        (
            "wrong key",
            c.get(s.url("/jobs")).header("X-API-Key", "nope"),
        ),
        (
            "prefix of the key",
            c.get(s.url("/jobs")).header("X-API-Key", &key[..10]),
        ),
        (
            "key plus a byte",
            c.get(s.url("/jobs")).header("X-API-Key", format!("{key}x")),
        ),
        ("empty key", c.get(s.url("/jobs")).header("X-API-Key", "")),
        (
            "basic auth",
            c.get(s.url("/jobs"))
                .header("Authorization", format!("Basic {key}")),
        ),
        ("wrong query", c.get(s.url("/jobs?api_key=nope"))),
        ("unknown route", c.get(s.url("/nope"))),
        ("post", c.post(s.url("/jobs")).json(&json!({"task": "t"}))),
        ("openapi", c.get(s.url("/openapi.json"))),
        ("events", c.get(s.url("/jobs/x/events"))),
        ("stats", c.get(s.url("/stats"))),
    ];
    for (what, rb) in attempts {
        let (code, v) = status_of(rb).await;
        assert_eq!(code, 401, "{what}");
        assert_eq!(v, unauthorized, "{what}");
        assert_eq!(v.to_string(), unauthorized.to_string());
    }
    let ok = [
        ("header", c.get(s.url("/jobs")).header("X-API-Key", key)),
        ("bearer", c.get(s.url("/jobs")).bearer_auth(key)),
        (
            "query",
            c.get(s.url(&format!("/jobs?api_key={key}&limit=5"))),
        ),
        (
            "second key",
            c.get(s.url("/jobs")).header("X-API-Key", "second-key"),
        ),
        ("health without key", c.get(s.url("/health"))),
        (
            "openapi",
            c.get(s.url("/openapi.json")).header("X-API-Key", key),
        ),
        ("stats", c.get(s.url("/stats")).header("X-API-Key", key)),
    ];
    for (what, rb) in ok {
        let (code, v) = status_of(rb).await;
        assert_eq!(code, 200, "{what}: {v}");
    }
    // With a key, the usual answers: 404 for an unknown route.
    let (code, _) = status_of(c.get(s.url("/nope")).header("X-API-Key", key)).await;
    assert_eq!(code, 404);
    s.shutdown().await;
}

#[test]
fn loopback_check_for_serve() {
    use agenticore::server::auth::is_loopback;
    assert!(is_loopback("127.0.0.1"));
    assert!(is_loopback("localhost"));
    assert!(is_loopback("::1"));
    assert!(!is_loopback("0.0.0.0"));
    assert!(!is_loopback("192.168.0.10"));
}

/// 500 concurrent POSTs against max_parallel 3: every one accepted, every job run exactly
/// once, never more than 3 at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_posts_run_each_job_once() {
    const N: usize = 500;
    let s = TestServer::start(Opts {
        max_parallel: 3,
        ..Default::default()
    })
    .await;
    let logs = s.path().join("runs");
    std::fs::create_dir_all(&logs).unwrap();
    let t0 = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..N {
        let client = s.client.clone();
        let url = s.url("/jobs");
        let task = format!(
            "job {i} [fake:log={}]",
            logs.join(format!("{i}.log")).display()
        );
        set.spawn(async move {
            let r = client
                .post(url)
                .json(&json!({"task": task}))
                .send()
                .await
                .expect("send");
            let code = r.status().as_u16();
            let v: Value = r.json().await.expect("json");
            (
                code,
                v["job"]["id"].as_str().unwrap_or_default().to_string(),
            )
        });
    }
    let mut ids = Vec::new();
    while let Some(r) = set.join_next().await {
        let (code, id) = r.unwrap();
        assert_eq!(code, 200);
        ids.push(id);
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), N, "distinct job ids");
    let accepted_in = t0.elapsed();

    // Wait (bounded) for the queue to drain.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, h) = s.get("/health").await;
        if h["running"] == 0 && h["queued"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "not drained: {h}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, v) = s.get("/jobs?status=succeeded&limit=1000").await;
    assert_eq!(v["count"], N, "all succeeded");

    // Each job ran exactly once; at most 3 ran at the same time.
    let mut events: Vec<(f64, i32)> = Vec::new();
    for i in 0..N {
        let text = std::fs::read_to_string(logs.join(format!("{i}.log")))
            .unwrap_or_else(|e| panic!("job {i} never ran: {e}"));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "job {i} ran more or less than once: {text}");
        let mut by_kind = HashMap::new();
        for l in lines {
            let mut f = l.split_whitespace();
            let kind = f.next().unwrap().to_string();
            let at: f64 = f.next().unwrap().parse().unwrap();
            by_kind.insert(kind, at);
        }
        let (Some(start), Some(end)) = (by_kind.get("start"), by_kind.get("end")) else {
            panic!("job {i}: {text}");
        };
        events.push((*start, 1));
        events.push((*end, -1));
    }
    // Ends sort before starts at the same instant.
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut now, mut peak) = (0, 0);
    for (_, d) in events {
        now += d;
        peak = peak.max(now);
    }
    assert!(peak <= 3, "peak concurrency {peak}");
    assert!(peak >= 2, "jobs never overlapped (peak {peak})");
    eprintln!(
        "500 POSTs accepted in {accepted_in:?}; all done in {:?}; peak {peak}",
        t0.elapsed()
    );
    s.shutdown().await;
}
