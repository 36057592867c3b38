//! The PostgreSQL sink of finished jobs (`POSTGRES_URL`), against a real PostgreSQL
//! (`AGENTICORE_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`; each
//! test works in a schema of its own): a real daemon's jobs land in `agenticore_jobs` with the
//! values `GET /jobs/{id}` shows; the migrations are idempotent and race-free; an unreachable
//! PostgreSQL never slows a job down, and shows on /metrics and in the log.

mod common;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::daemon::Daemon;
use common::postgres::Schema;
use common::*;

fn time(v: &serde_json::Value) -> Option<DateTime<Utc>> {
    v.as_str().map(|s| {
        DateTime::parse_from_rfc3339(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .with_timezone(&Utc)
    })
}

fn close(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).num_microseconds().is_some_and(|d| d.abs() <= 1),
        (None, None) => true,
        _ => false,
    }
}

#[test]
fn daemon_jobs_land_in_postgres_with_their_values() {
    let pg = Schema::new("daemon");
    let sb = Sandbox::new().env("POSTGRES_URL", &pg.url);
    let d = Daemon::start(&sb, &["--port", "0"]);
    let ids = [d.post("one"), d.post("two"), d.post("[fake:exit=1] three")];
    let jobs: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| {
            sb.wait_status(
                id,
                &["succeeded", "failed", "cancelled"],
                Duration::from_secs(30),
            )
        })
        .collect();

    let t0 = Instant::now();
    let rows = loop {
        let rows = pg
            .rows(
                "SELECT id::text, status, profile, node, started_at, ended_at, created_at, \
                 duration_seconds, exit_code, cost_usd, input_tokens, output_tokens, \
                 cache_read_tokens, cache_creation_tokens, num_turns, model, session_id, \
                 error, task FROM agenticore_jobs",
            )
            .unwrap_or_default();
        if rows.len() >= 3 {
            break rows;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "only {} rows in {}.agenticore_jobs",
            rows.len(),
            pg.name
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(rows.len(), 3);
    for job in &jobs {
        let id = job["id"].as_str().expect("id");
        let row = rows
            .iter()
            .find(|r| r.get::<_, String>("id") == id)
            .unwrap_or_else(|| panic!("no row for {id}"));
        let status: String = row.get("status");
        assert_eq!(status, job["status"].as_str().expect("status"), "{job}");
        assert_eq!(
            row.get::<_, String>("profile"),
            job["profile"].as_str().expect("profile")
        );
        assert_eq!(
            row.get::<_, String>("task"),
            job["task"].as_str().expect("task")
        );
        let node: Option<String> = row.get("node");
        assert!(node.is_some(), "{job}");
        assert_eq!(node.as_deref(), job["node"].as_str(), "{job}");
        assert!(
            close(row.get("created_at"), time(&job["created_at"])),
            "{job}"
        );
        assert!(
            close(row.get("started_at"), time(&job["started_at"])),
            "{job}"
        );
        assert!(close(row.get("ended_at"), time(&job["ended_at"])), "{job}");
        let duration: Option<f64> = row.get("duration_seconds");
        assert!(duration.is_some_and(|d| d >= 0.0), "{job}");
        assert_eq!(
            row.get::<_, Option<i32>>("exit_code").map(i64::from),
            job["exit_code"].as_i64(),
            "{job}"
        );
        assert_eq!(
            row.get::<_, Option<String>>("session_id").as_deref(),
            job["session_id"].as_str()
        );
        assert_eq!(
            row.get::<_, Option<String>>("model").as_deref(),
            job["model"].as_str()
        );
        assert_eq!(
            row.get::<_, Option<f64>>("cost_usd"),
            job["cost_usd"].as_f64()
        );
        assert_eq!(
            row.get::<_, Option<i64>>("num_turns"),
            job["num_turns"].as_i64()
        );
        let t = &job["tokens"];
        assert_eq!(
            row.get::<_, Option<i64>>("input_tokens"),
            t["input"].as_i64()
        );
        assert_eq!(
            row.get::<_, Option<i64>>("output_tokens"),
            t["output"].as_i64()
        );
        assert_eq!(
            row.get::<_, Option<i64>>("cache_read_tokens"),
            t["cache_read"].as_i64()
        );
        assert_eq!(
            row.get::<_, Option<i64>>("cache_creation_tokens"),
            t["cache_creation"].as_i64()
        );
        if status == "succeeded" {
            assert_eq!(row.get::<_, Option<f64>>("cost_usd"), Some(0.0123));
            assert_eq!(row.get::<_, Option<i64>>("input_tokens"), Some(100));
            assert_eq!(row.get::<_, Option<i64>>("output_tokens"), Some(20));
            assert_eq!(row.get::<_, Option<i64>>("cache_read_tokens"), Some(5));
            assert_eq!(row.get::<_, Option<i64>>("cache_creation_tokens"), Some(1));
            assert_eq!(row.get::<_, Option<i64>>("num_turns"), Some(2));
            assert_eq!(
                row.get::<_, Option<String>>("model").as_deref(),
                Some("fake-model")
            );
            assert!(row.get::<_, Option<String>>("session_id").is_some());
        } else {
            assert_eq!(status, "failed");
            assert!(row.get::<_, Option<String>>("error").is_some(), "{job}");
        }
    }
    let versions = pg
        .rows("SELECT version FROM agenticore_schema_migrations ORDER BY version")
        .expect("migrations table");
    let versions: Vec<i32> = versions.iter().map(|r| r.get(0)).collect();
    assert_eq!(versions, [1, 2]);

    let m = d.metrics(None);
    assert_eq!(
        m.get("agenticore_postgres_rows_written_total"),
        Some(&3.0),
        "{m:?}"
    );
    assert_eq!(m.get("agenticore_postgres_rows_dropped_total"), Some(&0.0));
    assert_eq!(m.get("agenticore_postgres_pending_rows"), Some(&0.0));
    assert_eq!(m.get("agenticore_postgres_up"), Some(&1.0));
}

#[test]
fn migrations_are_idempotent_and_race_free() {
    let pg = Schema::new("migrate");
    let url = pg.url.clone();
    let applied = pg.block_on(async move {
        let a = tokio::spawn(agenticore::telemetry::postgres::migrate_url_owned(
            url.clone(),
        ));
        let b = tokio::spawn(agenticore::telemetry::postgres::migrate_url_owned(
            url.clone(),
        ));
        let (a, b) = (a.await.expect("join"), b.await.expect("join"));
        let c = agenticore::telemetry::postgres::migrate_url(&url).await;
        (a, b, c)
    });
    let (a, b, c) = applied;
    let (a, b) = (a.expect("first"), b.expect("second"));
    assert_eq!(
        a + b,
        2,
        "each migration is applied by exactly one of two racing starts"
    );
    assert_eq!(c.expect("third"), 0, "a later start applies nothing");
    let tables = pg
        .rows(&format!(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = '{}' \
             ORDER BY 1",
            pg.name
        ))
        .expect("tables");
    let names: Vec<String> = tables.iter().map(|r| r.get(0)).collect();
    assert_eq!(
        names,
        [
            "agenticore_jobs",
            "agenticore_otel_events",
            "agenticore_otel_metrics",
            "agenticore_otel_spans",
            "agenticore_schema_migrations"
        ]
    );
}

#[test]
fn unreachable_postgres_never_slows_jobs_and_shows_pending_rows() {
    let sb = Sandbox::new().env(
        "POSTGRES_URL",
        "postgres://agenticore:secret-pw@127.0.0.1:1/x",
    );
    let log = sb.path().join("serve.log");
    let d = Daemon::start_logging(&sb, &["--port", "0"], &log);
    let t0 = Instant::now();
    let ids = [d.post("one"), d.post("two")];
    for id in &ids {
        let job = sb.wait_status(id, &["succeeded", "failed"], Duration::from_secs(30));
        assert_eq!(job["status"], "succeeded", "{job}");
    }
    assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());
    let t1 = Instant::now();
    loop {
        let m = d.metrics(None);
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let warned = text.contains("cannot reach PostgreSQL");
        if warned
            && m.get("agenticore_postgres_pending_rows") == Some(&2.0)
            && m.get("agenticore_postgres_up") == Some(&0.0)
        {
            assert_eq!(m.get("agenticore_postgres_rows_written_total"), Some(&0.0));
            assert_eq!(m.get("agenticore_postgres_rows_dropped_total"), Some(&0.0));
            assert!(
                !text.contains("secret-pw"),
                "the log shows the password: {text}"
            );
            assert!(text.contains("agenticore:****@127.0.0.1:1"), "{text}");
            break;
        }
        assert!(
            t1.elapsed() < Duration::from_secs(15),
            "metrics {m:?}, log:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn finished_job(task: &str) -> agenticore::job::Job {
    let mut j = common::jobs::new_job(task);
    j.state = agenticore::job::JobState::Succeeded {
        started_at: j.created_at,
        ended_at: j.created_at + chrono::Duration::seconds(2),
        exit_code: 0,
    };
    j
}

/// A PostgreSQL that is down at first (nothing listens on the port), then comes back (a TCP
/// proxy to the real one starts on that port): the rows the sink held are written, once each.
#[test]
fn rows_held_while_postgres_is_down_or_cut_off_are_written_when_it_comes_back() {
    use std::str::FromStr;
    use tokio_postgres::config::Host;

    let pg = Schema::new("comeback");
    let base = tokio_postgres::Config::from_str(&common::postgres::base_url()).expect("base url");
    let target = match (base.get_hosts().first(), base.get_ports().first()) {
        (Some(Host::Tcp(h)), p) => format!("{h}:{}", p.copied().unwrap_or(5432)),
        other => panic!("this test needs a TCP PostgreSQL URL, not {other:?}"),
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port();
    let user = base.get_user().unwrap_or("postgres");
    let auth = match base.get_password() {
        Some(p) => format!("{user}:{}", String::from_utf8_lossy(p)),
        None => user.to_string(),
    };
    let url = format!(
        "postgres://{auth}@127.0.0.1:{port}/{}?options=-c%20search_path%3D{}",
        base.get_dbname().unwrap_or("test"),
        pg.name
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sink = agenticore::telemetry::PostgresSink::new(&url).expect("sink");
    let jobs = [finished_job("a"), finished_job("b"), finished_job("c")];
    let wait = |what: &str, ok: &dyn Fn(agenticore::telemetry::SinkStatus) -> bool| {
        let t0 = Instant::now();
        loop {
            let s = sink.status();
            if ok(s) {
                return;
            }
            assert!(t0.elapsed() < Duration::from_secs(40), "{what}: {s:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // Claude's telemetry waits in its own lane: two metric points.
    let points = || {
        let export = agenticore::telemetry::otlp::decode(
            agenticore::telemetry::otlp::Signal::Metrics,
            agenticore::telemetry::otlp::Encoding::Json,
            None,
            METRICS_JSON.as_bytes(),
        )
        .expect("decodes");
        agenticore::telemetry::otel_rows::flatten(&export, Some(jobs[0].id.as_uuid()))
    };
    rt.block_on(async {
        sink.start();
        for j in &jobs {
            sink.send(j);
        }
        sink.send_telemetry(points()).expect("queued");
    });
    wait("down, holding 3 job rows and 2 telemetry rows", &|s| {
        !s.up && s.pending_rows == 3 && s.telemetry_pending_rows == 2
    });
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(sink.status().rows_written, 0);

    // PostgreSQL "comes back".
    let first = rt.spawn(proxy(port, target.clone()));
    wait("written after the comeback", &|s| {
        s.up && s.rows_written == 3
            && s.pending_rows == 0
            && s.telemetry_rows_written == 2
            && s.telemetry_pending_rows == 0
    });
    // A replayed result updates its row instead of adding one.
    rt.block_on(async { sink.send(&jobs[0]) });
    wait("replay written", &|s| {
        s.rows_written == 4 && s.pending_rows == 0
    });

    // PostgreSQL goes away mid-run (every open connection cut): rows wait, then land.
    first.abort();
    let _ = rt.block_on(first);
    rt.block_on(async {
        sink.send(&jobs[1]);
        sink.send_telemetry(points()).expect("queued");
    });
    wait("held after the cut", &|s| {
        s.pending_rows == 1 && s.telemetry_pending_rows == 2
    });
    let _proxy = rt.spawn(proxy(port, target));
    wait("written after the second comeback", &|s| {
        s.up && s.rows_written == 5
            && s.telemetry_rows_written == 4
            && s.telemetry_pending_rows == 0
    });
    let rows = pg
        .rows("SELECT id::text FROM agenticore_jobs")
        .expect("rows");
    assert_eq!(rows.len(), 3);
    let points = pg
        .rows("SELECT job_id::text FROM agenticore_otel_metrics")
        .expect("rows");
    assert_eq!(points.len(), 4);
    assert!(
        points
            .iter()
            .all(|r| r.get::<_, Option<String>>(0) == Some(jobs[0].id.to_string()))
    );
    let s = sink.status();
    assert_eq!((s.rows_dropped, s.telemetry_rows_dropped), (0, 0));
}

const METRICS_JSON: &str = r#"{"resourceMetrics":[{"resource":{"attributes":[]},"scopeMetrics":[
    {"metrics":[{"name":"claude_code.cost.usage","unit":"USD","sum":{"aggregationTemporality":1,
      "dataPoints":[{"asDouble":0.5,"timeUnixNano":"1795503174417000000"},
                    {"asDouble":0.25,"timeUnixNano":"1795503174417000000"}]}}]}]}]}"#;

/// A TCP proxy to PostgreSQL on `port`; aborting it cuts every connection it carries.
async fn proxy(port: u16, target: String) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the proxy port");
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            return;
        };
        let target = target.clone();
        conns.spawn(async move {
            if let Ok(mut out) = tokio::net::TcpStream::connect(&target).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
            }
        });
    }
}

/// `submit --wait` without a daemon runs the job in the CLI's own engine: its row is written
/// before the command exits.
#[test]
fn an_embedded_submit_wait_writes_its_row_before_exiting() {
    let pg = Schema::new("embedded");
    let sb = Sandbox::new().env("POSTGRES_URL", &pg.url);
    let (code, v) = sb.json(&["submit", "embedded [fake:sleep=0]", "--wait", "--json"]);
    assert_eq!(code, 0, "{v}");
    let id = v["job"]["id"].as_str().expect("id").to_string();
    let rows = pg
        .rows("SELECT id::text, status, cost_usd FROM agenticore_jobs")
        .expect("agenticore_jobs exists");
    assert_eq!(rows.len(), 1, "{v}");
    assert_eq!(rows[0].get::<_, String>(0), id);
    assert_eq!(rows[0].get::<_, String>(1), "succeeded");
    assert_eq!(rows[0].get::<_, Option<f64>>(2), Some(0.0123));
}

/// Rows PostgreSQL refuses (here a CHECK constraint) are dropped and counted, not retried
/// forever; the rows after them are written.
#[test]
fn rows_postgresql_refuses_are_dropped_and_counted() {
    let pg = Schema::new("refused");
    let url = pg.url.clone();
    pg.block_on(async move {
        agenticore::telemetry::postgres::migrate_url(&url)
            .await
            .expect("migrate")
    });
    pg.rows("ALTER TABLE agenticore_jobs ADD CONSTRAINT no_poison CHECK (task <> 'poison')")
        .expect("constraint");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sink = agenticore::telemetry::PostgresSink::new(&pg.url).expect("sink");
    let wait = |what: &str, ok: &dyn Fn(agenticore::telemetry::SinkStatus) -> bool| {
        let t0 = Instant::now();
        loop {
            let s = sink.status();
            if ok(s) {
                return s;
            }
            assert!(t0.elapsed() < Duration::from_secs(20), "{what}: {s:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    rt.block_on(async {
        sink.start();
        sink.send(&finished_job("poison"));
    });
    let s = wait("refused", &|s| s.rows_dropped == 1);
    assert_eq!((s.rows_written, s.pending_rows, s.up), (0, 0, true));
    rt.block_on(async { sink.send(&finished_job("fine")) });
    wait("next row written", &|s| {
        s.rows_written == 1 && s.pending_rows == 0
    });
    let rows = pg.rows("SELECT task FROM agenticore_jobs").expect("rows");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, String>(0), "fine");
}
