//! `GET /metrics` on a real daemon: Prometheus text that a scraper parses, the counts of the
//! jobs it ran (status, profile, duration histogram, cost, tokens, turns), the store's gauges,
//! behind the API key unless `AGENTICORE_METRICS_PUBLIC=true`.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::*;

const KEY: &str = "metrics-test-key";

fn curl(args: &[&str]) -> (u16, String, String) {
    let out = Command::new("curl")
        .args(["-s", "-D", "-", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (rest, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    let (head, body) = rest.split_once("\r\n\r\n").unwrap_or(("", rest));
    (
        code.trim().parse().unwrap_or(0),
        head.to_ascii_lowercase(),
        body.to_string(),
    )
}

fn post(d: &Daemon, task: &str) -> String {
    let body = serde_json::json!({"task": task}).to_string();
    let (code, _, text) = curl(&[
        "-X",
        "POST",
        "-H",
        &format!("X-API-Key: {KEY}"),
        "-H",
        "Content-Type: application/json",
        "-d",
        &body,
        &format!("{}/jobs", d.url),
    ]);
    assert_eq!(code, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    v["job"]["id"].as_str().expect("id").to_string()
}

fn wait_done(d: &Daemon, id: &str) {
    let t0 = Instant::now();
    loop {
        let (_, _, text) = curl(&[
            "-H",
            &format!("X-API-Key: {KEY}"),
            &format!("{}/jobs/{id}", d.url),
        ]);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let st = v["job"]["status"].as_str().unwrap_or_default().to_string();
        if ["succeeded", "failed", "cancelled"].contains(&st.as_str()) {
            return;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Parse the text format as a scraper does: every family has one HELP and one TYPE line
/// before its samples; every sample is `name{labels} value` with a float value.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut samples = HashMap::new();
    let mut typed: HashMap<String, String> = HashMap::new();
    let mut helped = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().expect("name").to_string();
            assert!(helped.insert(name.clone()), "two HELP lines for {name}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut f = rest.split(' ');
            let name = f.next().expect("name").to_string();
            let kind = f.next().expect("type").to_string();
            assert!(
                ["counter", "gauge", "histogram"].contains(&kind.as_str()),
                "{line}"
            );
            assert!(helped.contains(&name), "TYPE before HELP: {line}");
            assert!(typed.insert(name, kind).is_none(), "two TYPE lines: {line}");
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "stray line {line:?}"
        );
        let (series, value) = line.rsplit_once(' ').expect("a value");
        let v: f64 = match value {
            "+Inf" => f64::INFINITY,
            "NaN" => f64::NAN,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let name = series.split('{').next().expect("name");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| typed.get(*f).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        assert!(typed.contains_key(family), "sample before its TYPE: {line}");
        if series.contains('{') {
            assert!(series.ends_with('}'), "{line}");
        }
        assert!(
            samples.insert(series.to_string(), v).is_none(),
            "duplicate series {series}"
        );
    }
    samples
}

#[test]
fn metrics_count_the_jobs_a_node_ran_and_need_the_key() {
    let sb = Sandbox::new()
        .env("AGENTICORE_API_KEYS", KEY)
        .env("AGENTICORE_MAX_PARALLEL_JOBS", "2");
    let d = Daemon::start(&sb, &["--port", "0"]);
    let ok = post(&d, "fine [fake:sleep=0]");
    let bad = post(&d, "broken [fake:exit=1]");
    wait_done(&d, &ok);
    wait_done(&d, &bad);

    // No key: refused like every other route.
    let (code, _, body) = curl(&[&format!("{}/metrics", d.url)]);
    assert_eq!(code, 401, "{body}");

    let (code, head, body) = curl(&[
        "-H",
        &format!("Authorization: Bearer {KEY}"),
        &format!("{}/metrics", d.url),
    ]);
    assert_eq!(code, 200, "{body}");
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    let m = parse(&body);
    let get = |series: &str| {
        *m.get(series)
            .unwrap_or_else(|| panic!("no {series} in:\n{body}"))
    };
    assert_eq!(
        get(r#"agenticore_jobs_finished_total{status="succeeded",profile="code"}"#),
        1.0
    );
    assert_eq!(
        get(r#"agenticore_jobs_finished_total{status="failed",profile="code"}"#),
        1.0
    );
    assert!((get(r#"agenticore_cost_usd_total{profile="code"}"#) - 0.0246).abs() < 1e-9);
    assert_eq!(
        get(r#"agenticore_tokens_total{profile="code",kind="input"}"#),
        200.0
    );
    assert_eq!(
        get(r#"agenticore_tokens_total{profile="code",kind="cache_creation"}"#),
        2.0
    );
    assert_eq!(get(r#"agenticore_turns_total{profile="code"}"#), 4.0);
    assert_eq!(
        get(r#"agenticore_job_duration_seconds_count{status="succeeded"}"#),
        1.0
    );
    assert_eq!(
        get(r#"agenticore_job_duration_seconds_bucket{status="succeeded",le="+Inf"}"#),
        1.0
    );
    assert!(get(r#"agenticore_job_duration_seconds_sum{status="succeeded"}"#) > 0.0);
    assert_eq!(get(r#"agenticore_jobs{status="succeeded"}"#), 1.0);
    assert_eq!(get(r#"agenticore_jobs{status="failed"}"#), 1.0);
    assert_eq!(get("agenticore_queue_length"), 0.0);
    assert_eq!(get("agenticore_store_up"), 1.0);
    assert_eq!(get("agenticore_unsaved_results"), 0.0);
    assert_eq!(get("agenticore_max_parallel_jobs"), 2.0);
    assert_eq!(get("agenticore_running_jobs_here"), 0.0);
}

#[test]
fn metrics_can_be_public_for_a_scraper() {
    let sb = Sandbox::new()
        .env("AGENTICORE_API_KEYS", KEY)
        .env("AGENTICORE_METRICS_PUBLIC", "true");
    let d = Daemon::start(&sb, &["--port", "0"]);
    let (code, _, body) = curl(&[&format!("{}/metrics", d.url)]);
    assert_eq!(code, 200, "{body}");
    assert_eq!(parse(&body).get("agenticore_store_up"), Some(&1.0));
    // Only /metrics: the job routes still want the key.
    let (code, _, _) = curl(&[&format!("{}/jobs", d.url)]);
    assert_eq!(code, 401);
}
