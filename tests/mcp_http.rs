//! MCP over Streamable HTTP (`/mcp`) against the real in-process server, spoken as plain
//! JSON-RPC with reqwest: the handshake, the six tools and their REST-shaped results, tool
//! errors for bad input, progress notifications of `run_task` with `wait`, a cancelled call
//! that leaves its job running, and the API key.

mod common;

use std::time::Duration;

use common::server::{Opts, TestServer};
use serde_json::{Value, json};

const PROTOCOL: &str = "2025-06-18";

/// One MCP session over HTTP.
struct Session<'a> {
    s: &'a TestServer,
    key: Option<&'a str>,
    id: Option<String>,
    next: u64,
}

impl<'a> Session<'a> {
    fn new(s: &'a TestServer, key: Option<&'a str>) -> Session<'a> {
        Session {
            s,
            key,
            id: None,
            next: 1,
        }
    }

    fn post(&self, body: &Value) -> reqwest::RequestBuilder {
        let mut rb = self
            .s
            .client
            .post(self.s.url("/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .json(body);
        if let Some(k) = self.key {
            rb = rb.header("x-api-key", k);
        }
        if let Some(id) = &self.id {
            rb = rb
                .header("mcp-session-id", id)
                .header("mcp-protocol-version", PROTOCOL);
        }
        rb
    }

    /// Send a request; every JSON-RPC message of the answer (SSE or plain JSON), in order.
    async fn request_all(&mut self, method: &str, params: Value) -> Vec<Value> {
        let id = self.next;
        self.next += 1;
        let resp = self
            .post(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status().as_u16(), 200, "{method}");
        if let Some(sid) = resp.headers().get("mcp-session-id") {
            self.id = Some(sid.to_str().expect("session id").to_string());
        }
        messages(&resp.text().await.expect("body"))
    }

    /// Send a request; its result (panics on a JSON-RPC error).
    async fn request(&mut self, method: &str, params: Value) -> Value {
        let msgs = self.request_all(method, params).await;
        let last = msgs.last().expect("an answer").clone();
        assert!(last.get("error").is_none(), "{method}: {last}");
        last["result"].clone()
    }

    async fn notify(&self, method: &str, params: Value) {
        let resp = self
            .post(&json!({"jsonrpc": "2.0", "method": method, "params": params}))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status().as_u16(), 202, "{method}");
    }

    async fn initialize(&mut self) -> Value {
        let r = self
            .request(
                "initialize",
                json!({"protocolVersion": PROTOCOL, "capabilities": {},
                       "clientInfo": {"name": "mcp_http test", "version": "1"}}),
            )
            .await;
        assert!(self.id.is_some(), "a session id");
        self.notify("notifications/initialized", json!({})).await;
        r
    }

    async fn call(&mut self, tool: &str, args: Value) -> Value {
        self.request("tools/call", json!({"name": tool, "arguments": args}))
            .await
    }
}

/// The JSON-RPC messages of an SSE body (`data:` lines) or of a plain JSON body.
fn messages(body: &str) -> Vec<Value> {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        return vec![v];
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("{e}: {d}")))
        .collect()
}

/// A successful tool result: its structured content, checked against its text content.
fn ok(result: &Value) -> Value {
    assert_eq!(result["isError"], json!(false), "{result}");
    let text = result["content"][0]["text"].as_str().expect("text content");
    let from_text: Value = serde_json::from_str(text).expect("JSON text");
    assert_eq!(from_text, result["structuredContent"], "{result}");
    assert_eq!(result["structuredContent"]["success"], json!(true));
    result["structuredContent"].clone()
}

/// A tool error: its message.
fn err(result: &Value) -> String {
    assert_eq!(result["isError"], json!(true), "{result}");
    let s = &result["structuredContent"];
    assert_eq!(s["success"], json!(false), "{result}");
    let text = result["content"][0]["text"].as_str().expect("text content");
    assert_eq!(serde_json::from_str::<Value>(text).expect("JSON"), *s);
    s["error"].as_str().expect("error").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_over_streamable_http() {
    let s = TestServer::start(Opts {
        max_parallel: 2,
        ..Default::default()
    })
    .await;
    let mut m = Session::new(&s, None);

    let init = m.initialize().await;
    assert_eq!(init["serverInfo"]["name"], "agenticore");
    assert_eq!(init["serverInfo"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(init["capabilities"]["tools"].is_object(), "{init}");
    assert!(
        init["instructions"]
            .as_str()
            .is_some_and(|i| i.contains("run_task")),
        "{init}"
    );

    // tools/list: the seed's five and get_stats, each with a description and an object schema.
    let list = m.request("tools/list", json!({})).await;
    let tools = list["tools"].as_array().expect("tools");
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "cancel_job",
            "get_job",
            "get_stats",
            "list_jobs",
            "list_profiles",
            "run_task"
        ]
    );
    for t in tools {
        assert!(
            t["description"].as_str().is_some_and(|d| d.len() > 40),
            "{t}"
        );
        assert_eq!(t["inputSchema"]["type"], "object", "{t}");
    }
    let run = tools
        .iter()
        .find(|t| t["name"] == "run_task")
        .expect("run_task");
    assert_eq!(run["inputSchema"]["required"], json!(["task"]));
    for p in [
        "task",
        "repo_url",
        "profile",
        "base_ref",
        "wait",
        "session_id",
        "timeout",
    ] {
        let prop = &run["inputSchema"]["properties"][p];
        assert!(prop["description"].is_string(), "{p}: {run}");
    }
    let get = tools
        .iter()
        .find(|t| t["name"] == "get_job")
        .expect("get_job");
    assert_eq!(get["inputSchema"]["required"], json!(["job_id"]));

    // list_profiles: REST's GET /profiles body.
    let profiles = ok(&m.call("list_profiles", json!({})).await);
    assert_eq!(profiles, s.get("/profiles").await.1);

    // run_task without wait: the queued job; get_job: the same job as REST's.
    let queued = ok(&m
        .call("run_task", json!({"task": "hi [fake:sleep=0]"}))
        .await);
    assert_eq!(queued["job"]["status"], "queued");
    assert_eq!(queued["job"]["mode"], "fire_and_forget");
    let id = queued["job"]["id"].as_str().expect("id").to_string();
    s.wait_status(&id, &["succeeded"], Duration::from_secs(30))
        .await;
    let got = ok(&m.call("get_job", json!({"job_id": id})).await);
    assert_eq!(got, s.get(&format!("/jobs/{id}")).await.1);
    assert_eq!(got["job"]["status"], "succeeded");

    // run_task with wait and a progress token: progress notifications, then the finished job.
    let msgs = m
        .request_all(
            "tools/call",
            json!({"name": "run_task",
                   "arguments": {"task": "wait for me [fake:sleep=1]", "wait": true},
                   "_meta": {"progressToken": "tok-1"}}),
        )
        .await;
    let (last, notes) = msgs.split_last().expect("messages");
    let done = ok(&last["result"]);
    assert_eq!(done["job"]["status"], "succeeded", "{done}");
    assert_eq!(done["job"]["mode"], "sync");
    assert_eq!(done["job"]["num_turns"], 2);
    let progress: Vec<&Value> = notes
        .iter()
        .filter(|n| n["method"] == "notifications/progress")
        .collect();
    assert!(progress.len() >= 3, "{notes:?}");
    let mut prev = 0.0;
    for p in &progress {
        assert_eq!(p["params"]["progressToken"], "tok-1");
        let v = p["params"]["progress"].as_f64().expect("progress");
        assert!(v > prev, "{progress:?}");
        prev = v;
    }
    let said: Vec<&str> = progress
        .iter()
        .filter_map(|p| p["params"]["message"].as_str())
        .collect();
    assert!(said.iter().any(|m| m.contains("running")), "{said:?}");
    assert!(said.iter().any(|m| m.contains("tool Bash")), "{said:?}");
    // The result's turns and cost (the final status usually follows, but may race the answer).
    assert!(
        said.iter()
            .any(|m| m.contains("2 turns") && m.contains("$0.0123")),
        "{said:?}"
    );

    // list_jobs: REST's list shape, newest first, paging with the cursor, status filter.
    let page = ok(&m.call("list_jobs", json!({"limit": 1})).await);
    assert_eq!(page["count"], 1);
    assert_eq!(page["jobs"][0]["id"], done["job"]["id"]);
    let cursor = page["cursor"].as_str().expect("a cursor").to_string();
    let page2 = ok(&m
        .call("list_jobs", json!({"limit": 5, "cursor": cursor}))
        .await);
    assert_eq!(page2["count"], 1);
    assert_eq!(page2["jobs"][0]["id"], json!(id));
    let all = ok(&m.call("list_jobs", json!({})).await);
    assert_eq!(all, s.get("/jobs").await.1);
    let none = ok(&m.call("list_jobs", json!({"status": "failed"})).await);
    assert_eq!(none["count"], 0);
    let seed_only = ok(&m.call("list_jobs", json!({"status": "rejected"})).await);
    assert_eq!(seed_only["count"], 0);

    // get_stats: REST's GET /stats body, over the two jobs that ran.
    let stats = ok(&m.call("get_stats", json!({})).await);
    assert_eq!(stats, s.get("/stats").await.1);
    assert_eq!(stats["total"]["succeeded"], 2, "{stats}");
    assert_eq!(stats["total"]["cost_usd"], 0.0246, "{stats}");
    let recent = ok(&m.call("get_stats", json!({"since": "1h"})).await);
    assert_eq!(recent["total"], stats["total"]);
    let future = ok(&m.call("get_stats", json!({"since": "2999-01-01"})).await);
    assert_eq!(future["total"]["jobs"], 0);

    // cancel_job: a long job ends cancelled.
    let long = ok(&m
        .call("run_task", json!({"task": "long [fake:sleep=30]"}))
        .await);
    let long_id = long["job"]["id"].as_str().expect("id").to_string();
    s.wait_status(&long_id, &["running"], Duration::from_secs(30))
        .await;
    let c = ok(&m.call("cancel_job", json!({"job_id": long_id})).await);
    assert_eq!(c["job"]["id"], json!(long_id));
    let j = s
        .wait_status(&long_id, &["cancelled"], Duration::from_secs(30))
        .await;
    assert_eq!(j["error"], "cancelled by user");

    // Bad input: tool errors with REST's messages, never JSON-RPC errors.
    let cases: Vec<(&str, Value, &str)> = vec![
        ("run_task", json!({"task": "  "}), "task is required"),
        (
            "run_task",
            json!({}),
            "invalid arguments: missing field `task`",
        ),
        (
            "run_task",
            json!({"task": "t", "repo_url": "not a url"}),
            "repo",
        ),
        (
            "run_task",
            json!({"task": "t", "profile": "no-such-profile"}),
            "no-such-profile",
        ),
        (
            "run_task",
            json!({"task": "t", "wait": "yes"}),
            "invalid arguments",
        ),
        ("get_job", json!({"job_id": "nope"}), "is not a job id"),
        (
            "get_job",
            json!({"job_id": "01900000-0000-7000-8000-000000000000"}),
            "Job not found: 01900000-0000-7000-8000-000000000000",
        ),
        (
            "cancel_job",
            json!({"job_id": "01900000-0000-7000-8000-000000000000"}),
            "Job not found",
        ),
        ("get_job", json!({}), "missing field `job_id`"),
        ("list_jobs", json!({"status": "bogus"}), "unknown status"),
        ("list_jobs", json!({"limit": 0}), "limit must be at least 1"),
        ("list_jobs", json!({"limit": "x"}), "invalid arguments"),
        ("list_jobs", json!({"cursor": "x"}), "is not a job id"),
        (
            "get_stats",
            json!({"since": "soon"}),
            "since \"soon\" is not a time",
        ),
        ("get_stats", json!({"since": 7}), "invalid arguments"),
    ];
    for (tool, args, want) in cases {
        let msg = err(&m.call(tool, args.clone()).await);
        assert!(msg.contains(want), "{tool} {args}: {msg}");
    }
    // An unknown tool is the one protocol error.
    let msgs = m
        .request_all("tools/call", json!({"name": "nope", "arguments": {}}))
        .await;
    assert!(msgs[0]["error"]["code"].is_i64(), "{msgs:?}");

    s.shutdown().await;
}

/// A client that cancels its `run_task` call (or goes away) leaves the job running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_wait_does_not_cancel_the_job() {
    let s = TestServer::start(Opts::default()).await;
    let mut m = Session::new(&s, None);
    m.initialize().await;
    let body = json!({"jsonrpc": "2.0", "id": 77, "method": "tools/call",
                      "params": {"name": "run_task",
                                 "arguments": {"task": "keep going [fake:sleep=2]", "wait": true}}});
    let call = tokio::spawn(m.post(&body).send());
    // The job exists and runs; then the client cancels the call and drops the connection.
    let job = loop {
        let (_, v) = s.get("/jobs").await;
        if let Some(j) = v["jobs"].as_array().and_then(|a| a.first()) {
            break j.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let id = job["id"].as_str().expect("id").to_string();
    s.wait_status(&id, &["running"], Duration::from_secs(30))
        .await;
    m.notify(
        "notifications/cancelled",
        json!({"requestId": 77, "reason": "user pressed Esc"}),
    )
    .await;
    call.abort();
    let done = s
        .wait_status(
            &id,
            &["succeeded", "failed", "cancelled"],
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    // The session still works.
    let got = ok(&m.call("get_job", json!({"job_id": id})).await);
    assert_eq!(got["job"]["status"], "succeeded");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_needs_the_api_key() {
    let s = TestServer::start(Opts {
        keys: vec!["sekret".into()],
        ..Default::default()
    })
    .await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                      "params": {"protocolVersion": PROTOCOL, "capabilities": {},
                                 "clientInfo": {"name": "t", "version": "1"}}});
    // No key, a wrong key: the REST middleware's 401, for POST and GET alike.
    for key in [None, Some("wrong")] {
        let resp = Session::new(&s, key)
            .post(&init)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status().as_u16(), 401);
        assert_eq!(
            resp.json::<Value>().await.expect("json"),
            json!({"error": "Invalid or missing API key"})
        );
    }
    let resp = s
        .client
        .get(s.url("/mcp"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 401);
    // X-API-Key works; so does a bearer token.
    let mut m = Session::new(&s, Some("sekret"));
    assert_eq!(m.initialize().await["serverInfo"]["name"], "agenticore");
    assert_eq!(
        ok(&m.call("list_profiles", json!({})).await)["count"],
        json!(2)
    );
    let resp = s
        .client
        .post(s.url("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("authorization", "Bearer sekret")
        .json(&init)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 200);
    s.shutdown().await;
}
