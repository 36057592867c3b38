//! The CLI in embedded mode, end to end: real processes (the fake claude), real git, the real
//! SQLite store, /proc checks that nothing of a job survives it.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn submit_wait_runs_a_job_and_records_what_claude_reported() {
    let sb = Sandbox::new();
    let (code, v) = sb.json(&["submit", "say hi [fake:sleep=0]", "--wait", "--json"]);
    assert_eq!(code, 0, "{v}");
    let job = &v["job"];
    assert_eq!(job["status"], "succeeded");
    assert_eq!(job["mode"], "sync");
    assert_eq!(job["profile"], "code");
    assert_eq!(job["exit_code"], 0);
    assert_eq!(job["num_turns"], 2);
    assert_eq!(job["cost_usd"], 0.0123);
    assert_eq!(job["tokens"]["output"], 20);
    assert!(job["session_id"].as_str().is_some_and(|s| s.len() == 36));
    // The `code` profile asks for output_format json: the output is the result event.
    let out: serde_json::Value =
        serde_json::from_str(job["output"].as_str().expect("output")).expect("json output");
    assert_eq!(out["result"], "Done.");
    // The seed's keys come first, in order.
    let keys: Vec<&str> = job
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        &keys[..7],
        [
            "id", "repo_url", "base_ref", "task", "profile", "status", "mode"
        ]
    );
    // The log holds claude's stream.
    let log = sb.run(&["logs", job["id"].as_str().unwrap()]);
    assert!(
        stdout(&log).contains("claude | Working on it."),
        "{}",
        stdout(&log)
    );
}

#[test]
fn the_prompt_goes_on_stdin_and_the_child_env_holds_no_secrets() {
    let sb = Sandbox::new()
        .env("REDIS_URL", "redis://:hunter2@localhost/0")
        .env("POSTGRES_URL", "postgres://u:hunter2@localhost/db")
        .env("GITHUB_TOKEN", "ghp_secret")
        .env("AGENTICORE_API_KEYS", "k1,k2")
        .env("AWS_SECRET_ACCESS_KEY", "aws")
        .env("ANTHROPIC_API_KEY", "sk-test");
    let rec = sb.path().join("record.json");
    let task = format!("check env [fake:record={}]", rec.display());
    let out = sb.run(&["submit", &task, "--wait"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&rec).expect("record")).expect("json");
    let env = r["env"].as_object().expect("env");
    for secret in [
        "REDIS_URL",
        "POSTGRES_URL",
        "GITHUB_TOKEN",
        "AGENTICORE_API_KEYS",
        "AWS_SECRET_ACCESS_KEY",
    ] {
        assert!(!env.contains_key(secret), "{secret} leaked to claude");
    }
    assert_eq!(env["ANTHROPIC_API_KEY"], "sk-test");
    assert!(env.contains_key("AGENTICORE_JOB_ID"));
    assert!(r["stdin"].as_str().unwrap().contains("check env"));
    let argv: Vec<&str> = r["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        !argv.iter().any(|a| a.contains("check env")),
        "task in argv: {argv:?}"
    );
    for flag in [
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--model",
        "sonnet",
        "--max-turns",
        "80",
    ] {
        assert!(argv.contains(&flag), "{flag} missing from {argv:?}");
    }
}

#[test]
fn a_failing_claude_fails_the_job_with_the_reason() {
    let sb = Sandbox::new();
    let (code, v) = sb.json(&[
        "submit",
        "x [fake:exit=1;no_result=1;stderr=boom happened]",
        "--wait",
        "--json",
    ]);
    assert_eq!(code, 1);
    assert_eq!(v["job"]["status"], "failed");
    let err = v["job"]["error"].as_str().unwrap();
    assert!(
        err.contains("exited with code 1") && err.contains("boom happened"),
        "{err}"
    );

    let (code, v) = sb.json(&[
        "submit",
        "x [fake:exit=1;api_error=401]",
        "--wait",
        "--json",
    ]);
    assert_eq!(code, 1);
    let err = v["job"]["error"].as_str().unwrap();
    assert!(
        err.contains("HTTP 401") && err.contains("Invalid API key"),
        "{err}"
    );
    assert_eq!(v["job"]["api_error_status"], 401);

    // is_error with exit 0 still fails.
    let (code, v) = sb.json(&["submit", "x [fake:is_error=1]", "--wait", "--json"]);
    assert_eq!(code, 1, "{v}");

    let (code, v) = sb.json(&["submit", "x [fake:max_turns=1;exit=1]", "--wait", "--json"]);
    assert_eq!(code, 1);
    assert!(
        v["job"]["error"]
            .as_str()
            .unwrap()
            .contains("maximum number of turns"),
        "{v}"
    );
}

#[test]
fn denied_tool_calls_never_pass_for_a_clean_success() {
    let sb = Sandbox::new();
    let out = sb.run(&["submit", "x [fake:denied=1]", "--wait"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("DENIED") && text.contains("Write"), "{text}");
    let (_, v) = sb.json(&["jobs", "--json"]);
    let job = &v["jobs"][0];
    assert_eq!(job["permission_denials"][0]["tool_name"], "Write");
    assert!(
        job["error"]
            .as_str()
            .unwrap()
            .contains("denied 1 tool call")
    );
}

#[test]
fn a_missing_claude_binary_is_named() {
    let sb = Sandbox::new().env("AGENTICORE_CLAUDE_BINARY", "/nonexistent/claude");
    let (code, v) = sb.json(&["submit", "x", "--wait", "--json"]);
    assert_eq!(code, 1);
    let err = v["job"]["error"].as_str().unwrap();
    assert!(
        err.contains("/nonexistent/claude") && err.contains("AGENTICORE_CLAUDE_BINARY"),
        "{err}"
    );
}

#[test]
fn timeout_kills_every_process_of_the_job() {
    let sb = Sandbox::new();
    let (code, v) = sb.json(&[
        "submit",
        "slow [fake:child=600;bg=600;sleep=60]",
        "--wait",
        "--json",
        "--timeout",
        "2",
    ]);
    assert_eq!(code, 1, "{v}");
    let job = &v["job"];
    assert_eq!(job["status"], "failed");
    assert!(
        job["error"]
            .as_str()
            .unwrap()
            .contains("timed out after 2 s"),
        "{job}"
    );
    assert_eq!(job["timeout"]["kind"], "wall_clock");
    let id = job["id"].as_str().unwrap();
    assert_eq!(
        wait_no_processes(id, Duration::from_secs(3)),
        Vec::<u32>::new()
    );
}

#[test]
fn stall_timeout_names_the_stall() {
    let sb = Sandbox::new().env("AGENTICORE_STALL_TIMEOUT", "1");
    let (code, v) = sb.json(&["submit", "x [fake:silent=30]", "--wait", "--json"]);
    assert_eq!(code, 1);
    assert!(
        v["job"]["error"]
            .as_str()
            .unwrap()
            .contains("no output from claude for 1 s"),
        "{v}"
    );
    assert_eq!(
        wait_no_processes(v["job"]["id"].as_str().unwrap(), Duration::from_secs(3)),
        Vec::<u32>::new()
    );
}

#[test]
fn cancel_kills_a_running_job_and_it_stays_cancelled() {
    let sb = Sandbox::new();
    let out = sb.run(&[
        "submit",
        "long [fake:child=600;bg=600;sleep=60;ignore_term=1]",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    sb.wait_status(&id, &["running"], Duration::from_secs(20));
    // Wait until both grandchildren (the setsid'd and the orphaned `sleep 600`) exist, so the
    // kill has something to find. (Counting all processes is racy: the fake's transient `sh`
    // and processes in the middle of an exec come and go.)
    let sleepers = || {
        job_processes(&id)
            .into_iter()
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm"))
                    .is_ok_and(|c| c.trim() == "sleep")
            })
            .count()
    };
    let t0 = std::time::Instant::now();
    while sleepers() < 2 && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(sleepers(), 2, "{:?}", job_processes(&id));
    let out = sb.run(&["cancel", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("cancelled"), "{}", stdout(&out));
    assert_eq!(
        wait_no_processes(&id, Duration::from_secs(3)),
        Vec::<u32>::new()
    );
    std::thread::sleep(Duration::from_millis(1500));
    let job = sb.job(&id);
    assert_eq!(job["status"], "cancelled", "{job}");
    assert_eq!(job["error"], "cancelled by user");
}

#[test]
fn a_queued_job_that_is_cancelled_never_starts() {
    let sb = Sandbox::new().env("AGENTICORE_MAX_PARALLEL_JOBS", "1");
    let marker = sb.path().join("b-started");
    let a = sb.run(&["submit", "A [fake:sleep=30]"]);
    let a = stdout(&a).trim().to_string();
    sb.wait_status(&a, &["running"], Duration::from_secs(20));
    let b = sb.run(&["submit", &format!("B [fake:record={}]", marker.display())]);
    let b = stdout(&b).trim().to_string();
    assert_eq!(sb.job(&b)["status"], "queued");
    let out = sb.run(&["cancel", &b]);
    assert!(stdout(&out).contains("never start"), "{}", stdout(&out));
    let out = sb.run(&["cancel", &a]);
    assert_eq!(out.status.code(), Some(0));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(sb.job(&b)["status"], "cancelled");
    assert!(!marker.exists(), "the cancelled queued job ran");
}

#[test]
fn the_cap_holds_under_a_burst_and_every_job_runs_once() {
    let sb = Sandbox::new().env("AGENTICORE_MAX_PARALLEL_JOBS", "2");
    let log = sb.path().join("runs.log");
    let mut ids = Vec::new();
    for i in 0..6 {
        let out = sb.run(&[
            "submit",
            &format!("job {i} [fake:sleep=0.6;log={}]", log.display()),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        ids.push(stdout(&out).trim().to_string());
    }
    for id in &ids {
        sb.wait_status(id, &["succeeded"], Duration::from_secs(60));
    }
    let text = std::fs::read_to_string(&log).expect("log");
    let mut events: Vec<(f64, i32)> = text
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[1].parse().unwrap(), if f[0] == "start" { 1 } else { -1 })
        })
        .collect();
    assert_eq!(events.iter().filter(|e| e.1 == 1).count(), 6, "{text}");
    events.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let (mut now, mut peak) = (0, 0);
    for (_, d) in events {
        now += d;
        peak = peak.max(now);
    }
    assert!(
        peak <= 2,
        "{peak} jobs ran at once with a cap of 2:\n{text}"
    );
    assert_eq!(peak, 2, "the cap was never used fully:\n{text}");
}

#[test]
fn two_processes_share_one_store() {
    let sb = Sandbox::new();
    let mut a = sb
        .cmd()
        .args(["submit", "one [fake:sleep=0.5]", "--wait", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut b = sb
        .cmd()
        .args(["submit", "two [fake:sleep=0.5]", "--wait", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    let (_, v) = sb.json(&["jobs", "--json", "--status", "succeeded"]);
    assert_eq!(v["count"], 2, "{v}");
}

#[test]
fn a_repo_job_commits_on_its_own_branch_and_the_worktree_is_removed() {
    let sb = Sandbox::new();
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
    let job = &v["job"];
    let id = job["id"].as_str().unwrap();
    let branch = job["branch"].as_str().unwrap();
    assert_eq!(branch, format!("agenticore/{}", &id[id.len() - 8..]));
    let wt = job["worktree_path"].as_str().unwrap();
    assert!(
        !std::path::Path::new(wt).exists(),
        "worktree {wt} left behind"
    );
    // The commit is on the job's branch in the clone cache.
    let repos = sb.path().join("repos");
    let cache = std::fs::read_dir(&repos)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir() && p.file_name().is_some_and(|n| n != "worktrees"))
        .expect("cache dir");
    let msg = git(&cache, &["log", "-1", "--format=%s", branch]);
    assert_eq!(msg, "fake commit");
}

#[test]
fn a_failed_job_keeps_its_worktree_when_asked() {
    let sb = Sandbox::new();
    let url = bare_remote(sb.path());
    let (code, v) = sb.json(&[
        "submit",
        "x [fake:exit=2]",
        "--repo",
        &url,
        "--wait",
        "--json",
        "--keep-worktree",
    ]);
    assert_eq!(code, 1);
    let wt = v["job"]["worktree_path"].as_str().unwrap();
    assert!(std::path::Path::new(wt).join("README.md").exists(), "{wt}");
}

#[test]
fn bad_input_is_refused_with_exit_2_or_4() {
    let sb = Sandbox::new();
    for (args, want_code, want_text) in [
        (
            vec!["submit", "x", "--repo=-oProxyCommand=evil"],
            2,
            "-oProxyCommand",
        ),
        (vec!["submit", "x", "--repo", "ext::sh -c evil"], 2, "ext::"),
        (
            vec!["submit", "x", "--repo", "file:///tmp", "--base-ref=--evil"],
            2,
            "ref",
        ),
        (vec!["submit", "x", "--profile", "nope"], 2, "nope"),
        (vec!["submit", "   "], 2, "task"),
        (vec!["submit", "x", "--timeout", "0"], 2, "timeout"),
        (
            vec!["submit", "x", "--session-id=--dangerously"],
            2,
            "session",
        ),
        (vec!["job", "../../etc/passwd"], 4, "not a job id"),
        (
            vec!["job", "0190a000-0000-7000-8000-000000000000"],
            4,
            "not found",
        ),
        (
            vec!["cancel", "0190a000-0000-7000-8000-000000000000"],
            4,
            "not found",
        ),
        (vec!["jobs", "--status", "rejected"], 2, "unknown status"),
    ] {
        let out = sb.run(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(want_code), "{args:?}: {err}");
        assert!(
            err.to_lowercase().contains(&want_text.to_lowercase()),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn bad_config_names_the_key_and_its_source() {
    let sb = Sandbox::new().env("AGENTICORE_CLAUDE_TIMEOUT", "soon");
    let out = sb.run(&["jobs"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("AGENTICORE_CLAUDE_TIMEOUT") && err.contains("soon"),
        "{err}"
    );

    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.home()).unwrap();
    std::fs::write(
        sb.home().join("config.yml"),
        "repos:\n  max_parallel_jobs: lots\n",
    )
    .unwrap();
    let out = sb.run(&["config"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("config.yml:2") && err.contains("max_parallel_jobs"),
        "{err}"
    );
}

#[test]
fn a_broken_profile_is_reported_with_file_and_line() {
    let sb = Sandbox::new();
    sb.write_profile(
        "mine",
        "name: mine\nclaude:\n  model: sonnet\n  max_turnz: 3\n",
    );
    let out = sb.run(&["submit", "x", "--profile", "mine"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("profile.yml") && err.contains("max_turnz"),
        "{err}"
    );
}

#[test]
fn ctrl_c_on_submit_wait_cancels_the_job_cleanly() {
    let sb = Sandbox::new();
    let child = sb
        .cmd()
        .args([
            "submit",
            "long [fake:child=600;sleep=60]",
            "--wait",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the job to be running with its grandchild (shim, claude, sleep).
    let id = running_job_with_processes(&sb, 3);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["job"]["status"], "cancelled");
    assert_eq!(job_processes(&id), Vec::<u32>::new());
}

#[test]
fn resume_passes_the_session_to_claude() {
    let sb = Sandbox::new();
    let sid = "0b7c8f5e-1234-4abc-9def-0123456789ab";
    let (code, v) = sb.json(&["submit", "again", "--session-id", sid, "--wait", "--json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["job"]["session_id"], sid);
}

#[test]
fn a_profile_brings_mcp_servers_through_a_private_config_file() {
    let sb = Sandbox::new();
    sb.write_profile(
        "tools",
        "extends: code\nmcp_servers:\n  web:\n    url: http://127.0.0.1:9/mcp\n    headers:\n      X-API-Key: secret-key\n",
    );
    std::fs::write(
        sb.home().join("profiles/tools/.mcp.json"),
        r#"{"mcpServers": {"local": {"command": "my-server", "args": ["--stdio"]}}}"#,
    )
    .unwrap();
    let (code, v) = sb.json(&["profiles", "--json"]);
    assert_eq!(code, 0);
    let tools = v["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "tools")
        .unwrap()
        .clone();
    assert_eq!(tools["mcp_servers"], serde_json::json!(["local", "web"]));

    let rec = sb.path().join("rec.json");
    let task = format!("x [fake:record={};mcp=failed]", rec.display());
    let (code, v) = sb.json(&["submit", &task, "--profile", "tools", "--wait", "--json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        v["job"]["mcp_failures"],
        serde_json::json!(["local: failed", "web: failed"])
    );
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&rec).unwrap()).unwrap();
    let argv: Vec<String> = serde_json::from_value(r["argv"].clone()).unwrap();
    let i = argv
        .iter()
        .position(|a| a == "--mcp-config")
        .expect("--mcp-config");
    assert!(
        !argv.iter().any(|a| a.contains("secret-key")),
        "a credential in argv: {argv:?}"
    );
    let cfg_path = std::path::Path::new(&argv[i + 1]);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(cfg_path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let cfg: serde_json::Value = serde_json::from_slice(&std::fs::read(cfg_path).unwrap()).unwrap();
    assert_eq!(cfg["mcpServers"]["web"]["type"], "http");
    assert_eq!(cfg["mcpServers"]["local"]["type"], "stdio");
    assert_eq!(r["env"]["MCP_CONNECTION_NONBLOCKING"], "0");

    sb.write_profile("badmcp", "mcp_servers:\n  x:\n    url: ftp://nope\n");
    let out = sb.run(&["submit", "x", "--profile", "badmcp"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("mcp_servers.x"), "{}", stderr(&out));
}
