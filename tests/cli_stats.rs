//! `agenticore stats` end to end: real jobs run by the fake claude (which reports $0.0123, 2
//! turns and tokens 100/20/5/1 per run, failed or not), summed up by the embedded engine and by
//! a real `agenticore serve` daemon (`GET /stats`, asked with curl and by the CLI).

mod common;

use std::process::Output;

use common::daemon::Daemon;
use common::*;
use serde_json::{Value, json};

/// `submit --wait --json TASK ARGS...`: the finished job.
fn run_job(sb: &Sandbox, task: &str, args: &[&str]) -> Value {
    let mut all = vec!["submit", task, "--wait", "--json"];
    all.extend_from_slice(args);
    let (_, v) = sb.json(&all);
    let job = v["job"].clone();
    assert!(
        job["status"] == "succeeded" || job["status"] == "failed",
        "{v}"
    );
    job
}

/// The figures of `n` jobs of the fake claude, `ok` of them succeeded, all failures `failed`.
fn figures(v: &Value, n: u64, ok: u64) {
    let cost = (n as f64 * 12_300_000.0) / 1e9;
    assert_eq!(v["jobs"], n, "{v}");
    assert_eq!(v["succeeded"], ok, "{v}");
    assert_eq!(v["failed"], n - ok, "{v}");
    assert_eq!(v["cancelled"], 0, "{v}");
    assert_eq!(v["running"], 0, "{v}");
    assert_eq!(v["queued"], 0, "{v}");
    assert_eq!(v["success_rate"], json!(ok as f64 / n as f64), "{v}");
    assert_eq!(v["cost_usd"], json!(cost), "{v}");
    assert_eq!(
        v["tokens"],
        json!({"input": 100 * n, "output": 20 * n, "cache_read": 5 * n, "cache_creation": n}),
        "{v}"
    );
    assert_eq!(v["turns"], 2 * n, "{v}");
    let run = v["run_seconds"].as_f64().expect("run_seconds");
    let mean = v["mean_run_seconds"].as_f64().expect("mean_run_seconds");
    assert!(run > 0.0 && run < 120.0, "{v}");
    assert!((mean * n as f64 - run).abs() < 0.01, "{v}");
}

fn keys(groups: &Value) -> Vec<String> {
    groups
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g["key"].as_str().expect("key").to_string())
        .collect()
}

fn day(ts: &Value) -> String {
    ts.as_str().expect("timestamp")[..10].to_string()
}

fn failed_usage(out: &Output, needle: &str) {
    assert_eq!(out.status.code(), Some(2), "{}", stderr(out));
    assert!(stdout(out).is_empty(), "{}", stdout(out));
    assert!(stderr(out).contains(needle), "{}", stderr(out));
}

#[test]
fn stats_sum_up_jobs_by_day_profile_and_repo() {
    let sb = Sandbox::new();
    let remote = bare_remote(sb.path());
    // Five jobs, oldest first: two profiles, with and without a repository, two failures.
    let jobs = [
        run_job(&sb, "one [fake:sleep=0]", &["--repo", &remote]),
        run_job(&sb, "two [fake:exit=1]", &["--repo", &remote]),
        run_job(&sb, "three [fake:sleep=0]", &[]),
        run_job(&sb, "four [fake:sleep=0]", &["--profile", "review"]),
        run_job(&sb, "five [fake:exit=1]", &["--profile", "review"]),
    ];
    let statuses: Vec<&str> = jobs.iter().filter_map(|j| j["status"].as_str()).collect();
    assert_eq!(
        statuses,
        ["succeeded", "failed", "succeeded", "succeeded", "failed"]
    );

    let (code, v) = sb.json(&["stats", "--json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["success"], true);
    assert_eq!(v["since"], Value::Null);
    assert_eq!(v["truncated"], false);
    assert_eq!(v["job_ttl_seconds"], 86_400);
    assert_eq!(v["oldest_job_at"], jobs[0]["created_at"]);
    figures(&v["total"], 5, 3);
    assert_eq!(v["total"]["cost_usd"], 0.0615);
    assert_eq!(v["total"]["success_rate"], 0.6);

    // By profile: code ($0.0369, 3 jobs) before review ($0.0246, 2 jobs).
    assert_eq!(keys(&v["by_profile"]), ["code", "review"]);
    figures(&v["by_profile"][0], 3, 2);
    figures(&v["by_profile"][1], 2, 1);
    assert_eq!(v["by_profile"][0]["cost_usd"], 0.0369);
    // By repository: the three jobs without one cost more than the two with it.
    assert_eq!(
        keys(&v["by_repo"]),
        ["(no repo)".to_string(), remote.clone()]
    );
    figures(&v["by_repo"][0], 3, 2);
    figures(&v["by_repo"][1], 2, 1);
    // By day: the UTC days the jobs were created (one, unless the test straddled midnight).
    let mut days: Vec<String> = jobs.iter().map(|j| day(&j["created_at"])).collect();
    days.dedup();
    days.reverse();
    assert_eq!(keys(&v["by_day"]), days);
    let per_day: u64 = v["by_day"]
        .as_array()
        .expect("days")
        .iter()
        .filter_map(|d| d["jobs"].as_u64())
        .sum();
    assert_eq!(per_day, 5);

    // --since: a duration that covers everything, a cut between jobs, and the future.
    let (code, all) = sb.json(&["stats", "--json", "--since", "1d"]);
    assert_eq!(code, 0, "{all}");
    assert_eq!(all["total"], v["total"]);
    assert_eq!(all["by_profile"], v["by_profile"]);
    assert!(all["since"].is_string(), "{all}");
    let cut = jobs[2]["created_at"].as_str().expect("created_at");
    let (code, recent) = sb.json(&["stats", "--json", "--since", cut]);
    assert_eq!(code, 0, "{recent}");
    assert_eq!(recent["since"], json!(cut));
    assert_eq!(recent["oldest_job_at"], jobs[2]["created_at"]);
    figures(&recent["total"], 3, 2);
    assert_eq!(keys(&recent["by_repo"]), ["(no repo)"]);
    for future in [
        "2999-01-01",
        "2999-01-01T00:00:00Z",
        "2999-01-01T02:00:00+02:00",
    ] {
        let (code, none) = sb.json(&["stats", "--json", "--since", future]);
        assert_eq!(code, 0, "{none}");
        assert_eq!(
            none["since"], "2999-01-01T00:00:00.000000+00:00",
            "{future}"
        );
        assert_eq!(none["total"]["jobs"], 0);
        assert_eq!(none["total"]["cost_usd"], 0.0);
        assert_eq!(none["total"]["success_rate"], Value::Null);
        assert_eq!(none["total"]["mean_run_seconds"], Value::Null);
        assert_eq!(none["oldest_job_at"], Value::Null);
        for g in ["by_day", "by_profile", "by_repo"] {
            assert_eq!(none[g], json!([]), "{g}");
        }
    }

    // Bad input: exit 2 with a message that says what is accepted.
    for bad in ["garbage", "7y", "-1d", "2025-02-30", "1d2h"] {
        let out = sb.run(&["stats", &format!("--since={bad}"), "--json"]);
        failed_usage(&out, &format!("--since {bad:?} is not a time"));
        assert!(stderr(&out).contains("7d"), "{}", stderr(&out));
    }
    failed_usage(
        &sb.run(&["stats", "--since", "99999999999999w"]),
        "reaches too far back",
    );
    failed_usage(&sb.run(&["stats", "--by", "week"]), "possible values");

    // The text: a summary, then the three tables; --by keeps one.
    let out = sb.run(&["stats"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for line in [
        "window        every job the store holds\n",
        "jobs          5: 3 succeeded, 2 failed, 0 cancelled, 0 running, 0 queued\n",
        "success       60.0% of 5 finished\n",
        "cost          $0.0615\n",
        "tokens        500 in, 100 out, 25 cache read, 5 cache write\n",
        "turns         10\n",
        "\nBY DAY (UTC)\nDAY ",
        "\nBY PROFILE\nPROFILE  JOBS  OK  FAILED  CANCELLED  ACTIVE  SUCCESS     COST  TOKENS IN  OUT",
        "\nBY REPOSITORY\nREPO ",
    ] {
        assert!(text.contains(line), "no {line:?} in:\n{text}");
    }
    let code_row = text
        .lines()
        .find(|l| l.starts_with("code "))
        .expect("a code row");
    let cells: Vec<&str> = code_row.split_whitespace().collect();
    assert_eq!(
        &cells[..13],
        [
            "code", "3", "2", "1", "0", "0", "66.7%", "$0.0369", "300", "60", "15", "3", "6"
        ],
        "{text}"
    );
    let out = sb.run(&["stats", "--by", "repo", "--since", "2w"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("(2w)") && text.contains("BY REPOSITORY"),
        "{text}"
    );
    assert!(
        !text.contains("BY DAY") && !text.contains("BY PROFILE"),
        "{text}"
    );
    assert!(text.contains(&remote), "{text}");
    let out = sb.run(&["stats", "--since", "2999-01-01"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).ends_with("\nNo jobs in this window.\n"),
        "{}",
        stdout(&out)
    );
}

/// `curl -s [-H X-API-Key: KEY] URL`: (HTTP status, JSON body).
fn curl(url: &str, key: Option<&str>) -> (u16, Value) {
    let mut c = std::process::Command::new("curl");
    c.args(["-s", "-w", "\n%{http_code}"]);
    if let Some(k) = key {
        c.args(["-H", &format!("X-API-Key: {k}")]);
    }
    let out = c.arg(url).output().expect("curl");
    let text = stdout(&out);
    let (body, status) = text.rsplit_once('\n').expect("status line");
    let v = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    (status.trim().parse().expect("status"), v)
}

#[test]
fn the_daemon_answers_get_stats_like_the_cli() {
    const KEY: &str = "stats-test-key";
    let sb = Sandbox::new().env("AGENTICORE_API_KEYS", KEY);
    run_job(&sb, "one [fake:sleep=0]", &[]);
    run_job(&sb, "two [fake:exit=1]", &["--profile", "review"]);
    let d = Daemon::start(&sb, &["--port", "0"]);

    // The embedded engine (no daemon for this CLI), the REST route and the CLI asking the
    // daemon all give the same JSON.
    let (code, local) = sb.json(&["stats", "--json"]);
    assert_eq!(code, 0, "{local}");
    figures(&local["total"], 2, 1);
    let (status, rest) = curl(&format!("{}/stats", d.url), Some(KEY));
    assert_eq!(status, 200, "{rest}");
    assert_eq!(rest, local);
    let remote = |args: &[&str]| {
        sb.cmd()
            .env("AGENTICORE_URL", &d.url)
            .env("AGENTICORE_API_KEY", KEY)
            .args(args)
            .output()
            .expect("run")
    };
    let out = remote(&["stats", "--json", "-v"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("using the agenticore server"),
        "{}",
        stderr(&out)
    );
    let via_daemon: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(via_daemon, local);

    // since through the daemon: the CLI's timestamp survives the query string.
    let out = remote(&["stats", "--json", "--since", "2999-01-01T02:00:00+02:00"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let future: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(future["since"], "2999-01-01T00:00:00.000000+00:00");
    assert_eq!(future["total"]["jobs"], 0);
    let out = remote(&["stats", "--since", "7d"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("success       50.0% of 2 finished"));
    failed_usage(&remote(&["stats", "--since", "soon"]), "is not a time");

    // The route: ?since= forms, 400 for a bad one, 401 without the key.
    let (status, week) = curl(&format!("{}/stats?since=7d", d.url), Some(KEY));
    assert_eq!(status, 200, "{week}");
    assert_eq!(week["total"], local["total"]);
    let (status, day) = curl(&format!("{}/stats?since=2999-01-01", d.url), Some(KEY));
    assert_eq!(status, 200, "{day}");
    assert_eq!(day["total"]["jobs"], 0);
    let (status, empty) = curl(&format!("{}/stats?since=", d.url), Some(KEY));
    assert_eq!((status, &empty), (200, &local));
    let (status, bad) = curl(&format!("{}/stats?since=garbage", d.url), Some(KEY));
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["success"], false);
    let msg = bad["error"].as_str().expect("error");
    assert!(msg.starts_with("since \"garbage\" is not a time"), "{msg}");
    assert_eq!(bad.as_object().map(|o| o.len()), Some(2), "{bad}");
    let (status, _) = curl(&format!("{}/stats", d.url), None);
    assert_eq!(status, 401);
}

#[test]
fn stats_read_a_redis_store_too() {
    let p = common::redis_prefix::Prefix::new("stats");
    let sb = Sandbox::new()
        .env("REDIS_URL", &p.url)
        .env("REDIS_KEY_PREFIX", &p.name)
        .env("AGENTICORE_REDIS_REQUIRED", "true");
    let first = run_job(&sb, "one [fake:sleep=0]", &[]);
    let second = run_job(&sb, "two [fake:exit=1]", &["--profile", "review"]);
    let id = second["id"].as_str().expect("id");
    assert_eq!(p.hget(id, "status").as_deref(), Some("failed"));

    let (code, v) = sb.json(&["stats", "--json"]);
    assert_eq!(code, 0, "{v}");
    figures(&v["total"], 2, 1);
    assert_eq!(v["oldest_job_at"], first["created_at"]);
    assert_eq!(keys(&v["by_profile"]), ["code", "review"]);
    let since = second["created_at"].as_str().expect("created_at");
    let (code, recent) = sb.json(&["stats", "--json", "--since", since]);
    assert_eq!(code, 0, "{recent}");
    figures(&recent["total"], 1, 0);
    assert_eq!(keys(&recent["by_profile"]), ["review"]);
}
