//! Auto-PR end to end: the real binary, the fake claude, real git against a local bare remote
//! that git reaches through a GitHub-style URL (`url.<file:///…>.insteadOf`), and a fake `gh`
//! (tests/fixtures/fake-gh) that records every call.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

const URL: &str = "https://github.com/acme/widgets.git";

fn fake_gh() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fake-gh")
}

/// A sandbox whose git sees `remote_url` (a GitHub-style URL) as the local bare remote, with
/// the fake gh first on PATH and a unique GITHUB_TOKEN.
struct Pr {
    sb: Sandbox,
    remote: PathBuf,
    record: PathBuf,
    token: String,
}

impl Pr {
    fn new() -> Pr {
        Pr::with(URL, true)
    }

    fn with(remote_url: &str, with_token: bool) -> Pr {
        let sb = Sandbox::new();
        let file_url = bare_remote(sb.path());
        let remote = sb.path().join("remote.git");
        let bin = sb.path().join("bin");
        std::fs::create_dir_all(&bin).expect("bin");
        std::os::unix::fs::symlink(fake_gh(), bin.join("gh")).expect("symlink gh");
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let record = sb.path().join("gh-record.jsonl");
        let token = format!("ghp_unique{}x", uuid_like());
        let mut sb = sb
            .env("PATH", &path)
            .env("FAKE_GH_RECORD", record.to_str().expect("utf8"))
            .env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", &format!("url.{file_url}.insteadOf"))
            .env("GIT_CONFIG_VALUE_0", remote_url);
        if with_token {
            sb = sb.env("GITHUB_TOKEN", &token);
        }
        Pr {
            sb,
            remote,
            record,
            token,
        }
    }

    fn env(self, k: &str, v: &str) -> Pr {
        Pr {
            sb: self.sb.env(k, v),
            ..self
        }
    }

    /// `submit TASK --repo URL --wait --json [extra]`: exit code and the job.
    fn submit(&self, task: &str, url: &str, extra: &[&str]) -> (i32, serde_json::Value) {
        let mut args = vec!["submit", task, "--repo", url, "--wait", "--json"];
        args.extend_from_slice(extra);
        let (code, v) = self.sb.json(&args);
        (code, v["job"].clone())
    }

    /// Every gh call so far.
    fn gh_calls(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("record line"))
            .collect()
    }

    fn gh_ops(&self) -> Vec<String> {
        self.gh_calls()
            .iter()
            .map(|c| c["op"].as_str().unwrap_or("").to_string())
            .collect()
    }

    /// Branches of the bare remote.
    fn remote_branches(&self) -> Vec<String> {
        git(
            &self.remote,
            &["for-each-ref", "--format=%(refname:short)", "refs/heads/"],
        )
        .lines()
        .map(str::to_string)
        .collect()
    }

    /// The clone cache of the repo (the one bare clone under repos/).
    fn cache(&self) -> PathBuf {
        std::fs::read_dir(self.sb.path().join("repos"))
            .expect("repos")
            .flatten()
            .map(|e| e.path())
            .find(|p| p.is_dir() && p.file_name().is_some_and(|n| n != "worktrees"))
            .expect("a clone cache")
    }
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:x}{}", std::process::id())
}

fn arg_after<'a>(argv: &'a serde_json::Value, flag: &str) -> Option<&'a str> {
    let a = argv.as_array()?;
    let i = a.iter().position(|x| x == flag)?;
    a.get(i + 1)?.as_str()
}

fn str_of<'a>(job: &'a serde_json::Value, key: &str) -> &'a str {
    job[key].as_str().unwrap_or("")
}

#[test]
fn commits_give_one_pull_request_with_base_head_and_title() {
    let pr = Pr::new();
    let task = "Add the widget frobnicator to the catalogue please\nmore words [fake:commit=1]";
    let (code, job) = pr.submit(task, URL, &[]);
    assert_eq!(code, 0, "{job}");
    assert_eq!(job["status"], "succeeded");
    let branch = str_of(&job, "branch").to_string();
    assert!(branch.starts_with("agenticore/"), "{job}");
    assert_eq!(
        job["pr_url"], "https://github.com/acme/widgets/pull/1",
        "{job}"
    );
    assert!(job.get("pr_error").is_none(), "{job}");
    // The seed's key order holds: pr_url among the seed's keys, pr_error after them.
    let keys: Vec<&str> = job
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let pos = |k: &str| keys.iter().position(|x| *x == k);
    assert!(pos("pr_url") < pos("created_at"), "{keys:?}");

    // The branch is on the remote with claude's commit.
    assert!(pr.remote_branches().contains(&branch));
    assert_eq!(
        git(&pr.remote, &["log", "-1", "--format=%s", &branch]),
        "fake commit"
    );

    // gh: one list, one create, with the right base/head/title, no prompt, token in GH_TOKEN.
    let calls = pr.gh_calls();
    assert_eq!(pr.gh_ops(), ["list", "create"], "{calls:?}");
    let create = &calls[1];
    let argv = &create["argv"];
    assert_eq!(arg_after(argv, "--base"), Some("main"));
    assert_eq!(arg_after(argv, "--head"), Some(branch.as_str()));
    assert_eq!(arg_after(argv, "--repo"), Some("acme/widgets"));
    assert_eq!(
        arg_after(argv, "--title"),
        Some("Add the widget frobnicator to the catalogue please")
    );
    assert!(!argv.as_array().unwrap().iter().any(|a| a == "--draft"));
    let env = &create["env"];
    assert_eq!(env["GH_TOKEN"], pr.token.as_str());
    assert_eq!(env["GH_PROMPT_DISABLED"], "1");
    assert_eq!(env["GH_PAGER"], "cat");
    assert_eq!(env["GH_HOST"], "github.com");
    assert!(env.get("GITHUB_TOKEN").is_none(), "GITHUB_TOKEN reached gh");
    let wt = str_of(&job, "worktree_path");
    assert_eq!(create["cwd"], wt, "gh runs in the worktree");
    let body = create["stdin"].as_str().unwrap();
    for part in [
        str_of(&job, "id"),
        "profile `code`",
        "Add the widget frobnicator",
        "Done.",
        "Turns: 2",
        "$0.0123",
    ] {
        assert!(
            body.contains(part),
            "{part:?} missing from the body: {body}"
        );
    }
    // The worktree is gone afterwards; the human output shows the PR.
    assert!(!Path::new(wt).exists());
    let human = stdout(&pr.sb.run(&["job", str_of(&job, "id")]));
    assert!(
        human.contains("https://github.com/acme/widgets/pull/1"),
        "{human}"
    );
    // The log has the PR step.
    let log = std::fs::read_to_string(
        pr.sb
            .home()
            .join("logs")
            .join(format!("{}.jsonl", str_of(&job, "id"))),
    )
    .expect("log");
    assert!(log.contains("\"pull_request\""), "{log}");
}

#[test]
fn an_open_pull_request_for_the_branch_is_reused() {
    let pr = Pr::new();
    let out = pr.sb.run(&[
        "submit",
        "reuse [fake:commit=1;sleep_after=2]",
        "--repo",
        URL,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    // Once the job has its branch, a PR for that branch is open already (opened by an earlier
    // run of the branch): the fake gh's record says so.
    let t0 = std::time::Instant::now();
    let branch = loop {
        let job = pr.sb.job(&id);
        if let Some(b) = job["branch"].as_str() {
            break b.to_string();
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "no branch: {job}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let earlier = serde_json::json!({
        "op": "create", "head": branch, "url": "https://github.com/acme/widgets/pull/77"
    });
    std::fs::write(&pr.record, format!("{earlier}\n")).expect("seed record");
    let job = pr.sb.wait_status(
        &id,
        &["succeeded", "failed", "cancelled"],
        Duration::from_secs(30),
    );
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(
        job["pr_url"], "https://github.com/acme/widgets/pull/77",
        "{job}"
    );
    // One list, no new create.
    assert_eq!(pr.gh_ops(), ["create", "list"]);
}

#[test]
fn leftovers_are_committed_when_the_switch_is_on() {
    let pr = Pr::new();
    // The bundled code profile has commit_leftovers on; claude commits nothing itself.
    let (code, job) = pr.submit("tidy up [fake:leave=notes.txt]", URL, &[]);
    assert_eq!(code, 0, "{job}");
    assert_eq!(
        job["pr_url"], "https://github.com/acme/widgets/pull/1",
        "{job}"
    );
    let branch = str_of(&job, "branch");
    let subject = git(&pr.remote, &["log", "-1", "--format=%s", branch]);
    assert!(subject.starts_with("agenticore: changes job"), "{subject}");
    let files = git(&pr.remote, &["show", "--name-only", "--format=", branch]);
    assert_eq!(files, "notes.txt");
}

#[test]
fn leftovers_stay_out_when_the_switch_is_off_and_draft_is_asked() {
    let pr = Pr::new();
    pr.sb.write_profile(
        "strict",
        "extends: code\ncommit_leftovers: false\ndraft_pr: true\n",
    );
    let (code, job) = pr.submit(
        "tidy up [fake:leave=notes.txt]",
        URL,
        &["--profile", "strict"],
    );
    assert_eq!(code, 0, "{job}");
    assert!(job.get("pr_url").is_none(), "{job}");
    let err = str_of(&job, "pr_error");
    assert!(
        err.contains("no commits beyond origin/main") && err.contains("commit_leftovers is off"),
        "{err}"
    );
    assert!(
        pr.remote_branches() == ["main"],
        "{:?}",
        pr.remote_branches()
    );
    assert!(pr.gh_calls().is_empty());

    // With a commit, the same profile opens a draft.
    let (code, job) = pr.submit("draft it [fake:commit=1]", URL, &["--profile", "strict"]);
    assert_eq!(code, 0, "{job}");
    assert!(job["pr_url"].is_string(), "{job}");
    let calls = pr.gh_calls();
    let create = calls.iter().find(|c| c["op"] == "create").expect("create");
    assert!(
        create["argv"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "--draft")
    );
}

#[test]
fn no_commits_means_no_push_no_pr_and_the_job_says_why() {
    let pr = Pr::new();
    let out = pr.sb.run(&[
        "submit",
        "look around [fake:sleep=0]",
        "--repo",
        URL,
        "--wait",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("pr error") && text.contains("no commits beyond origin/main"),
        "{text}"
    );
    assert_eq!(pr.remote_branches(), ["main"]);
    assert!(pr.gh_calls().is_empty());
}

#[test]
fn failed_or_cancelled_jobs_push_nothing() {
    let pr = Pr::new();
    let (code, job) = pr.submit("fail [fake:commit=1;exit=1]", URL, &[]);
    assert_eq!(code, 1, "{job}");
    assert_eq!(job["status"], "failed");
    assert!(
        job.get("pr_url").is_none() && job.get("pr_error").is_none(),
        "{job}"
    );

    let out = pr.sb.run(&[
        "submit",
        "cancel me [fake:commit=1;sleep_after=30]",
        "--repo",
        URL,
    ]);
    let id = stdout(&out).trim().to_string();
    // Wait for claude's commit on the job's branch, then cancel.
    let t0 = std::time::Instant::now();
    loop {
        let job = pr.sb.job(&id);
        if let Some(b) = job["branch"].as_str()
            && std::fs::read_dir(pr.sb.path().join("repos")).is_ok()
            && std::process::Command::new("git")
                .args(["--git-dir"])
                .arg(pr.cache())
                .args(["log", "-1", "--format=%s", b])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "fake commit")
        {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "no commit: {job}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = pr.sb.run(&["cancel", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let job = pr
        .sb
        .wait_status(&id, &["cancelled"], Duration::from_secs(20));
    assert!(
        job.get("pr_url").is_none() && job.get("pr_error").is_none(),
        "{job}"
    );
    assert_eq!(pr.remote_branches(), ["main"]);
    assert!(pr.gh_calls().is_empty());
}

#[test]
fn a_cancel_during_the_pr_step_stops_it_and_the_job_stays_succeeded() {
    let pr = Pr::new().env("FAKE_GH_SLEEP", "30");
    let out = pr
        .sb
        .run(&["submit", "slow github [fake:commit=1]", "--repo", URL]);
    let id = stdout(&out).trim().to_string();
    // The branch is pushed: the step is now waiting on gh.
    let t0 = std::time::Instant::now();
    loop {
        let job = pr.sb.job(&id);
        if let Some(b) = job["branch"].as_str()
            && pr.remote_branches().iter().any(|r| r == b)
        {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "not pushed: {job}");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let t0 = std::time::Instant::now();
    let _ = pr.sb.run(&["cancel", &id]);
    let job = pr.sb.wait_status(
        &id,
        &["succeeded", "failed", "cancelled"],
        Duration::from_secs(15),
    );
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "the gh call was not stopped"
    );
    assert_eq!(job["status"], "succeeded", "{job}");
    let err = str_of(&job, "pr_error");
    assert!(
        err.starts_with("the pull request step was stopped"),
        "{err}"
    );
    assert!(job.get("pr_url").is_none());
}

#[test]
fn a_rejected_push_is_a_pr_error_and_the_job_still_succeeds() {
    let pr = Pr::new();
    let hook = pr.remote.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\necho 'pushes are closed today' >&2\nexit 1\n",
    )
    .expect("hook");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let (code, job) = pr.submit("commit [fake:commit=1]", URL, &[]);
    assert_eq!(code, 0, "{job}");
    assert_eq!(job["status"], "succeeded");
    let err = str_of(&job, "pr_error");
    assert!(
        err.starts_with(&format!("pushing {} failed", str_of(&job, "branch")))
            && err.contains("pre-receive hook declined"),
        "{err}"
    );
    assert!(pr.gh_calls().is_empty());
}

#[test]
fn missing_gh_missing_token_and_failing_gh_are_pr_errors() {
    // gh missing: the branch is pushed, the PR is not opened.
    let pr = Pr::new().env("AGENTICORE_GH_BINARY", "/nonexistent/bin/gh");
    let (code, job) = pr.submit("commit [fake:commit=1]", URL, &[]);
    assert_eq!(code, 0, "{job}");
    assert_eq!(job["status"], "succeeded");
    let err = str_of(&job, "pr_error");
    assert!(
        err.contains("pushed agenticore/")
            && err.contains("GitHub CLI")
            && err.contains("not found"),
        "{err}"
    );
    assert!(
        pr.remote_branches()
            .iter()
            .any(|b| b == str_of(&job, "branch"))
    );

    // No token: pushed (the remote needs none), no PR, gh never asked.
    let pr = Pr::with(URL, false);
    let (code, job) = pr.submit("commit [fake:commit=1]", URL, &[]);
    assert_eq!(code, 0, "{job}");
    assert!(
        str_of(&job, "pr_error").contains("no GitHub token"),
        "{job}"
    );
    assert!(pr.gh_calls().is_empty());

    // gh fails: its message is the reason.
    let pr = Pr::new().env("FAKE_GH_FAIL", "create");
    let (code, job) = pr.submit("commit [fake:commit=1]", URL, &[]);
    assert_eq!(code, 0, "{job}");
    assert_eq!(job["status"], "succeeded");
    let err = str_of(&job, "pr_error");
    assert!(
        err.contains("gh pr create failed (exit 1)") && err.contains("fake gh was told to fail"),
        "{err}"
    );
}

#[test]
fn other_hosts_are_pushed_without_a_pr_and_enterprise_hosts_get_one() {
    // A local remote.
    let pr = Pr::new();
    let file_url = format!("file://{}", pr.remote.display());
    let (code, job) = pr.submit("commit [fake:commit=1]", &file_url, &[]);
    assert_eq!(code, 0, "{job}");
    assert!(
        str_of(&job, "pr_error").contains("local repository"),
        "{job}"
    );
    assert!(
        pr.remote_branches()
            .iter()
            .any(|b| b == str_of(&job, "branch"))
    );

    // A non-GitHub host.
    let gitlab = "https://gitlab.example.com/acme/widgets.git";
    let pr = Pr::with(gitlab, true);
    let (code, job) = pr.submit("commit [fake:commit=1]", gitlab, &[]);
    assert_eq!(code, 0, "{job}");
    let err = str_of(&job, "pr_error");
    assert!(
        err.contains("pushed agenticore/")
            && err.contains("gitlab.example.com is not a GitHub host"),
        "{err}"
    );
    assert!(
        pr.remote_branches()
            .iter()
            .any(|b| b == str_of(&job, "branch"))
    );
    assert!(pr.gh_calls().is_empty());

    // A configured GitHub Enterprise host.
    let ghe = "https://ghe.example.com/acme/widgets.git";
    let pr = Pr::with(ghe, true).env("AGENTICORE_GITHUB_HOSTS", "ghe.example.com");
    let (code, job) = pr.submit("commit [fake:commit=1]", ghe, &[]);
    assert_eq!(code, 0, "{job}");
    assert_eq!(
        job["pr_url"], "https://ghe.example.com/acme/widgets/pull/1",
        "{job}"
    );
    let calls = pr.gh_calls();
    let create = calls.iter().find(|c| c["op"] == "create").expect("create");
    assert_eq!(create["env"]["GH_HOST"], "ghe.example.com");
    assert_eq!(create["env"]["GH_ENTERPRISE_TOKEN"], pr.token.as_str());
}

#[test]
fn the_token_is_nowhere_it_must_not_be() {
    let pr = Pr::new();
    let rec = pr.sb.path().join("claude-record.json");
    let task = format!("commit [fake:commit=1;record={}]", rec.display());
    let out = pr
        .sb
        .run(&["submit", &task, "--repo", URL, "--wait", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let job_json = stdout(&out);
    let v: serde_json::Value = serde_json::from_str(&job_json).expect("json");
    let job = &v["job"];
    assert!(job["pr_url"].is_string(), "{job}");
    let id = str_of(job, "id");
    let t = pr.token.as_str();

    // Positive control: gh got it, in GH_TOKEN.
    let calls = pr.gh_calls();
    assert!(!calls.is_empty());
    for c in &calls {
        assert_eq!(c["env"]["GH_TOKEN"], t);
        assert!(
            !c["argv"].to_string().contains(t),
            "token in gh argv: {}",
            c["argv"]
        );
        assert!(!c["stdin"].to_string().contains(t), "token in the PR body");
    }
    let cache_config = std::fs::read_to_string(pr.cache().join("config")).expect("cache config");
    assert!(
        !cache_config.contains(t),
        "token in the clone cache's config"
    );
    assert!(!cache_config.contains("insteadOf"), "{cache_config}");
    assert!(!job_json.contains(t), "token in the job JSON");
    let again = stdout(&pr.sb.run(&["job", id, "--json"]));
    assert!(!again.contains(t));
    let log = std::fs::read_to_string(pr.sb.home().join("logs").join(format!("{id}.jsonl")))
        .expect("log");
    assert!(!log.contains(t), "token in the job log");
    assert!(!stderr(&out).contains(t), "token on agenticore's stderr");
    let claude = std::fs::read_to_string(&rec).expect("claude record");
    assert!(!claude.contains(t), "token in claude's environment or argv");
    // The remote's config is untouched too.
    let remote_config = std::fs::read_to_string(pr.remote.join("config")).expect("config");
    assert!(!remote_config.contains(t));
}

#[test]
fn parallel_jobs_on_one_repo_each_push_their_branch() {
    let pr = Pr::new();
    let sb = &pr.sb;
    let ids: Vec<String> = (0..3)
        .map(|i| {
            let out = sb.run(&[
                "submit",
                &format!("parallel {i} [fake:commit=1;sleep=0.5]"),
                "--repo",
                URL,
            ]);
            assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
            stdout(&out).trim().to_string()
        })
        .collect();
    let mut urls = Vec::new();
    let mut branches = Vec::new();
    for id in &ids {
        let job = sb.wait_status(
            id,
            &["succeeded", "failed", "cancelled"],
            Duration::from_secs(60),
        );
        assert_eq!(job["status"], "succeeded", "{job}");
        urls.push(str_of(&job, "pr_url").to_string());
        branches.push(str_of(&job, "branch").to_string());
        assert!(job.get("pr_error").is_none(), "{job}");
    }
    urls.sort();
    urls.dedup();
    assert_eq!(urls.len(), 3, "{urls:?}");
    let remote = pr.remote_branches();
    for b in &branches {
        assert!(remote.contains(b), "{b} not pushed: {remote:?}");
    }
    // The cache is sound, and the next job on it works.
    let cache = pr.cache();
    let fsck = std::process::Command::new("git")
        .arg(format!("--git-dir={}", cache.display()))
        .args(["fsck", "--no-progress"])
        .output()
        .expect("fsck");
    assert!(
        fsck.status.success(),
        "{}",
        String::from_utf8_lossy(&fsck.stderr)
    );
    let (code, job) = pr.submit("after [fake:commit=1]", URL, &[]);
    assert_eq!(code, 0, "{job}");
    assert_eq!(
        job["pr_url"], "https://github.com/acme/widgets/pull/4",
        "{job}"
    );
}
