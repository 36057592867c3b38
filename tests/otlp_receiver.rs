//! The OTLP/HTTP receiver of `agenticore serve` (`/v1/metrics`, `/v1/logs`, `/v1/traces`),
//! against a real daemon and a real PostgreSQL (a schema per test): JSON and protobuf
//! (gzip too) land in `agenticore_otel_*` linked to their job; a job's own Claude (the fake)
//! exports with its ingest token and its rows carry its cost; the token opens nothing else;
//! without `POSTGRES_URL` the answer says nothing is kept; bad bodies get OTLP errors.

mod common;

use std::io::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::postgres::Schema;
use common::*;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;

struct Answer {
    status: u16,
    body: Vec<u8>,
    content_type: String,
}

/// `POST {url}{path}` with curl, the body from a file (binary-safe).
fn post(url: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("body");
    std::fs::write(&file, body).expect("body");
    let out_file = dir.path().join("out");
    let mut c = Command::new("curl");
    c.args(["-s", "-X", "POST", "--data-binary"])
        .arg(format!("@{}", file.display()))
        .arg("-o")
        .arg(&out_file)
        .args(["-w", "%{http_code} %{content_type}"]);
    for (k, v) in headers {
        c.arg("-H").arg(format!("{k}: {v}"));
    }
    let out = c.arg(format!("{url}{path}")).output().expect("curl");
    let w = String::from_utf8_lossy(&out.stdout).to_string();
    let (code, ct) = w.split_once(' ').unwrap_or((&w, ""));
    Answer {
        status: code
            .parse()
            .unwrap_or_else(|_| panic!("curl: {w} {:?}", out)),
        body: std::fs::read(&out_file).unwrap_or_default(),
        content_type: ct.to_string(),
    }
}

fn json(a: &Answer) -> serde_json::Value {
    serde_json::from_slice(&a.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&a.body)))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

fn text(key: &str, v: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}

/// Claude's cost metric as its JSON exporter writes it (string int64s, delta temporality).
fn cost_json(job: &str, session: &str, cost: f64) -> String {
    let t = now_nanos();
    serde_json::json!({"resourceMetrics": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "claude-code"}},
            {"key": "agenticore.job_id", "value": {"stringValue": job}}]},
        "scopeMetrics": [{"scope": {"name": "com.anthropic.claude_code"}, "metrics": [
            {"name": "claude_code.cost.usage", "unit": "USD", "sum": {
                "aggregationTemporality": 1, "isMonotonic": true, "dataPoints": [
                    {"attributes": [{"key": "session.id", "value": {"stringValue": session}},
                                    {"key": "model", "value": {"stringValue": "m"}}],
                     "startTimeUnixNano": (t - 1_000_000).to_string(),
                     "timeUnixNano": t.to_string(), "asDouble": cost}]}},
            {"name": "claude_code.token.usage", "unit": "tokens", "sum": {
                "aggregationTemporality": 1, "dataPoints": [
                    {"attributes": [{"key": "session.id", "value": {"stringValue": session}},
                                    {"key": "type", "value": {"stringValue": "input"}}],
                     "timeUnixNano": t.to_string(), "asInt": "1200"}]}}]}]}]})
    .to_string()
}

fn logs_protobuf(job: &str) -> Vec<u8> {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![
                    text("service.name", "claude-code"),
                    text("agenticore.job_id", job),
                ],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    time_unix_nano: now_nanos(),
                    severity_number: 9,
                    body: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(
                            "claude_code.tool_result".into(),
                        )),
                    }),
                    attributes: vec![
                        text("event.name", "tool_result"),
                        text("tool_name", "Bash"),
                        text("session.id", "s-proto"),
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn traces_protobuf(job: &str) -> Vec<u8> {
    let t = now_nanos();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![text("agenticore.job_id", job)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![7; 16],
                    span_id: vec![9; 8],
                    parent_span_id: vec![3; 8],
                    name: "claude_code.llm_request".into(),
                    kind: 3,
                    start_time_unix_nano: t - 40_000_000,
                    end_time_unix_nano: t,
                    status: Some(Status {
                        code: 1,
                        message: String::new(),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// Poll `sql` (one row, one bigint) until it is `want`.
fn wait_count(pg: &Schema, sql: &str, want: i64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = pg
            .rows(sql)
            .ok()
            .and_then(|r| r.first().map(|r| r.get::<_, i64>(0)))
            .unwrap_or(-1);
        if n == want {
            return;
        }
        assert!(Instant::now() < deadline, "{sql}: {n}, want {want}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

const PROTOBUF: (&str, &str) = ("Content-Type", "application/x-protobuf");
const JSON: (&str, &str) = ("Content-Type", "application/json");

#[test]
fn json_protobuf_and_gzip_exports_land_in_postgres_linked_to_their_job() {
    let pg = Schema::new("otlp");
    let sb = Sandbox::new().env("POSTGRES_URL", &pg.url);
    let d = Daemon::start(&sb, &["--port", "0"]);
    let job = uuid::Uuid::new_v4().to_string();

    let a = post(
        &d.url,
        "/v1/metrics",
        &[JSON],
        cost_json(&job, "s-json", 0.25).as_bytes(),
    );
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert!(
        a.content_type.starts_with("application/json"),
        "{}",
        a.content_type
    );
    assert_eq!(
        json(&a),
        serde_json::json!({}),
        "a full success says nothing more"
    );

    let a = post(
        &d.url,
        "/v1/logs",
        &[PROTOBUF, ("Content-Encoding", "gzip")],
        &gzip(&logs_protobuf(&job)),
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.content_type, "application/x-protobuf");
    let r = ExportLogsServiceResponse::decode(a.body.as_slice()).expect("protobuf answer");
    assert_eq!(r.partial_success, None);

    let a = post(&d.url, "/v1/traces", &[PROTOBUF], &traces_protobuf(&job));
    assert_eq!(a.status, 200);

    let by_job = |table: &str| format!("SELECT count(*) FROM {table} WHERE job_id = '{job}'");
    wait_count(&pg, &by_job("agenticore_otel_metrics"), 2);
    wait_count(&pg, &by_job("agenticore_otel_events"), 1);
    wait_count(&pg, &by_job("agenticore_otel_spans"), 1);

    let cost = pg
        .rows(&format!(
            "SELECT sum(value), min(session_id), min(service_name), min(temporality), \
             min(attributes->>'model'), min(resource->>'service.name') \
             FROM agenticore_otel_metrics WHERE job_id = '{job}' AND name = 'claude_code.cost.usage'"
        ))
        .expect("select");
    let r = &cost[0];
    assert_eq!(r.get::<_, Option<f64>>(0), Some(0.25));
    assert_eq!(r.get::<_, Option<String>>(1).as_deref(), Some("s-json"));
    assert_eq!(
        r.get::<_, Option<String>>(2).as_deref(),
        Some("claude-code")
    );
    assert_eq!(r.get::<_, Option<String>>(3).as_deref(), Some("delta"));
    assert_eq!(r.get::<_, Option<String>>(4).as_deref(), Some("m"));
    assert_eq!(
        r.get::<_, Option<String>>(5).as_deref(),
        Some("claude-code")
    );
    let tokens = pg
        .rows(&format!(
            "SELECT value FROM agenticore_otel_metrics WHERE job_id = '{job}' \
             AND name = 'claude_code.token.usage' AND attributes->>'type' = 'input'"
        ))
        .expect("select");
    assert_eq!(tokens[0].get::<_, Option<f64>>(0), Some(1200.0));

    let ev = pg
        .rows(&format!(
            "SELECT name, severity, attributes->>'tool_name', session_id, event_time IS NOT NULL \
             FROM agenticore_otel_events WHERE job_id = '{job}'"
        ))
        .expect("select");
    assert_eq!(
        ev[0].get::<_, Option<String>>(0).as_deref(),
        Some("tool_result")
    );
    assert_eq!(ev[0].get::<_, Option<String>>(1).as_deref(), Some("INFO"));
    assert_eq!(ev[0].get::<_, Option<String>>(2).as_deref(), Some("Bash"));
    assert_eq!(
        ev[0].get::<_, Option<String>>(3).as_deref(),
        Some("s-proto")
    );
    assert!(ev[0].get::<_, bool>(4));

    let sp = pg
        .rows(&format!(
            "SELECT trace_id, span_id, parent_span_id, kind, status_code, duration_ms \
             FROM agenticore_otel_spans WHERE job_id = '{job}'"
        ))
        .expect("select");
    assert_eq!(sp[0].get::<_, String>(0), "07".repeat(16));
    assert_eq!(sp[0].get::<_, String>(1), "09".repeat(8));
    assert_eq!(sp[0].get::<_, Option<String>>(2), Some("03".repeat(8)));
    assert_eq!(sp[0].get::<_, String>(3), "client");
    assert_eq!(sp[0].get::<_, String>(4), "ok");
    assert_eq!(sp[0].get::<_, Option<f64>>(5), Some(40.0));

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = d.metrics(None);
        let written = m.get("agenticore_postgres_telemetry_rows_written_total");
        if written == Some(&4.0) {
            assert_eq!(
                m.get(r#"agenticore_otlp_items_total{signal="metrics",outcome="queued"}"#),
                Some(&2.0),
                "{m:?}"
            );
            assert_eq!(
                m.get(r#"agenticore_otlp_requests_total{signal="logs",answer="accepted"}"#),
                Some(&1.0)
            );
            assert_eq!(
                m.get("agenticore_postgres_telemetry_rows_dropped_total"),
                Some(&0.0)
            );
            assert_eq!(
                m.get("agenticore_postgres_telemetry_pending_rows"),
                Some(&0.0)
            );
            break;
        }
        assert!(Instant::now() < deadline, "{m:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[test]
fn a_jobs_claude_exports_to_agenticore_with_its_token_and_its_rows_carry_its_cost() {
    let pg = Schema::new("otlp_job");
    let port = free_port();
    let key = "test-key-1";
    let endpoint = format!("http://127.0.0.1:{port}");
    let sb = Sandbox::new()
        .env("POSTGRES_URL", &pg.url)
        .env("AGENTICORE_API_KEYS", key)
        .env("AGENTICORE_OTEL_ENABLED", "true")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        // The fake exports only over http/json (gRPC would become http/protobuf for
        // agenticore's own receiver, which the fake cannot write).
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        // The CLI below talks to this daemon.
        .env("AGENTICORE_URL", &endpoint)
        .env("AGENTICORE_API_KEY", key);
    let d = Daemon::start(&sb, &["--port", &port.to_string()]);
    let id = d.post_with_key("[fake:otlp=1]", Some(key));
    let job = sb.wait_status(&id, &["succeeded", "failed"], Duration::from_secs(30));
    let log = stdout(&sb.run(&["logs", &id]));
    assert_eq!(job["status"], "succeeded", "{job}\n{log}");
    assert!(log.contains("otlp /v1/metrics 200"), "{log}");
    assert!(log.contains("otlp /v1/logs 200"), "{log}");

    wait_count(
        &pg,
        &format!("SELECT count(*) FROM agenticore_otel_events WHERE job_id = '{id}'"),
        1,
    );
    wait_count(
        &pg,
        &format!("SELECT count(*) FROM agenticore_jobs WHERE id = '{id}'"),
        1,
    );
    let rows = pg
        .rows(&format!(
            "SELECT sum(m.value), min(j.cost_usd), min(m.session_id) = min(j.session_id), \
                    min(m.resource->>'agenticore.profile') \
             FROM agenticore_otel_metrics m JOIN agenticore_jobs j ON j.id = m.job_id \
             WHERE m.job_id = '{id}' AND m.name = 'claude_code.cost.usage'"
        ))
        .expect("select");
    let r = &rows[0];
    let (sum, cost) = (r.get::<_, Option<f64>>(0), r.get::<_, Option<f64>>(1));
    assert!(
        sum.is_some() && sum == cost,
        "telemetry {sum:?} vs job {cost:?}"
    );
    assert_eq!(cost, job["cost_usd"].as_f64(), "{job}");
    assert_eq!(r.get::<_, Option<bool>>(2), Some(true), "same session");
    assert_eq!(r.get::<_, Option<String>>(3).as_deref(), Some("code"));
    // The token never lands in the job record, its log or the rows.
    let token_seen = format!("{job}{log}");
    assert!(
        !token_seen.contains("x-agenticore-job-token"),
        "{token_seen}"
    );
}

#[test]
fn a_job_token_binds_rows_to_its_job_and_opens_nothing_else() {
    let pg = Schema::new("otlp_token");
    let key = "k-token-test";
    let sb = Sandbox::new()
        .env("POSTGRES_URL", &pg.url)
        .env("AGENTICORE_API_KEYS", &format!("other-key,{key}"));
    let d = Daemon::start(&sb, &["--port", "0"]);
    let mine = uuid::Uuid::new_v4();
    let claimed = uuid::Uuid::new_v4().to_string();
    // Signed as the server signs it: with its first key.
    let digest = agenticore::telemetry::job_token::key_digest(b"other-key");
    let token = agenticore::telemetry::job_token::sign(&digest, mine);
    let hdr = agenticore::telemetry::job_token::HEADER;
    let body = cost_json(&claimed, "s", 1.5);

    let none = post(&d.url, "/v1/metrics", &[JSON], body.as_bytes());
    assert_eq!(none.status, 401);
    assert_eq!(json(&none)["error"], "Invalid or missing API key");
    let forged = token.replacen(&mine.to_string(), &claimed, 1);
    assert_eq!(
        post(
            &d.url,
            "/v1/metrics",
            &[JSON, (hdr, &forged)],
            body.as_bytes()
        )
        .status,
        401
    );
    for route in ["/jobs", "/metrics"] {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
            .arg(format!("{hdr}: {token}"))
            .arg(format!("{}{route}", d.url))
            .output()
            .expect("curl");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "401", "{route}");
    }

    let ok = post(
        &d.url,
        "/v1/metrics",
        &[JSON, (hdr, &token)],
        body.as_bytes(),
    );
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    wait_count(
        &pg,
        &format!("SELECT count(*) FROM agenticore_otel_metrics WHERE job_id = '{mine}'"),
        2,
    );
    // With an API key (a collector forwarding), the payload's own job id stands.
    let keyed = post(
        &d.url,
        "/v1/metrics",
        &[JSON, ("X-API-Key", key)],
        body.as_bytes(),
    );
    assert_eq!(keyed.status, 200);
    wait_count(
        &pg,
        &format!("SELECT count(*) FROM agenticore_otel_metrics WHERE job_id = '{claimed}'"),
        2,
    );
}

#[test]
fn without_postgres_the_answer_says_nothing_is_kept() {
    let sb = Sandbox::new();
    let log = sb.path().join("serve.log");
    let d = Daemon::start_logging(&sb, &["--port", "0"], &log);
    let job = uuid::Uuid::new_v4().to_string();
    let a = post(
        &d.url,
        "/v1/metrics",
        &[JSON],
        cost_json(&job, "s", 1.0).as_bytes(),
    );
    assert_eq!(a.status, 200);
    let v = json(&a);
    assert_eq!(v["partialSuccess"]["rejectedDataPoints"], 2, "{v}");
    let msg = v["partialSuccess"]["errorMessage"]
        .as_str()
        .unwrap_or_default();
    assert!(msg.contains("POSTGRES_URL"), "{v}");
    let b = post(&d.url, "/v1/logs", &[PROTOBUF], &logs_protobuf(&job));
    let r = ExportLogsServiceResponse::decode(b.body.as_slice()).expect("protobuf");
    let p = r.partial_success.expect("partial success");
    assert_eq!(p.rejected_log_records, 1);
    let m = d.metrics(None);
    assert_eq!(
        m.get(r#"agenticore_otlp_items_total{signal="metrics",outcome="rejected"}"#),
        Some(&2.0),
        "{m:?}"
    );
    assert_eq!(
        m.get(r#"agenticore_otlp_requests_total{signal="logs",answer="partial"}"#),
        Some(&1.0)
    );
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(
        text.matches("POSTGRES_URL is not set").count(),
        1,
        "warned once: {text}"
    );
}

#[test]
fn bad_requests_get_otlp_errors_in_their_own_encoding() {
    let sb = Sandbox::new();
    let d = Daemon::start(&sb, &["--port", "0"]);

    let a = post(
        &d.url,
        "/v1/metrics",
        &[("Content-Type", "text/plain")],
        b"x",
    );
    assert_eq!(a.status, 415);
    assert!(
        json(&a)["message"]
            .as_str()
            .unwrap_or_default()
            .contains("application/x-protobuf")
    );

    let a = post(&d.url, "/v1/logs", &[JSON], b"{\"resourceLogs\": 7}");
    assert_eq!(a.status, 400);
    let v = json(&a);
    assert_eq!(v["code"], 3, "INVALID_ARGUMENT: {v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .contains("OTLP JSON"),
        "{v}"
    );

    let a = post(&d.url, "/v1/traces", &[PROTOBUF], &[0xff, 0xff, 0xff]);
    assert_eq!(a.status, 400);
    assert_eq!(a.content_type, "application/x-protobuf");
    let st = agenticore::telemetry::otlp::RpcStatus::decode(a.body.as_slice()).expect("status");
    assert_eq!(st.code, 3);

    let a = post(
        &d.url,
        "/v1/metrics",
        &[JSON, ("Content-Encoding", "br")],
        b"{}",
    );
    assert_eq!(a.status, 415);

    // 17 MiB of zeros compresses to a few KiB: it must stop at the limit, not fill memory.
    let bomb = gzip(&vec![0u8; 17 * 1024 * 1024]);
    let a = post(
        &d.url,
        "/v1/metrics",
        &[PROTOBUF, ("Content-Encoding", "gzip")],
        &bomb,
    );
    assert_eq!(a.status, 413);

    let a = post(&d.url, "/v1/metrics", &[JSON], b"");
    assert_eq!(a.status, 400, "an empty JSON body is not an export");
    let a = post(&d.url, "/v1/metrics", &[PROTOBUF], b"");
    assert_eq!(a.status, 200, "an empty protobuf body is an empty export");
    let r = ExportMetricsServiceResponse::decode(a.body.as_slice()).expect("answer");
    assert_eq!(r.partial_success.map(|p| p.rejected_data_points), Some(0));

    let m = d.metrics(None);
    assert_eq!(
        m.get(r#"agenticore_otlp_requests_total{signal="metrics",answer="malformed"}"#),
        Some(&4.0),
        "{m:?}"
    );
}

#[test]
fn agenticores_own_job_spans_can_go_to_its_own_receiver() {
    let pg = Schema::new("otlp_spans");
    let port = free_port();
    let key = "spans-key";
    let sb = Sandbox::new()
        .env("POSTGRES_URL", &pg.url)
        .env("AGENTICORE_API_KEYS", key)
        .env("AGENTICORE_PORT", &port.to_string())
        .env(
            "AGENTICORE_OTEL_TRACES_ENDPOINT",
            &format!("http://localhost:{port}"),
        );
    let d = Daemon::start(&sb, &[]);
    let id = d.post_with_key("spans", Some(key));
    // The root span names the job; its phases share its trace.
    wait_count(
        &pg,
        &format!(
            "SELECT count(*) FROM agenticore_otel_spans WHERE job_id = '{id}' AND name = 'job' \
             AND service_name = 'agenticore' AND attributes->>'job.status' = 'succeeded'"
        ),
        1,
    );
    let phases = pg
        .rows(&format!(
            "SELECT string_agg(s.name, ',' ORDER BY s.name) FROM agenticore_otel_spans s \
             WHERE s.trace_id = (SELECT trace_id FROM agenticore_otel_spans \
                                 WHERE job_id = '{id}' AND name = 'job') AND s.name <> 'job'"
        ))
        .expect("select");
    let names = phases[0].get::<_, Option<String>>(0).unwrap_or_default();
    assert!(
        names.contains("claude") && names.contains("workdir"),
        "{names}"
    );
}

/// What compose's collector sends, per `deploy/otel-collector.yml`: its `otlp_http` exporter's
/// headers (the `${env:...}` key resolved to one the daemon accepts), encoding and compression
/// (protobuf and gzip unless the file says otherwise), to `{endpoint}/v1/{signal}`. Rows land.
#[test]
fn the_collectors_exporter_as_configured_gets_rows_into_postgres() {
    let raw = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/otel-collector.yml"),
    )
    .expect("collector config");
    let cfg: serde_yaml::Value = serde_yaml::from_str(&raw).expect("yaml");
    let exporters = cfg["exporters"].as_mapping().expect("exporters");
    let (_, exporter) = exporters
        .iter()
        .find(|(k, _)| {
            let id = k.as_str().unwrap_or_default();
            id.starts_with("otlp_http") || id.starts_with("otlphttp")
        })
        .expect("an otlp_http exporter");
    let endpoint = exporter["endpoint"].as_str().expect("endpoint");
    let path = endpoint
        .split_once("://")
        .map_or("", |(_, r)| r.find('/').map_or("", |i| &r[i..]));
    let json = exporter["encoding"].as_str() == Some("json");
    let compression = exporter["compression"].as_str().unwrap_or("gzip");

    let pg = Schema::new("otlp_collector");
    let key = "collector-key";
    let sb = Sandbox::new()
        .env("POSTGRES_URL", &pg.url)
        .env("AGENTICORE_API_KEYS", key);
    let d = Daemon::start(&sb, &["--port", "0"]);
    let mut headers: Vec<(String, String)> = Vec::new();
    for (k, v) in exporter["headers"].as_mapping().into_iter().flatten() {
        let v = v.as_str().unwrap_or_default();
        // `${env:AGENTICORE_COLLECTOR_API_KEY}`: compose gives it one of agenticore's keys.
        let resolved = match v.find("${env:") {
            Some(i) => {
                let end = v[i..].find('}').map_or(v.len(), |e| i + e + 1);
                format!("{}{key}{}", &v[..i], &v[end..])
            }
            None => v.to_string(),
        };
        headers.push((k.as_str().unwrap_or_default().to_string(), resolved));
    }
    let job = uuid::Uuid::new_v4().to_string();
    let mut body = if json {
        cost_json(&job, "s-collector", 0.5).into_bytes()
    } else {
        use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
        let r: ExportMetricsServiceRequest =
            serde_json::from_str(&cost_json(&job, "s-collector", 0.5)).expect("request");
        r.encode_to_vec()
    };
    let ct = if json {
        "application/json"
    } else {
        "application/x-protobuf"
    };
    headers.push(("Content-Type".into(), ct.into()));
    if compression == "gzip" {
        body = gzip(&body);
        headers.push(("Content-Encoding".into(), "gzip".into()));
    }
    let hs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let a = post(&d.url, &format!("{path}/v1/metrics"), &hs, &body);
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    wait_count(
        &pg,
        &format!("SELECT count(*) FROM agenticore_otel_metrics WHERE job_id = '{job}'"),
        2,
    );
}
