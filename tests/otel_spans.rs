//! The job lifecycle as OTLP spans (`AGENTICORE_OTEL_TRACES_ENDPOINT`), end to end: the real
//! binary runs a job with the fake claude and a tiny collector in the test (a TcpListener that
//! speaks just enough HTTP/1.1) receives `POST /v1/traces`, decoded with opentelemetry-proto.
//! Also: nothing is sent when the endpoint is unset, a collector that is down or hangs costs a
//! job nothing, and an endpoint that is not http(s) is refused.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::*;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;

/// One request the collector received.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq)]
enum Behaviour {
    /// Answers 200 with an empty ExportTraceServiceResponse.
    Answer,
    /// Answers 503 to everything.
    Unavailable,
    /// Accepts connections, reads nothing, never answers.
    Hang,
}

/// A collector on 127.0.0.1, until the test ends.
struct Collector {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    connections: Arc<Mutex<usize>>,
}

impl Collector {
    fn start(behaviour: Behaviour) -> Collector {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Mutex::new(0));
        let (rx, cx) = (received.clone(), connections.clone());
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                *cx.lock().expect("lock") += 1;
                match behaviour {
                    Behaviour::Hang => held.push(stream),
                    Behaviour::Answer | Behaviour::Unavailable => {
                        let rx = rx.clone();
                        let status = if behaviour == Behaviour::Answer {
                            "200 OK"
                        } else {
                            "503 Service Unavailable"
                        };
                        std::thread::spawn(move || serve(stream, &rx, status));
                    }
                }
            }
        });
        Collector {
            port,
            received,
            connections,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    fn connections(&self) -> usize {
        *self.connections.lock().expect("lock")
    }

    /// Every span received so far, with its resource's attributes.
    fn spans(&self) -> Vec<(Vec<KeyValue>, Span)> {
        let mut out = Vec::new();
        for r in self.received() {
            let req = ExportTraceServiceRequest::decode(r.body.as_slice()).expect("protobuf body");
            for rs in req.resource_spans {
                let resource = rs.resource.map(|r| r.attributes).unwrap_or_default();
                for ss in rs.scope_spans {
                    for span in ss.spans {
                        out.push((resource.clone(), span));
                    }
                }
            }
        }
        out
    }

    /// Wait until a `job` span with `job.id == id` arrived.
    fn wait_job_span(&self, id: &str, within: Duration) -> bool {
        let t0 = Instant::now();
        while t0.elapsed() < within {
            if self
                .spans()
                .iter()
                .any(|(_, s)| s.name == "job" && attr(s, "job.id") == Some(text(id)))
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

/// Requests of one connection, one after the other (keep-alive), until it closes.
fn serve(stream: TcpStream, received: &Mutex<Vec<Received>>, status: &str) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).map_or(true, |n| n == 0) {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).map_or(true, |n| n == 0) {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        received.lock().expect("lock").push(Received {
            method,
            path,
            headers,
            body,
        });
        let answer = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n"
        );
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

fn text(s: &str) -> any_value::Value {
    any_value::Value::StringValue(s.to_string())
}

fn value_of(attrs: &[KeyValue], key: &str) -> Option<any_value::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.clone())
        .and_then(|AnyValue { value }| value)
}

fn attr(span: &Span, key: &str) -> Option<any_value::Value> {
    value_of(&span.attributes, key)
}

/// The phases a job run may have (telemetry::spans); nothing else may be exported.
const NAMES: &[&str] = &[
    "job",
    "workdir",
    "repo.sync",
    "worktree.add",
    "claude",
    "auto_pr",
    "cleanup",
    "record",
];

#[test]
fn a_job_run_is_a_trace_of_its_phases() {
    let collector = Collector::start(Behaviour::Answer);
    let sb = Sandbox::new().env("AGENTICORE_OTEL_TRACES_ENDPOINT", &collector.endpoint());
    let url = bare_remote(sb.path());
    let (code, v) = sb.json(&[
        "submit",
        "commit [fake:commit=1]",
        "--repo",
        &url,
        "--wait",
        "--json",
    ]);
    assert_eq!(code, 0, "{v}");
    let id = v["job"]["id"].as_str().expect("id").to_string();
    // The spans were sent before the process exited.
    let received = collector.received();
    assert!(!received.is_empty(), "no request reached the collector");
    for r in &received {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/v1/traces");
        assert_eq!(
            r.headers.get("content-type").map(String::as_str),
            Some("application/x-protobuf")
        );
    }
    let spans = collector.spans();
    let names: Vec<&str> = spans.iter().map(|(_, s)| s.name.as_str()).collect();
    for (_, s) in &spans {
        assert!(NAMES.contains(&s.name.as_str()), "unexpected span {s:?}");
        // Log lines are not exported as span events.
        assert!(s.events.is_empty(), "{s:?}");
    }
    let one = |name: &str| -> &Span {
        let found: Vec<&Span> = spans
            .iter()
            .map(|(_, s)| s)
            .filter(|s| s.name == name)
            .collect();
        assert_eq!(found.len(), 1, "{name} in {names:?}");
        found[0]
    };

    let job = one("job");
    assert!(job.parent_span_id.is_empty(), "the job span is a root");
    assert_eq!(attr(job, "job.id"), Some(text(&id)));
    assert_eq!(attr(job, "job.profile"), Some(text("code")));
    assert_eq!(attr(job, "job.repo"), Some(text(&url)));
    assert_eq!(attr(job, "job.status"), Some(text("succeeded")));
    assert_eq!(
        attr(job, "job.exit_code"),
        Some(any_value::Value::IntValue(0))
    );
    assert_eq!(
        attr(job, "job.cost_usd"),
        Some(any_value::Value::DoubleValue(0.0123))
    );
    assert_eq!(
        attr(job, "job.num_turns"),
        Some(any_value::Value::IntValue(2))
    );
    assert!(
        matches!(attr(job, "job.queue_wait_ms"), Some(any_value::Value::IntValue(ms)) if ms >= 0),
        "{job:?}"
    );
    assert!(job.end_time_unix_nano >= job.start_time_unix_nano);

    // Every span is of the job's trace, with the right parent.
    let workdir = one("workdir");
    for (name, parent) in [
        ("workdir", job),
        ("repo.sync", workdir),
        ("worktree.add", workdir),
        ("claude", job),
        ("cleanup", job),
        ("record", job),
    ] {
        let s = one(name);
        assert_eq!(s.trace_id, job.trace_id, "{name} is of another trace");
        assert_eq!(s.parent_span_id, parent.span_id, "parent of {name}");
        assert!(
            s.start_time_unix_nano >= job.start_time_unix_nano
                && s.end_time_unix_nano <= job.end_time_unix_nano,
            "{name} is not within the job's time"
        );
    }
    if names.contains(&"auto_pr") {
        assert_eq!(one("auto_pr").parent_span_id, job.span_id);
    }
    assert_eq!(attr(workdir, "workdir.kind"), Some(text("worktree")));
    assert_eq!(
        attr(one("repo.sync"), "repo.cloned"),
        Some(any_value::Value::BoolValue(true))
    );
    let claude = one("claude");
    assert!(
        matches!(attr(claude, "claude.pid"), Some(any_value::Value::IntValue(p)) if p > 0),
        "{claude:?}"
    );
    assert_eq!(
        attr(claude, "claude.exit_code"),
        Some(any_value::Value::IntValue(0))
    );

    // The resource says who sent them.
    let (resource, _) = &spans[0];
    assert_eq!(value_of(resource, "service.name"), Some(text("agenticore")));
    assert!(
        matches!(value_of(resource, "service.instance.id"),
            Some(any_value::Value::StringValue(n)) if n.contains(':')),
        "{resource:?}"
    );
    assert!(value_of(resource, "service.version").is_some());
}

#[test]
fn a_failed_job_has_an_error_status() {
    let collector = Collector::start(Behaviour::Answer);
    // An endpoint that names /v1/traces is used as it is; its credentials become basic auth.
    let sb = Sandbox::new().env(
        "AGENTICORE_OTEL_TRACES_ENDPOINT",
        &format!("http://spans:pw@127.0.0.1:{}/v1/traces", collector.port),
    );
    let (code, v) = sb.json(&[
        "submit",
        "x [fake:exit=1;no_result=1;stderr=boom happened]",
        "--wait",
        "--json",
    ]);
    assert_eq!(code, 1, "{v}");
    let spans = collector.spans();
    let job = spans
        .iter()
        .map(|(_, s)| s)
        .find(|s| s.name == "job")
        .expect("job span");
    assert_eq!(attr(job, "job.status"), Some(text("failed")));
    let status = job.status.clone().expect("status");
    // STATUS_CODE_ERROR
    assert_eq!(status.code, 2, "{status:?}");
    assert!(status.message.contains("boom happened"), "{status:?}");
    for r in collector.received() {
        assert_eq!(r.path, "/v1/traces");
        assert_eq!(
            r.headers.get("authorization").map(String::as_str),
            Some("Basic c3BhbnM6cHc=")
        );
    }
}

#[test]
fn without_the_endpoint_nothing_is_sent() {
    // Claude's own OTLP endpoint is not where agenticore's spans go.
    let collector = Collector::start(Behaviour::Answer);
    let sb = Sandbox::new().env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.endpoint());
    let out = sb.run(&["submit", "hi [fake:sleep=0]", "--wait"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(collector.connections(), 0);
    assert!(collector.received().is_empty());
}

#[test]
fn a_collector_that_is_down_refuses_or_hangs_costs_the_job_nothing() {
    // Down: a port nothing listens on (any more). The URL's credentials are never shown.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let sb = Sandbox::new().env(
        "AGENTICORE_OTEL_TRACES_ENDPOINT",
        &format!("http://spans:sekrit@127.0.0.1:{port}"),
    );
    let t0 = Instant::now();
    let out = sb.run(&["submit", "hi [fake:sleep=0]", "--wait", "--json"]);
    let took = t0.elapsed();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["job"]["status"], "succeeded");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert!(!err.contains("sekrit"), "{err}");
    assert_eq!(
        err.matches("job spans: cannot export").count(),
        1,
        "one warning: {err}"
    );
    assert!(err.contains("****@127.0.0.1"), "{err}");

    // Refuses: answers 503.
    let collector = Collector::start(Behaviour::Unavailable);
    let sb = Sandbox::new().env("AGENTICORE_OTEL_TRACES_ENDPOINT", &collector.endpoint());
    let out = sb.run(&["submit", "hi [fake:sleep=0]", "--wait"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!collector.received().is_empty());
    assert!(err.contains("the collector answered 503"), "{err}");

    // Hangs: accepts connections and never answers; the process still exits soon after the job.
    let collector = Collector::start(Behaviour::Hang);
    let sb = Sandbox::new().env("AGENTICORE_OTEL_TRACES_ENDPOINT", &collector.endpoint());
    let t0 = Instant::now();
    let out = sb.run(&["submit", "hi [fake:sleep=0]", "--wait", "--json"]);
    let took = t0.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["job"]["status"], "succeeded");
    assert!(collector.connections() >= 1, "the exporter never tried");
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

#[test]
fn serve_exports_while_it_runs() {
    let collector = Collector::start(Behaviour::Answer);
    let sb = Sandbox::new().env("AGENTICORE_OTEL_TRACES_ENDPOINT", &collector.endpoint());
    let daemon = Daemon::start(&sb, &["--port", "0"]);
    let id = daemon.post("hi [fake:sleep=0]");
    sb.wait_status(&id, &["succeeded"], Duration::from_secs(30));
    // Sent by the batch processor while the daemon keeps running.
    assert!(
        collector.wait_job_span(&id, Duration::from_secs(20)),
        "no job span for {id}: {:?}",
        collector.spans()
    );
    drop(daemon);
}

#[test]
fn serve_with_a_hung_collector_runs_jobs_and_stops_in_time() {
    let collector = Collector::start(Behaviour::Hang);
    let sb = Sandbox::new().env("AGENTICORE_OTEL_TRACES_ENDPOINT", &collector.endpoint());
    let mut daemon = Daemon::start(&sb, &["--port", "0"]);
    // One after the other, across export rounds that hang until their timeout.
    for i in 0..3 {
        let id = daemon.post(&format!("job {i} [fake:sleep=1]"));
        let job = sb.wait_status(&id, &["succeeded", "failed"], Duration::from_secs(30));
        assert_eq!(job["status"], "succeeded", "{job}");
    }
    daemon.signal(nix::sys::signal::Signal::SIGTERM);
    let code = daemon.wait_exit(Duration::from_secs(30));
    assert_eq!(code, Some(0), "serve did not stop in time");
    assert!(collector.connections() >= 1, "the exporter never tried");
}

#[test]
fn the_background_worker_exports_the_spans_of_its_jobs() {
    let collector = Collector::start(Behaviour::Answer);
    let sb = Sandbox::new().env("AGENTICORE_OTEL_TRACES_ENDPOINT", &collector.endpoint());
    let out = sb.run(&["submit", "hi [fake:sleep=0]"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    sb.wait_status(&id, &["succeeded"], Duration::from_secs(30));
    // Sent at the latest when the idle worker exits (a few seconds after the job).
    assert!(
        collector.wait_job_span(&id, Duration::from_secs(30)),
        "no job span for {id}: {:?}",
        collector.spans()
    );
}

#[test]
fn an_endpoint_that_is_not_http_is_refused() {
    for bad in ["grpc://collector:4317", "collector:4318"] {
        let sb = Sandbox::new().env("AGENTICORE_OTEL_TRACES_ENDPOINT", bad);
        for args in [&["config"][..], &["submit", "hi", "--wait"][..]] {
            let out = sb.run(args);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(
                err.contains("otel.traces_endpoint")
                    && err.contains("AGENTICORE_OTEL_TRACES_ENDPOINT")
                    && err.contains("http:// or https://"),
                "{args:?}: {err}"
            );
        }
    }
}
