//! A real `agenticore serve` process for tests: started on the sandbox, its URL read from
//! the first line it prints, killed when dropped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::Sandbox;

pub struct Daemon {
    pub child: Child,
    pub url: String,
}

impl Daemon {
    /// `agenticore serve EXTRA...` (give `--port 0` for a free port).
    pub fn start(sb: &Sandbox, extra: &[&str]) -> Daemon {
        Self::spawn(sb, extra, Stdio::null())
    }

    /// Like `start`, but the daemon's log (stderr) goes to `log`.
    pub fn start_logging(sb: &Sandbox, extra: &[&str], log: &std::path::Path) -> Daemon {
        let file = std::fs::File::create(log).expect("log file");
        Self::spawn(sb, extra, Stdio::from(file))
    }

    /// Read the URL from the first line it prints; keep draining stdout so later prints never
    /// hit a closed pipe.
    fn spawn(sb: &Sandbox, extra: &[&str], stderr: Stdio) -> Daemon {
        let mut child = sb
            .cmd()
            .args(["serve"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line).expect("read url");
        std::thread::spawn(move || {
            let mut sink = String::new();
            while reader.read_line(&mut sink).is_ok_and(|n| n > 0) {
                sink.clear();
            }
        });
        let url = line.trim().rsplit(' ').next().expect("url").to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "{line}");
        Daemon { child, url }
    }

    /// `POST /jobs {"task": task}` with curl; the new job's id.
    pub fn post(&self, task: &str) -> String {
        self.post_with_key(task, None)
    }

    /// `post`, sending `key` as `X-API-Key`.
    pub fn post_with_key(&self, task: &str, key: Option<&str>) -> String {
        let body = serde_json::json!({"task": task}).to_string();
        let mut c = std::process::Command::new("curl");
        c.args(["-sf", "-X", "POST", "-H", "Content-Type: application/json"]);
        if let Some(k) = key {
            c.arg("-H").arg(format!("X-API-Key: {k}"));
        }
        let out = c
            .args(["-d", &body])
            .arg(format!("{}/jobs", self.url))
            .output()
            .expect("curl");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("POST failed: {}", String::from_utf8_lossy(&out.stderr)));
        v["job"]["id"].as_str().expect("id").to_string()
    }

    /// `GET /metrics` (with `key` as `X-API-Key`), as `name{labels}` -> value.
    pub fn metrics(&self, key: Option<&str>) -> std::collections::HashMap<String, f64> {
        let mut c = std::process::Command::new("curl");
        c.arg("-sf");
        if let Some(k) = key {
            c.arg("-H").arg(format!("X-API-Key: {k}"));
        }
        let out = c
            .arg(format!("{}/metrics", self.url))
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (k, v) = l.rsplit_once(' ')?;
                Some((k.to_string(), v.parse().ok()?))
            })
            .collect()
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig)
            .expect("signal");
    }

    /// The exit code, once it exited within `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let t0 = Instant::now();
        while t0.elapsed() < within {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
