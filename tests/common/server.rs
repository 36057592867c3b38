//! An in-process agenticore server for HTTP tests: a private home, the fake claude, the real
//! engine and scheduler, and `server::serve` on 127.0.0.1:0.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agenticore::config::Config;
use agenticore::engine::{Engine, RunMode};
use agenticore::server::{self, AppState};
use agenticore::store::sqlite::SqliteStore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
    pub engine: Engine,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

#[derive(Default)]
pub struct Opts {
    pub keys: Vec<String>,
    pub max_parallel: usize,
    pub extra_env: Vec<(&'static str, String)>,
}

impl TestServer {
    pub async fn start(opts: Opts) -> TestServer {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("agenticore");
        std::fs::create_dir_all(dir.path().join("home")).expect("home");
        let mut env: HashMap<&'static str, String> = HashMap::from([
            ("AGENTICORE_HOME", home.display().to_string()),
            ("HOME", dir.path().join("home").display().to_string()),
            (
                "AGENTICORE_REPOS_ROOT",
                dir.path().join("repos").display().to_string(),
            ),
            (
                "AGENTICORE_CLAUDE_BINARY",
                super::fake_claude().display().to_string(),
            ),
            ("AGENTICORE_OTEL_ENABLED", "false".into()),
            ("AGENTICORE_KILL_GRACE", "1".into()),
            (
                "AGENTICORE_MAX_PARALLEL_JOBS",
                opts.max_parallel.max(1).to_string(),
            ),
        ]);
        env.extend(opts.extra_env);
        let config = Config::load_with(&|k| env.get(k).cloned()).expect("config");
        let store = SqliteStore::open(&config.jobs_db_path()).expect("store");
        let engine = Engine::new(config, Arc::new(store), PathBuf::from(super::BIN));
        let state = AppState::new(engine.clone(), opts.keys, "test-pod".into());
        let stop = CancellationToken::new();

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let sched = {
            let engine = engine.clone();
            let stop = stop.clone();
            tokio::spawn(async move { engine.run_scheduler(RunMode::Forever, stop).await })
        };
        let srv = {
            let stop = stop.clone();
            tokio::spawn(async move {
                server::serve(listener, state, async move { stop.cancelled().await })
                    .await
                    .expect("serve");
            })
        };
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .expect("client");
        TestServer {
            base,
            client,
            dir,
            engine,
            stop,
            tasks: vec![sched, srv],
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `METHOD path` with an optional JSON body: (status, JSON body or `Null`, content type).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut rb = self.client.request(method, self.url(path));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.expect("send");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let v = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!("{path}: body is not JSON ({e}): {text:?}");
        });
        (status, v)
    }

    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::DELETE, path, None).await
    }

    /// Poll `GET /jobs/{id}` until its status is one of `want` (bounded).
    pub async fn wait_status(
        &self,
        id: &str,
        want: &[&str],
        within: Duration,
    ) -> serde_json::Value {
        let deadline = Instant::now() + within;
        loop {
            let (code, v) = self.get(&format!("/jobs/{id}")).await;
            assert_eq!(code, 200, "{v}");
            let st = v["job"]["status"].as_str().unwrap_or_default().to_string();
            if want.contains(&st.as_str()) {
                return v["job"].clone();
            }
            assert!(Instant::now() < deadline, "job {id} still {st}: {v}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stop the server and the scheduler (running jobs are killed) and wait for both.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        for t in self.tasks.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(20), t).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Replace the values of `keys` (anywhere in `v` but inside `tokens`) by `"<masked>"`.
pub fn mask(v: &mut serde_json::Value, keys: &[&str]) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if keys.contains(&k.as_str()) {
                    *x = serde_json::Value::String("<masked>".into());
                } else if k != "tokens" {
                    mask(x, keys);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| mask(x, keys)),
        _ => {}
    }
}

/// The keys of a JSON object, in order.
pub fn keys(v: &serde_json::Value) -> Vec<String> {
    v.as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}
