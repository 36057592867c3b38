//! The CLI and `client::ApiClient` against a server: a canned one (an axum app in this test
//! that serves fixed JSON and hand-written SSE, including a dropped stream), and the real
//! `agenticore serve` daemon run as a process.

mod common;

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agenticore::client::{ApiClient, ClientError};
use agenticore::job::JobId;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// A canned server.

const KEY: &str = "canned-key";

#[derive(Clone, Default)]
struct Canned {
    /// `Last-Event-ID` of every request to the events route.
    last_event_ids: Arc<Mutex<Vec<Option<String>>>>,
    /// Status the final job event reports.
    final_status: Arc<Mutex<String>>,
    /// API keys sent to POST /jobs.
    keys_seen: Arc<Mutex<Vec<Option<String>>>>,
}

fn job_json(id: &str, status: &str) -> Value {
    json!({
        "id": id, "repo_url": "", "base_ref": "", "task": "canned task", "profile": "code",
        "status": status, "mode": "fire_and_forget", "created_at": "2026-01-01T00:00:00.000000+00:00",
        "ttl_seconds": 3600, "pod_name": "canned", "worktree_path": "", "job_config_dir": "",
        "num_turns": 2, "cost_usd": 0.5, "output": "canned output"
    })
}

fn known_id() -> String {
    "0190a000-0000-7000-8000-000000000001".into()
}

fn json_resp(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

async fn get_job(Path(id): Path<String>) -> Response {
    if id == known_id() {
        json_resp(
            StatusCode::OK,
            json!({"success": true, "job": job_json(&id, "running")}),
        )
    } else {
        json_resp(
            StatusCode::NOT_FOUND,
            json!({"success": false, "error": format!("Job not found: {id}")}),
        )
    }
}

async fn post_job(State(s): State<Canned>, headers: HeaderMap, body: String) -> Response {
    let key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    s.keys_seen.lock().unwrap().push(key.clone());
    if key.as_deref() != Some(KEY) {
        return json_resp(
            StatusCode::UNAUTHORIZED,
            json!({"error": "Invalid or missing API key"}),
        );
    }
    let v: Value = serde_json::from_str(&body).unwrap_or_default();
    assert_eq!(v["wait"], false, "the CLI must not hold POST /jobs: {v}");
    if v["task"] == "bad" {
        return json_resp(
            StatusCode::BAD_REQUEST,
            json!({"success": false, "error": "task is no good"}),
        );
    }
    json_resp(
        StatusCode::OK,
        json!({"success": true, "job": job_json(&known_id(), "queued")}),
    )
}

/// First connection: two events, then a cut event and the connection ends. Later ones
/// (with `Last-Event-ID`): the rest, then the final job event.
async fn events(State(s): State<Canned>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    s.last_event_ids.lock().unwrap().push(last.clone());
    let body = match last.as_deref() {
        None => concat!(
            ": hello\n\n",
            "id: 1\nevent: agenticore\n",
            "data: {\"type\":\"agenticore\",\"event\":\"status\",\"status\":\"running\"}\n\n",
            "id: 2\r\nevent: assistant\r\n",
            "data: {\"type\":\"assistant\",\"message\":{\"id\":\"m1\",\"content\":[{\"type\":\"text\",\"text\":\"Working on it.\"}]}}\r\n\r\n",
            "id: 3\nevent: assistant\ndata: {\"type\":\"assist"
        )
        .to_string(),
        Some(_) => {
            let status = s.final_status.lock().unwrap().clone();
            format!(
                "id: 3\nevent: result\ndata: {}\n\nevent: job\ndata: {}\n\n",
                json!({"type":"result","subtype":"success","num_turns":2,"total_cost_usd":0.5,"result":"Done."}),
                job_json(&id, &status)
            )
        }
    };
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from(body))
        .unwrap_or_default()
}

fn canned_router(s: Canned) -> Router {
    Router::new()
        .route(
            "/health",
            get(|| async {
                axum::Json(
                    json!({"status":"ok","service":"agenticore","version":"9.9.9",
                    "node":"canned:1","store":"/canned/jobs.db","running":1,"queued":2,
                    "max_parallel_jobs":3}),
                )
            }),
        )
        .route(
            "/jobs",
            get(|| async {
                axum::Json(
                    json!({"success":true,"count":1,"jobs":[job_json(&known_id(),"running")]}),
                )
            })
            .post(post_job),
        )
        .route("/jobs/{id}", get(get_job))
        .route("/jobs/{id}/events", get(events))
        .with_state(s)
}

/// The canned server on a free port, in its own thread and runtime.
fn start_canned(s: Canned) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(l.local_addr().expect("addr")).expect("send");
            let _ = axum::serve(l, canned_router(s)).await;
        });
    });
    rx.recv().expect("canned server address")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn api_client_maps_http_errors_and_parses_the_wire_types() {
    let addr = start_canned(Canned::default());
    let url = format!("http://{addr}");
    rt().block_on(async {
        let c = ApiClient::new(&url, Some(KEY)).expect("client");
        let h = c.health().await.expect("health");
        assert_eq!((h.service.as_str(), h.queued), ("agenticore", 2));
        let list = c.list(5, None, None).await.expect("list");
        assert_eq!(list.count, 1);
        let id: JobId = known_id().parse().expect("id");
        assert_eq!(c.get(id).await.expect("get").job.task, "canned task");
        let missing: JobId = "0190a000-0000-7000-8000-0000000000ff".parse().expect("id");
        assert!(
            matches!(c.get(missing).await, Err(ClientError::NotFound(m)) if m.contains("not found"))
        );
        let bad = agenticore::api::SubmitBody {
            task: "bad".into(),
            ..Default::default()
        };
        assert!(
            matches!(c.submit(&bad).await, Err(ClientError::Invalid(m)) if m == "task is no good")
        );
        let anon = ApiClient::new(&url, None).expect("client");
        assert!(matches!(
            anon.submit(&bad).await,
            Err(ClientError::Unauthorized)
        ));
        // Nothing listens on the port of a dropped listener.
        let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let dead_url = format!("http://{}", dead.local_addr().expect("addr"));
        drop(dead);
        let d = ApiClient::new(&dead_url, None).expect("client");
        match d.health().await {
            Err(ClientError::Unreachable { url, reason }) => {
                assert_eq!(url, dead_url);
                assert_eq!(reason, "connection refused");
            }
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn sse_resumes_after_a_dropped_connection_with_last_event_id() {
    let s = Canned::default();
    *s.final_status.lock().unwrap() = "succeeded".into();
    let addr = start_canned(s.clone());
    rt().block_on(async {
        let c = ApiClient::new(&format!("http://{addr}"), None).expect("client");
        let id: JobId = known_id().parse().expect("id");
        let evs: Vec<_> = c.events(id, None).collect().await;
        let evs: Vec<_> = evs.into_iter().map(|e| e.expect("event")).collect();
        let kinds: Vec<(Option<&str>, &str)> = evs
            .iter()
            .map(|e| (e.id.as_deref(), e.event.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                (Some("1"), "agenticore"),
                (Some("2"), "assistant"),
                (Some("3"), "result"),
                (Some("3"), "job"),
            ]
        );
        let job: agenticore::api::JobView = serde_json::from_str(&evs[3].data).expect("final job");
        assert_eq!(job.status.as_str(), "succeeded");
    });
    assert_eq!(
        *s.last_event_ids.lock().unwrap(),
        [None, Some("2".to_string())]
    );
}

#[test]
fn cli_submit_wait_against_a_canned_server() {
    let s = Canned::default();
    *s.final_status.lock().unwrap() = "failed".into();
    let addr = start_canned(s.clone());
    let sb = Sandbox::new()
        .env("AGENTICORE_URL", &format!("http://{addr}"))
        .env("AGENTICORE_API_KEY", KEY);
    let out = sb.run(&["submit", "do it", "--wait"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("claude: Working on it.") && err.contains("running"),
        "{err}"
    );
    assert!(
        stdout(&out).contains("status        failed"),
        "{}",
        stdout(&out)
    );
    // The key went in the header, never in the output.
    assert!(
        s.keys_seen
            .lock()
            .unwrap()
            .iter()
            .all(|k| k.as_deref() == Some(KEY))
    );
    assert!(!err.contains(KEY) && !stdout(&out).contains(KEY));

    // The server's codes map to the CLI's exit codes.
    let out = sb.run(&["job", "0190a000-0000-7000-8000-0000000000ff"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let out = sb.run(&["submit", "bad"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("task is no good"), "{}", stderr(&out));
    let no_key = Sandbox::new().env("AGENTICORE_URL", &format!("http://{addr}"));
    let out = no_key.run(&["submit", "x"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("API key"), "{}", stderr(&out));
    // status names the daemon.
    let (code, v) = sb.json(&["status", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(v["backend"], "remote");
    assert_eq!(v["version"], "9.9.9");
}

// ---------------------------------------------------------------------------------------------
// The real daemon.

use common::daemon::Daemon;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A sandbox whose CLI talks to its own daemon through `AGENTICORE_URL`.
fn with_daemon(sb: Sandbox, serve_args: &[&str]) -> (Sandbox, Daemon) {
    let d = Daemon::start(&sb, serve_args);
    let sb = sb.env("AGENTICORE_URL", &d.url);
    (sb, d)
}

#[test]
fn daemon_submit_wait_jobs_job_logs_status() {
    let (sb, d) = with_daemon(Sandbox::new(), &["--port", "0"]);
    let (code, v) = sb.json(&["submit", "say hi [fake:sleep=0]", "--wait", "--json"]);
    assert_eq!(code, 0, "{v}");
    let job = &v["job"];
    assert_eq!(job["status"], "succeeded");
    assert_eq!(job["num_turns"], 2);
    let id = job["id"].as_str().expect("id").to_string();

    let (code, v) = sb.json(&["submit", "x [fake:exit=1;no_result=1]", "--wait", "--json"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["job"]["status"], "failed");

    let (code, v) = sb.json(&["jobs", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(v["count"], 2, "{v}");
    assert_eq!(v["jobs"][1]["id"], id.as_str());
    let out = sb.run(&["jobs"]);
    assert!(stdout(&out).contains(&id), "{}", stdout(&out));

    let out = sb.run(&["job", &id]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("succeeded"), "{}", stdout(&out));
    let out = sb.run(&["job", "0190a000-0000-7000-8000-000000000000"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));

    let out = sb.run(&["logs", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("claude | Working on it."),
        "{}",
        stdout(&out)
    );
    let out = sb.run(&["logs", "-f", "--raw", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let types: Vec<String> = stdout(&out)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["type"].as_str().map(str::to_string))
        .collect();
    assert!(
        types.iter().any(|t| t == "result") && types.iter().any(|t| t == "agenticore"),
        "{types:?}"
    );

    let (code, v) = sb.json(&["status", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(v["backend"], "remote");
    assert_eq!(v["url"], d.url.as_str());
    assert_eq!(v["service"], "agenticore");
    let out = sb.run(&["profiles"]);
    assert!(stdout(&out).contains("code"), "{}", stdout(&out));
}

#[test]
fn daemon_cancel_and_follow() {
    let (sb, _d) = with_daemon(Sandbox::new(), &["--port", "0"]);
    let out = sb.run(&["submit", "long [fake:child=600;sleep=60]"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    sb.wait_status(&id, &["running"], Duration::from_secs(20));
    // A follower ends when the job does.
    let follower = sb
        .cmd()
        .args(["logs", "-f", &id])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("logs -f");
    let out = sb.run(&["cancel", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("cancelled"), "{}", stdout(&out));
    assert_eq!(
        wait_no_processes(&id, Duration::from_secs(5)),
        Vec::<u32>::new()
    );
    let out = follower.wait_with_output().expect("follower");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(sb.job(&id)["status"], "cancelled");
    // Cancelling again: nothing to do.
    let out = sb.run(&["cancel", &id]);
    assert!(
        stdout(&out).contains("already finished"),
        "{}",
        stdout(&out)
    );

    // Ctrl-C on a remote submit --wait cancels the job: exit 3.
    let child = sb
        .cmd()
        .args([
            "submit",
            "long [fake:child=600;sleep=60]",
            "--wait",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("submit");
    let id = running_job_with_processes(&sb, 3);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT");
    let out = child.wait_with_output().expect("submit");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["job"]["status"], "cancelled");
    assert_eq!(
        wait_no_processes(&id, Duration::from_secs(5)),
        Vec::<u32>::new()
    );
}

#[test]
fn a_dead_explicit_url_is_exit_5_with_advice() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let sb = Sandbox::new().env("AGENTICORE_URL", &url);
    for args in [&["jobs"][..], &["status"], &["submit", "x"]] {
        let out = sb.run(args);
        assert_eq!(out.status.code(), Some(5), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "agenticore server at {url} is unreachable: connection refused"
            )) && err.contains("unset AGENTICORE_URL"),
            "{err}"
        );
    }
    // Nothing fell back to the local engine.
    assert!(!sb.home().join("jobs.db").exists());
}

#[test]
fn without_a_daemon_the_local_engine_runs_and_a_default_daemon_is_found() {
    let port = free_port();
    let sb = Sandbox::new().env("AGENTICORE_PORT", &port.to_string());
    let (code, v) = sb.json(&["status", "--json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["backend"], "local");
    assert_eq!(v["daemon"], false);
    let out = sb.run(&["status"]);
    assert!(
        stdout(&out).contains("no daemon running"),
        "{}",
        stdout(&out)
    );
    let (code, v) = sb.json(&["submit", "local [fake:sleep=0]", "--wait", "--json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["job"]["mode"], "sync");
    let local_id = v["job"]["id"].as_str().expect("id").to_string();

    // A daemon on the configured port (same home, same store) is found and used.
    let _d = Daemon::start(&sb, &["--port", &port.to_string()]);
    let (code, v) = sb.json(&["status", "--json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["backend"], "remote", "{v}");
    let (code, v) = sb.json(&["submit", "remote [fake:sleep=0]", "--wait", "--json"]);
    assert_eq!(code, 0, "{v}");
    let (_, v) = sb.json(&["jobs", "--json"]);
    assert_eq!(v["count"], 2, "{v}");
    assert_eq!(v["jobs"][1]["id"], local_id.as_str());
}

#[test]
fn the_daemon_requires_the_api_key_the_client_sends() {
    let sb = Sandbox::new().env("AGENTICORE_API_KEYS", "sekrit-1,sekrit-2");
    let (sb, d) = with_daemon(sb, &["--port", "0"]);
    // The client takes the first configured key by default.
    let (code, v) = sb.json(&["jobs", "--json"]);
    assert_eq!(code, 0, "{v}");
    // A wrong AGENTICORE_API_KEY is refused: exit 2, and the key is never printed.
    let bad = Sandbox::new()
        .env("AGENTICORE_URL", &d.url)
        .env("AGENTICORE_API_KEY", "wrong-key");
    let out = bad.run(&["jobs"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("API key"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("wrong-key"));
    // The right one via AGENTICORE_API_KEY works, from a sandbox that has no keys configured.
    let good = Sandbox::new()
        .env("AGENTICORE_URL", &d.url)
        .env("AGENTICORE_API_KEY", "sekrit-2");
    let (code, v) = good.json(&["submit", "k [fake:sleep=0]", "--wait", "--json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["job"]["status"], "succeeded");
}
