//! Test helpers: an isolated agenticore home, the fake claude, real git repos with `file://`
//! bare remotes, and /proc checks for leftover processes.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_agenticore");

pub fn fake_claude() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fake-claude")
}

/// A private agenticore installation: home, repos root, config, and the fake claude.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub extra_env: Vec<(String, String)>,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("home")).expect("home");
        Sandbox {
            dir,
            extra_env: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn home(&self) -> PathBuf {
        self.path().join("agenticore")
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.extra_env.push((k.into(), v.into()));
        self
    }

    /// `agenticore ARGS` with the sandbox's environment (and nothing of the caller's
    /// AGENTICORE_* / REDIS_URL).
    pub fn cmd(&self) -> Command {
        self.command(BIN)
    }

    /// Any program (a shell that calls agenticore back, say) with the sandbox's environment.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        for (k, _) in std::env::vars() {
            if k.starts_with("AGENTICORE_") || k == "REDIS_URL" || k == "POSTGRES_URL" {
                c.env_remove(k);
            }
        }
        c.env("HOME", self.path().join("home"))
            .env("AGENTICORE_HOME", self.home())
            .env("AGENTICORE_REPOS_ROOT", self.path().join("repos"))
            .env("AGENTICORE_CLAUDE_BINARY", fake_claude())
            .env("AGENTICORE_OTEL_ENABLED", "false")
            .env("AGENTICORE_KILL_GRACE", "1")
            // No daemon answers here, so the CLI never talks to one the machine happens to run.
            .env("AGENTICORE_PORT", "1")
            .env("RUST_LOG", "agenticore=info");
        for (k, v) in &self.extra_env {
            c.env(k, v);
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run agenticore")
    }

    /// Run and parse stdout as JSON (the command must have been given `--json`).
    pub fn json(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let out = self.run(args);
        let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout of {args:?} is not JSON ({e}): {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap_or(-1), v)
    }

    pub fn job(&self, id: &str) -> serde_json::Value {
        let (code, v) = self.json(&["job", id, "--json"]);
        assert_eq!(code, 0, "job {id}: {v}");
        v["job"].clone()
    }

    pub fn wait_status(&self, id: &str, want: &[&str], within: Duration) -> serde_json::Value {
        let deadline = Instant::now() + within;
        loop {
            let job = self.job(id);
            let st = job["status"].as_str().unwrap_or("").to_string();
            if want.contains(&st.as_str()) {
                return job;
            }
            assert!(
                Instant::now() < deadline,
                "job {id} still {st} after {within:?}: {job}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn write_profile(&self, name: &str, yaml: &str) {
        let dir = self.home().join("profiles").join(name);
        std::fs::create_dir_all(&dir).expect("profile dir");
        std::fs::write(dir.join("profile.yml"), yaml).expect("profile");
    }
}

/// `PATH` with `dir` first.
pub fn path_with(dir: &Path) -> String {
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Live processes whose environment carries `AGENTICORE_JOB_ID=<id>`.
pub fn job_processes(id: &str) -> Vec<u32> {
    let needle = format!("AGENTICORE_JOB_ID={id}");
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(')')
            .map(|(_, r)| r.trim_start().chars().next());
        if state == Some(Some('Z')) || stat.is_empty() {
            continue;
        }
        if let Ok(env) = std::fs::read(format!("/proc/{pid}/environ"))
            && env.split(|&b| b == 0).any(|kv| kv == needle.as_bytes())
        {
            out.push(pid);
        }
    }
    out
}

/// Wait (20 s at most) for a running job with at least `n` live processes; its id.
pub fn running_job_with_processes(sb: &Sandbox, n: usize) -> String {
    let t0 = Instant::now();
    loop {
        let (_, v) = sb.json(&["jobs", "--json", "--status", "running"]);
        if let Some(id) = v["jobs"][0]["id"].as_str()
            && job_processes(id).len() >= n
        {
            return id.to_string();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "no running job with {n} processes"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wait (bounded) until no process of the job is left; return what is left.
pub fn wait_no_processes(id: &str, within: Duration) -> Vec<u32> {
    let deadline = Instant::now() + within;
    loop {
        let left = job_processes(id);
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A bare repo at `<dir>/remote.git` with one commit on `main`; returns its file:// URL.
pub fn bare_remote(dir: &Path) -> String {
    bare_remote_with(dir, &[("README.md", "hello\n")])
}

/// A bare repo at `<dir>/remote.git` whose one commit on `main` holds `files` (path, content).
pub fn bare_remote_with(dir: &Path, files: &[(&str, &str)]) -> String {
    let work = dir.join("seed-work");
    std::fs::create_dir_all(&work).expect("work");
    git(&work, &["init", "-q", "-b", "main"]);
    for (path, content) in files {
        std::fs::write(work.join(path), content).expect("write");
    }
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "init"]);
    let bare = dir.join("remote.git");
    git(
        dir,
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().expect("utf8"),
            bare.to_str().expect("utf8"),
        ],
    );
    format!("file://{}", bare.display())
}
pub mod daemon;
pub mod jobs;
pub mod postgres;
pub mod redis_prefix;
pub mod server;
