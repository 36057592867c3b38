//! The deployment files — Dockerfile, .dockerignore, docker-compose.yml,
//! deploy/otel-collector.yml, .env.example and the Kubernetes example in deploy/kubernetes/ —
//! checked for the wiring a user relies on, without Docker or a cluster: services reach each
//! other by the names and ports they really use, healthchecks exist where compose waits for
//! them, mounted files exist, published ports stay on loopback, the collector's pipelines are
//! complete, and .env.example matches what the binary reads. For Kubernetes: the port `serve`
//! gets is the container's, the Service's and the probes', the environment is what the binary
//! reads with secrets only from the Secret, the grace period covers the drain, Redis persists,
//! and KEDA watches the stream the Redis store writes (its key read from the source).
//! `tests/docker-build.sh` builds and runs the image where a Docker daemon exists.
//!
//! Each test collects every problem it finds and fails with all of them, each naming its file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value;

const COMPOSE: &str = "docker-compose.yml";
const COLLECTOR: &str = "deploy/otel-collector.yml";
const DOCKERFILE: &str = "Dockerfile";
const DOCKERIGNORE: &str = ".dockerignore";
const ENV_EXAMPLE: &str = ".env.example";
const K8S_AGENTICORE: &str = "deploy/kubernetes/agenticore.yaml";
const K8S_REDIS: &str = "deploy/kubernetes/redis.yaml";
const K8S_KEDA: &str = "deploy/kubernetes/keda-scaledobject.yaml";
const K8S_README: &str = "deploy/kubernetes/README.md";
const K8S_FILES: &[&str] = &[K8S_AGENTICORE, K8S_REDIS, K8S_KEDA];
/// The namespace every Kubernetes object is in (KEDA's Redis address names it).
const K8S_NAMESPACE: &str = "agenticore";
/// The Redis store's Lua scripts: the queue's key.
const REDIS_LUA: &str = "src/store/redis_lua.rs";
/// The API keys middleware: the routes open without a key.
const AUTH_RS: &str = "src/server/auth.rs";

/// The environment variables of the original's configuration table (plus the Anthropic key).
const SEED_VARS: &[&str] = &[
    "AGENTICORE_TRANSPORT",
    "AGENTICORE_HOST",
    "AGENTICORE_PORT",
    "AGENTICORE_API_KEYS",
    "REDIS_URL",
    "REDIS_KEY_PREFIX",
    "AGENTICORE_CLAUDE_BINARY",
    "AGENTICORE_CLAUDE_TIMEOUT",
    "AGENTICORE_DEFAULT_PROFILE",
    "AGENTICORE_CLAUDE_CONFIG_DIR",
    "AGENTICORE_REPOS_ROOT",
    "AGENTICORE_MAX_PARALLEL_JOBS",
    "AGENTICORE_JOB_TTL",
    "AGENTICORE_OTEL_ENABLED",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "AGENTICORE_OTEL_LOG_PROMPTS",
    "AGENTICORE_OTEL_LOG_TOOL_DETAILS",
    "GITHUB_TOKEN",
    "POSTGRES_URL",
    "ANTHROPIC_API_KEY",
];

/// Secrets: .env.example must leave them empty.
const SECRET_VARS: &[&str] = &[
    "AGENTICORE_API_KEYS",
    "AGENTICORE_API_KEY",
    "ANTHROPIC_API_KEY",
    "GITHUB_TOKEN",
    "POSTGRES_PASSWORD",
    "AGENTICORE_COLLECTOR_API_KEY",
];

/// Read by a library rather than by a string literal in src/: `RUST_LOG` by tracing's
/// `EnvFilter::try_from_default_env` (src/cli/mod.rs).
const LIBRARY_VARS: &[&str] = &["RUST_LOG"];

/// Prefixes agenticore passes through to claude (src/engine/claude.rs, PASS_PREFIX): a variable
/// with one of them is read by Claude Code.
const CLAUDE_PREFIXES: &[&str] = &["ANTHROPIC_", "CLAUDE_"];

const SERVICES: &[&str] = &["agenticore", "redis", "postgres", "otel-collector"];

// ---------------------------------------------------------------------------------------------
// Reading the files.

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel))
        .unwrap_or_else(|e| panic!("{rel}: cannot read it: {e}"))
}

fn yaml(rel: &str) -> Value {
    serde_yaml::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: not valid YAML: {e}"))
}

/// Fails with every problem, one per line.
fn check(problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "\n{}\n",
        problems
            .iter()
            .map(|p| format!("- {p}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(*k))
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn keys(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_mapping)
        .map(|m| m.keys().filter_map(text).collect())
        .unwrap_or_default()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_sequence)
        .map(|s| s.iter().filter_map(text).collect())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Compose helpers.

struct Compose {
    doc: Value,
}

impl Compose {
    fn load() -> Compose {
        Compose { doc: yaml(COMPOSE) }
    }

    fn service(&self, name: &str) -> Option<&Value> {
        get(&self.doc, &["services", name])
    }

    fn service_names(&self) -> Vec<String> {
        keys(self.doc.get("services"))
    }

    /// `environment:` as a map, from either the mapping or the `KEY=value` list form.
    fn env(&self, service: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        match self.service(service).and_then(|s| s.get("environment")) {
            Some(Value::Mapping(m)) => {
                for (k, v) in m {
                    if let Some(k) = text(k) {
                        out.insert(k, text(v).unwrap_or_default());
                    }
                }
            }
            Some(Value::Sequence(items)) => {
                for item in items.iter().filter_map(text) {
                    let (k, v) = item.split_once('=').unwrap_or((&item, ""));
                    out.insert(k.to_string(), v.to_string());
                }
            }
            _ => {}
        }
        out
    }

    /// The container port agenticore listens on: its AGENTICORE_PORT (compose, else the image).
    fn agenticore_port(&self, docker: &Dockerfile) -> Option<u16> {
        self.env("agenticore")
            .get("AGENTICORE_PORT")
            .cloned()
            .or_else(|| docker.env.get("AGENTICORE_PORT").cloned())
            .and_then(|p| p.parse().ok())
    }
}

/// `s` with every `${...}` (nested too) and `$$` replaced by a same-length run of `x`, so the
/// structure of a URL around interpolations can be found by position.
fn mask_interpolations(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && b.get(i + 1) == Some(&b'$') {
            out[i] = b'x';
            out[i + 1] = b'x';
            i += 2;
        } else if b[i] == b'$' && b.get(i + 1) == Some(&b'{') {
            let start = i;
            let mut depth = 0;
            while i < b.len() {
                match b[i] {
                    b'{' => depth += 1,
                    b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            let end = (i + 1).min(b.len());
            out[start..end].fill(b'x');
            i = end;
        } else {
            i += 1;
        }
    }
    String::from_utf8(out).expect("ascii replacement keeps UTF-8")
}

/// Names a compose text interpolates: `${NAME...}` (nested too) and `$NAME`, not `$$NAME`.
fn interpolated_names(s: &str) -> BTreeSet<String> {
    let b = s.as_bytes();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && b.get(i + 1) == Some(&b'$') {
            i += 2;
            continue;
        }
        if b[i] == b'$' {
            let start = if b.get(i + 1) == Some(&b'{') {
                i + 2
            } else {
                i + 1
            };
            let end = (start..b.len())
                .find(|&j| !(b[j].is_ascii_alphanumeric() || b[j] == b'_'))
                .unwrap_or(b.len());
            if end > start && !b[start].is_ascii_digit() {
                names.insert(s[start..end].to_string());
            }
        }
        i += 1;
    }
    names
}

/// The parts of `scheme://[user[:password]@]host[:port][/path]`, interpolations kept verbatim.
#[derive(Debug, Default)]
struct Url {
    scheme: String,
    user: Option<String>,
    password: Option<String>,
    host: String,
    port: Option<String>,
    path: String,
}

fn parse_url(url: &str) -> Option<Url> {
    let masked = mask_interpolations(url);
    let scheme_end = masked.find("://")?;
    let rest = scheme_end + 3;
    let authority_end = masked[rest..]
        .find(['/', '?', '#'])
        .map_or(masked.len(), |i| rest + i);
    let mut u = Url {
        scheme: url[..scheme_end].to_string(),
        path: url[authority_end..].to_string(),
        ..Url::default()
    };
    let mut host_start = rest;
    if let Some(at) = masked[rest..authority_end].rfind('@') {
        let at = rest + at;
        match masked[rest..at].find(':') {
            Some(c) => {
                u.user = Some(url[rest..rest + c].to_string());
                u.password = Some(url[rest + c + 1..at].to_string());
            }
            None => u.user = Some(url[rest..at].to_string()),
        }
        host_start = at + 1;
    }
    match masked[host_start..authority_end].rfind(':') {
        Some(c) => {
            u.host = url[host_start..host_start + c].to_string();
            u.port = Some(url[host_start + c + 1..authority_end].to_string());
        }
        None => u.host = url[host_start..authority_end].to_string(),
    }
    Some(u)
}

// ---------------------------------------------------------------------------------------------
// Collector helpers.

/// The component type of an id such as `otlp_http/agenticore`.
fn component_type(id: &str) -> &str {
    id.split('/').next().unwrap_or(id)
}

/// The ports the collector's OTLP receivers listen on, by protocol (`grpc`, `http`).
fn receiver_ports(collector: &Value) -> BTreeMap<String, (String, u16)> {
    let mut out = BTreeMap::new();
    for id in keys(collector.get("receivers")) {
        if component_type(&id) != "otlp" {
            continue;
        }
        for proto in ["grpc", "http"] {
            if let Some(ep) = get(
                collector,
                &["receivers", &id, "protocols", proto, "endpoint"],
            )
            .and_then(text)
                && let Some((host, port)) = ep.rsplit_once(':')
                && let Ok(port) = port.parse()
            {
                out.insert(proto.to_string(), (host.to_string(), port));
            }
        }
    }
    out
}

/// `${env:NAME}` references of the collector config.
fn collector_env_refs(s: &str) -> BTreeSet<String> {
    s.match_indices("${env:")
        .filter_map(|(i, m)| {
            let rest = &s[i + m.len()..];
            let end = rest.find(['}', ':'])?;
            Some(rest[..end].to_string())
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Dockerfile helpers.

#[derive(Debug, Default)]
struct Stage {
    from: String,
    instructions: Vec<(String, String)>,
}

#[derive(Debug, Default)]
struct Dockerfile {
    /// Global ARGs (before the first FROM) with their defaults.
    args: BTreeMap<String, String>,
    stages: Vec<Stage>,
    /// ENV of the final stage.
    env: BTreeMap<String, String>,
}

impl Dockerfile {
    fn load() -> Dockerfile {
        let mut d = Dockerfile::default();
        let mut logical = String::new();
        let mut lines = Vec::new();
        for line in read(DOCKERFILE).lines() {
            let t = line.trim();
            // Comments (also inside a continued instruction), parser directives, blank lines.
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            if let Some(head) = t.strip_suffix('\\') {
                logical.push_str(head);
                logical.push(' ');
            } else {
                logical.push_str(t);
                lines.push(std::mem::take(&mut logical));
            }
        }
        for line in lines {
            let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
            let (word, rest) = (word.to_ascii_uppercase(), rest.trim().to_string());
            if word == "FROM" {
                d.stages.push(Stage {
                    from: d.expand(rest.split_whitespace().next().unwrap_or_default()),
                    instructions: Vec::new(),
                });
            } else if let Some(stage) = d.stages.last_mut() {
                stage.instructions.push((word, rest));
            } else if word == "ARG" {
                let (k, v) = rest.split_once('=').unwrap_or((&rest, ""));
                d.args.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
        let env: Vec<(String, String)> = d.final_stage("ENV").into_iter().collect();
        for (_, rest) in env {
            for pair in rest.split_whitespace() {
                if let Some((k, v)) = pair.split_once('=') {
                    d.env.insert(k.to_string(), v.trim_matches('"').to_string());
                }
            }
        }
        d
    }

    /// `${NAME}` replaced by the global ARG's default.
    fn expand(&self, s: &str) -> String {
        let mut out = s.to_string();
        for (k, v) in &self.args {
            out = out
                .replace(&format!("${{{k}}}"), v)
                .replace(&format!("${k}"), v);
        }
        out
    }

    fn final_stage(&self, word: &str) -> Vec<(String, String)> {
        self.stages
            .last()
            .map(|s| {
                s.instructions
                    .iter()
                    .filter(|(w, _)| w == word)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    fn all(&self, word: &str) -> Vec<String> {
        self.stages
            .iter()
            .flat_map(|s| &s.instructions)
            .filter(|(w, _)| w == word)
            .map(|(_, rest)| self.expand(rest))
            .collect()
    }
}

fn version(s: &str) -> Vec<u32> {
    s.split('.').map_while(|p| p.parse().ok()).collect()
}

// ---------------------------------------------------------------------------------------------
// The binary's view of its configuration.

/// `agenticore config --json` in an empty environment: (env name, value, source) per entry, and
/// the HOME it ran with.
fn config_entries() -> (Vec<(String, String, String)>, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let out = Command::new(env!("CARGO_BIN_EXE_agenticore"))
        .args(["config", "--json"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("AGENTICORE_HOME", dir.path().join("agenticore"))
        .output()
        .expect("run agenticore config --json");
    assert!(
        out.status.success(),
        "agenticore config --json failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("agenticore config --json prints JSON");
    let entries = v["config"]
        .as_array()
        .expect("config --json has a `config` list")
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (s("env"), s("value"), s("source"))
        })
        .collect();
    (entries, home, dir)
}

/// Every `"NAME"` string literal of src/ that looks like an environment variable name.
fn src_env_literals() -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("read src/").flatten() {
            let p = entry.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                for lit in text.split('"').skip(1).step_by(2) {
                    if lit.len() > 2
                        && lit.contains('_')
                        && lit
                            .bytes()
                            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
                    {
                        out.insert(lit.to_string());
                    }
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(&root().join("src"), &mut out);
    out
}

/// .env.example's variables: name -> (value, active). `NAME=value` is active; `# NAME=value`
/// documents a default.
fn env_example() -> (BTreeMap<String, (String, bool)>, Vec<String>) {
    let mut vars = BTreeMap::new();
    let mut duplicates = Vec::new();
    for line in read(ENV_EXAMPLE).lines() {
        let (active, body) = match line.strip_prefix("# ") {
            Some(rest) => (false, rest),
            None => (true, line),
        };
        let Some((name, value)) = body.split_once('=') else {
            continue;
        };
        let is_name = !name.is_empty()
            && name
                .bytes()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_');
        if !is_name || (!active && value.contains(' ')) {
            continue;
        }
        if vars
            .insert(name.to_string(), (value.to_string(), active))
            .is_some()
        {
            duplicates.push(name.to_string());
        }
    }
    (vars, duplicates)
}

// ---------------------------------------------------------------------------------------------
// docker-compose.yml

#[test]
fn compose_wires_agenticore_to_redis_postgres_and_the_collector() {
    let c = Compose::load();
    let collector = yaml(COLLECTOR);
    let docker = Dockerfile::load();
    let mut p = Vec::new();

    let names = c.service_names();
    for s in SERVICES {
        if !names.iter().any(|n| n == s) {
            p.push(format!("{COMPOSE}: no service `{s}` (services: {names:?})"));
        }
    }
    let env = c.env("agenticore");
    let var = |k: &str| env.get(k).cloned().unwrap_or_default();

    match parse_url(&var("REDIS_URL")) {
        Some(u)
            if u.scheme == "redis" && u.host == "redis" && u.port.as_deref() == Some("6379") => {}
        _ => p.push(format!(
            "{COMPOSE}: services.agenticore.environment.REDIS_URL is {:?}; expected \
             redis://redis:6379/<db> (the `redis` service)",
            var("REDIS_URL")
        )),
    }

    let pg_env = c.env("postgres");
    match parse_url(&var("POSTGRES_URL")) {
        Some(u) => {
            if !matches!(u.scheme.as_str(), "postgres" | "postgresql")
                || u.host != "postgres"
                || u.port.as_deref().is_some_and(|p| p != "5432")
            {
                p.push(format!(
                    "{COMPOSE}: services.agenticore.environment.POSTGRES_URL is {:?}; expected \
                     postgres://…@postgres:5432/… (the `postgres` service)",
                    var("POSTGRES_URL")
                ));
            }
            // The URL's account and database are the ones the postgres service creates.
            for (part, value, pg_var) in [
                ("user", u.user.clone(), "POSTGRES_USER"),
                ("password", u.password.clone(), "POSTGRES_PASSWORD"),
                (
                    "database",
                    Some(u.path.trim_start_matches('/').to_string()),
                    "POSTGRES_DB",
                ),
            ] {
                let expected = pg_env.get(pg_var);
                if value.as_ref() != expected {
                    p.push(format!(
                        "{COMPOSE}: the {part} of services.agenticore.environment.POSTGRES_URL \
                         is {value:?} but services.postgres.environment.{pg_var} is {expected:?}"
                    ));
                }
            }
        }
        None => p.push(format!(
            "{COMPOSE}: services.agenticore.environment.POSTGRES_URL is missing or not a URL"
        )),
    }

    // Claude Code (inside the agenticore container) exports to the collector: the endpoint's
    // port must be the one the collector's OTLP receiver of that protocol listens on.
    let ports = receiver_ports(&collector);
    let protocol = var("OTEL_EXPORTER_OTLP_PROTOCOL");
    let proto = if protocol == "grpc" { "grpc" } else { "http" };
    match parse_url(&var("OTEL_EXPORTER_OTLP_ENDPOINT")) {
        Some(u) if u.host == "otel-collector" => {
            let want = ports.get(proto).map(|(_, port)| port.to_string());
            if u.port != want {
                p.push(format!(
                    "{COMPOSE}: services.agenticore.environment.OTEL_EXPORTER_OTLP_ENDPOINT uses \
                     port {:?} with protocol {protocol:?}, but {COLLECTOR}'s OTLP {proto} receiver \
                     listens on {want:?}",
                    u.port
                ));
            }
        }
        _ => p.push(format!(
            "{COMPOSE}: services.agenticore.environment.OTEL_EXPORTER_OTLP_ENDPOINT is {:?}; \
             expected http://otel-collector:<receiver port>",
            var("OTEL_EXPORTER_OTLP_ENDPOINT")
        )),
    }

    // Keys are required, with a message, since the container listens on 0.0.0.0.
    let keys_value = var("AGENTICORE_API_KEYS");
    if !keys_value.starts_with("${AGENTICORE_API_KEYS:?") || keys_value.len() < 40 {
        p.push(format!(
            "{COMPOSE}: services.agenticore.environment.AGENTICORE_API_KEYS is {keys_value:?}; \
             expected ${{AGENTICORE_API_KEYS:?<a message saying how to set it>}}"
        ));
    }
    let host = env
        .get("AGENTICORE_HOST")
        .or_else(|| docker.env.get("AGENTICORE_HOST"))
        .cloned()
        .unwrap_or_default();
    if host != "0.0.0.0" {
        p.push(format!(
            "{COMPOSE}/{DOCKERFILE}: agenticore binds {host:?} in its container; other \
             containers and the published port need 0.0.0.0"
        ));
    }
    if c.agenticore_port(&docker) != Some(8200) {
        p.push(format!(
            "{COMPOSE}/{DOCKERFILE}: agenticore's AGENTICORE_PORT is {:?}, expected 8200",
            c.agenticore_port(&docker)
        ));
    }
    check(p);
}

#[test]
fn compose_waits_only_for_services_that_have_healthchecks() {
    let c = Compose::load();
    let names = c.service_names();
    let mut p = Vec::new();
    for s in &names {
        let deps = c.service(s).and_then(|v| v.get("depends_on"));
        let listed: Vec<(String, Option<String>)> = match deps {
            Some(Value::Sequence(_)) => strings(deps).into_iter().map(|d| (d, None)).collect(),
            Some(Value::Mapping(m)) => m
                .iter()
                .filter_map(|(k, v)| Some((text(k)?, v.get("condition").and_then(text))))
                .collect(),
            _ => Vec::new(),
        };
        for (dep, condition) in listed {
            if !names.contains(&dep) {
                p.push(format!(
                    "{COMPOSE}: services.{s}.depends_on names `{dep}`, which is not a service"
                ));
                continue;
            }
            let test = c
                .service(&dep)
                .and_then(|d| get(d, &["healthcheck", "test"]));
            let has_check = test.is_some_and(|t| {
                let words = strings(Some(t));
                !(words.first().is_some_and(|w| w == "NONE")
                    || text(t).is_some_and(|t| t.is_empty()))
            });
            if condition.as_deref() == Some("service_healthy") && !has_check {
                p.push(format!(
                    "{COMPOSE}: services.{s} waits for `{dep}` to be healthy, but `{dep}` has no \
                     healthcheck.test"
                ));
            }
        }
    }
    for dep in ["redis", "postgres"] {
        let condition = c
            .service("agenticore")
            .and_then(|a| get(a, &["depends_on", dep, "condition"]))
            .and_then(text);
        if condition.as_deref() != Some("service_healthy") {
            p.push(format!(
                "{COMPOSE}: services.agenticore.depends_on.{dep}.condition is {condition:?}, \
                 expected service_healthy"
            ));
        }
    }
    check(p);
}

#[test]
fn compose_mounts_only_files_that_exist() {
    let c = Compose::load();
    let declared = keys(c.doc.get("volumes"));
    let mut p = Vec::new();
    for s in c.service_names() {
        let service = c.service(&s).expect("service");
        if let Some(build) = service.get("build") {
            let context = text(build)
                .or_else(|| build.get("context").and_then(text))
                .unwrap_or_else(|| ".".into());
            let dockerfile = build
                .get("dockerfile")
                .and_then(text)
                .unwrap_or_else(|| "Dockerfile".into());
            if !root().join(&context).join(&dockerfile).is_file() {
                p.push(format!(
                    "{COMPOSE}: services.{s}.build uses {context}/{dockerfile}, which does not exist"
                ));
            }
        }
        let volumes = service.get("volumes").and_then(Value::as_sequence);
        for v in volumes.into_iter().flatten() {
            let (source, target, kind) = match v {
                Value::String(short) => {
                    let mut parts = short.split(':');
                    let source = parts.next().unwrap_or_default().to_string();
                    let target = parts.next().unwrap_or_default().to_string();
                    let kind = if source.starts_with(['.', '/', '~']) {
                        "bind"
                    } else {
                        "volume"
                    };
                    (source, target, kind.to_string())
                }
                other => (
                    other.get("source").and_then(text).unwrap_or_default(),
                    other.get("target").and_then(text).unwrap_or_default(),
                    other.get("type").and_then(text).unwrap_or_default(),
                ),
            };
            if kind == "bind" {
                if source.starts_with('/') || source.starts_with('~') {
                    p.push(format!(
                        "{COMPOSE}: services.{s} mounts the host path {source}; mount files of \
                         this repository (./...)"
                    ));
                } else if !root().join(&source).exists() {
                    p.push(format!(
                        "{COMPOSE}: services.{s} mounts {source}, which does not exist in the \
                         repository"
                    ));
                }
            } else if kind == "volume" && !declared.contains(&source) {
                p.push(format!(
                    "{COMPOSE}: services.{s} uses the volume `{source}` (at {target}), which is \
                     not declared under the top-level `volumes:`"
                ));
            }
        }
    }

    // The collector reads its config where the file is mounted, and that file is ours.
    let collector = c.service("otel-collector");
    let config_path = strings(collector.and_then(|s| s.get("command")))
        .iter()
        .find_map(|a| a.strip_prefix("--config=").map(str::to_string))
        .unwrap_or_else(|| "/etc/otelcol-contrib/config.yaml".into());
    let mounted = strings(collector.and_then(|s| s.get("volumes")))
        .iter()
        .any(|v| v.starts_with(&format!("./{COLLECTOR}:{config_path}")));
    if !mounted {
        p.push(format!(
            "{COMPOSE}: services.otel-collector does not mount ./{COLLECTOR} at the config path \
             it starts with ({config_path})"
        ));
    }
    if let Some(image) = collector.and_then(|s| s.get("image")).and_then(text) {
        let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
        if !image.starts_with("otel/opentelemetry-collector-contrib:") || version(tag).len() != 3 {
            p.push(format!(
                "{COMPOSE}: services.otel-collector.image is {image:?}; expected \
                 otel/opentelemetry-collector-contrib:<pinned x.y.z>"
            ));
        }
    }
    for (s, prefix) in [("redis", "redis:7"), ("postgres", "postgres:16")] {
        let image = c.service(s).and_then(|v| v.get("image")).and_then(text);
        if !image.as_deref().is_some_and(|i| i.starts_with(prefix)) {
            p.push(format!(
                "{COMPOSE}: services.{s}.image is {image:?}, expected {prefix}-…"
            ));
        }
    }
    check(p);
}

#[test]
fn compose_publishes_only_agenticore_and_only_on_loopback() {
    let c = Compose::load();
    let docker = Dockerfile::load();
    let mut p = Vec::new();
    for s in c.service_names() {
        let ports = c
            .service(&s)
            .and_then(|v| v.get("ports"))
            .and_then(Value::as_sequence);
        for port in ports.into_iter().flatten() {
            let (host_ip, target) = match port {
                Value::Mapping(_) => (
                    port.get("host_ip").and_then(text).unwrap_or_default(),
                    port.get("target").and_then(text).unwrap_or_default(),
                ),
                other => {
                    let spec = text(other).unwrap_or_default();
                    let parts: Vec<&str> = spec.split(':').collect();
                    let host_ip = if parts.len() == 3 { parts[0] } else { "" };
                    let target = parts.last().copied().unwrap_or_default();
                    (
                        host_ip.to_string(),
                        target.split('/').next().unwrap_or("").to_string(),
                    )
                }
            };
            if host_ip != "127.0.0.1" {
                p.push(format!(
                    "{COMPOSE}: services.{s}.ports publishes {target} on {:?}; bind it to \
                     127.0.0.1",
                    if host_ip.is_empty() {
                        "all interfaces"
                    } else {
                        &host_ip
                    }
                ));
            }
            if s != "agenticore" {
                p.push(format!(
                    "{COMPOSE}: services.{s}.ports publishes {target}; only agenticore's port is \
                     published by default"
                ));
            } else if target.parse().ok() != c.agenticore_port(&docker) {
                p.push(format!(
                    "{COMPOSE}: services.agenticore.ports targets container port {target}, but \
                     agenticore listens on {:?}",
                    c.agenticore_port(&docker)
                ));
            }
        }
    }
    let published = c
        .service("agenticore")
        .and_then(|v| v.get("ports"))
        .and_then(Value::as_sequence)
        .is_some_and(|s| !s.is_empty());
    if !published {
        p.push(format!("{COMPOSE}: services.agenticore publishes no port"));
    }
    check(p);
}

// ---------------------------------------------------------------------------------------------
// deploy/otel-collector.yml

#[test]
fn collector_pipelines_use_only_defined_components() {
    let collector = yaml(COLLECTOR);
    let mut p = Vec::new();
    let pipelines = keys(get(&collector, &["service", "pipelines"]));
    for signal in ["traces", "metrics", "logs"] {
        if !pipelines.iter().any(|id| component_type(id) == signal) {
            p.push(format!(
                "{COLLECTOR}: no `{signal}` pipeline under service.pipelines"
            ));
        }
    }
    for kind in ["receivers", "processors", "exporters"] {
        let defined = keys(collector.get(kind));
        let mut used = BTreeSet::new();
        for pipeline in &pipelines {
            let list = strings(get(&collector, &["service", "pipelines", pipeline, kind]));
            if kind != "processors" && list.is_empty() {
                p.push(format!("{COLLECTOR}: pipeline {pipeline} has no {kind}"));
            }
            if kind == "processors" && list.first().is_some_and(|f| f != "memory_limiter") {
                p.push(format!(
                    "{COLLECTOR}: pipeline {pipeline} should run memory_limiter first, not {:?}",
                    list.first()
                ));
            }
            for id in list {
                if !defined.contains(&id) {
                    p.push(format!(
                        "{COLLECTOR}: pipeline {pipeline} uses {kind} `{id}`, which is not \
                         defined under `{kind}:` (defined: {defined:?})"
                    ));
                }
                used.insert(id);
            }
        }
        for id in defined.iter().filter(|id| !used.contains(*id)) {
            p.push(format!(
                "{COLLECTOR}: {kind} `{id}` is defined but no pipeline uses it"
            ));
        }
    }
    let ports = receiver_ports(&collector);
    for proto in ["grpc", "http"] {
        match ports.get(proto) {
            Some((host, _)) if host == "0.0.0.0" => {}
            Some((host, port)) => p.push(format!(
                "{COLLECTOR}: the OTLP {proto} receiver listens on {host}:{port}; other \
                 containers need 0.0.0.0"
            )),
            None => p.push(format!(
                "{COLLECTOR}: no OTLP receiver with a {proto} endpoint (host:port)"
            )),
        }
    }
    check(p);
}

#[test]
fn collector_exports_to_agenticore_with_an_api_key() {
    let collector = yaml(COLLECTOR);
    let raw = read(COLLECTOR);
    let c = Compose::load();
    let docker = Dockerfile::load();
    let collector_env = c.env("otel-collector");
    let mut p = Vec::new();

    let exporters: Vec<String> = keys(collector.get("exporters"))
        .into_iter()
        .filter(|id| matches!(component_type(id), "otlp_http" | "otlphttp"))
        .collect();
    if exporters.is_empty() {
        p.push(format!(
            "{COLLECTOR}: no otlp_http (otlphttp) exporter sending to agenticore"
        ));
    }
    for id in &exporters {
        let endpoint = get(&collector, &["exporters", id, "endpoint"]).and_then(text);
        let url = endpoint.as_deref().and_then(parse_url);
        let want_port = c.agenticore_port(&docker).map(|p| p.to_string());
        if !url
            .as_ref()
            .is_some_and(|u| u.host == "agenticore" && u.port == want_port)
        {
            p.push(format!(
                "{COLLECTOR}: exporters.{id}.endpoint is {endpoint:?}; expected \
                 http://agenticore:{} (the agenticore service and its port)",
                want_port.as_deref().unwrap_or("?")
            ));
        }
        let headers = get(&collector, &["exporters", id, "headers"]);
        let key_header = keys(headers).into_iter().find(|h| {
            h.eq_ignore_ascii_case("x-api-key") || h.eq_ignore_ascii_case("authorization")
        });
        let value = key_header
            .as_ref()
            .and_then(|h| headers.and_then(|v| v.get(h.as_str())))
            .and_then(text)
            .unwrap_or_default();
        if !value.contains("${env:") {
            p.push(format!(
                "{COLLECTOR}: exporters.{id}.headers has no X-API-Key (or Authorization) taken \
                 from ${{env:…}}; agenticore refuses requests without a key"
            ));
        }
    }
    // Every ${env:NAME} of the collector config is set on the collector by compose, and the key
    // comes from the keys agenticore accepts.
    for name in collector_env_refs(&raw) {
        match collector_env.get(&name) {
            None => p.push(format!(
                "{COLLECTOR} reads ${{env:{name}}}, but {COMPOSE} does not set {name} in \
                 services.otel-collector.environment"
            )),
            Some(v) if name.contains("API_KEY") && !v.contains("AGENTICORE_API_KEYS") => {
                p.push(format!(
                    "{COMPOSE}: services.otel-collector.environment.{name} is {v:?}; it should \
                     fall back to AGENTICORE_API_KEYS, the keys agenticore accepts"
                ))
            }
            Some(_) => {}
        }
    }
    check(p);
}

// ---------------------------------------------------------------------------------------------
// .env.example

#[test]
fn env_example_lists_exactly_the_variables_that_are_read() {
    let (vars, duplicates) = env_example();
    let (entries, home, _dir) = config_entries();
    let literals = src_env_literals();
    let compose_names = interpolated_names(&read(COMPOSE));
    let mut p = Vec::new();

    for d in duplicates {
        p.push(format!("{ENV_EXAMPLE}: {d} is listed twice"));
    }
    for v in SEED_VARS {
        if !vars.contains_key(*v) {
            p.push(format!(
                "{ENV_EXAMPLE}: {v} (from the original's configuration table) is missing"
            ));
        }
    }
    let config_names: BTreeSet<&str> = entries.iter().map(|(env, _, _)| env.as_str()).collect();
    for (env, value, source) in &entries {
        let Some((listed, _)) = vars.get(env) else {
            p.push(format!(
                "{ENV_EXAMPLE}: {env} is missing (`agenticore config --json` reports it)"
            ));
            continue;
        };
        // The value shown is the binary's default (`~` standing for HOME).
        let shown = listed.replacen('~', &home.display().to_string(), 1);
        if source == "default" && !SECRET_VARS.contains(&env.as_str()) && shown != *value {
            p.push(format!(
                "{ENV_EXAMPLE}: {env}={listed} but agenticore's default is {value:?}"
            ));
        }
    }
    for (name, (value, _)) in &vars {
        let known = config_names.contains(name.as_str())
            || literals.contains(name)
            || compose_names.contains(name)
            || LIBRARY_VARS.contains(&name.as_str())
            || CLAUDE_PREFIXES.iter().any(|p| name.starts_with(p));
        if !known {
            p.push(format!(
                "{ENV_EXAMPLE}: {name} is read neither by agenticore (config, src/) nor by \
                 {COMPOSE}"
            ));
        }
        if SECRET_VARS.contains(&name.as_str()) && !value.is_empty() {
            p.push(format!(
                "{ENV_EXAMPLE}: {name} is a secret; leave it empty (it has {} characters)",
                value.len()
            ));
        }
    }
    // Compose interpolates only documented variables (Compose's own aside).
    for name in &compose_names {
        if !vars.contains_key(name) {
            p.push(format!(
                "{COMPOSE} interpolates ${{{name}}}, which {ENV_EXAMPLE} does not list"
            ));
        }
    }
    check(p);
}

// ---------------------------------------------------------------------------------------------
// Dockerfile and .dockerignore

#[test]
fn dockerfile_builds_the_binary_and_runs_it_as_a_non_root_daemon() {
    let d = Dockerfile::load();
    let mut p = Vec::new();

    // Build stage: a pinned Rust at least the crate's rust-version.
    let msrv = read("Cargo.toml")
        .lines()
        .find_map(|l| {
            l.strip_prefix("rust-version").map(|r| {
                r.trim_start_matches([' ', '='])
                    .trim()
                    .trim_matches('"')
                    .to_string()
            })
        })
        .expect("Cargo.toml has rust-version");
    let rust = d.stages.iter().find(|s| s.from.starts_with("rust:"));
    match rust.map(|s| s.from.trim_start_matches("rust:").to_string()) {
        Some(tag) if tag.ends_with("-slim-bookworm") && version(&tag) >= version(&msrv) => {}
        other => p.push(format!(
            "{DOCKERFILE}: the build stage is FROM rust:{other:?}; expected a pinned \
             rust:<version ≥ {msrv}>-slim-bookworm"
        )),
    }
    let builds = d
        .all("RUN")
        .iter()
        .any(|r| r.contains("cargo build --release --locked --bin agenticore"));
    if !builds {
        p.push(format!(
            "{DOCKERFILE}: no RUN with `cargo build --release --locked --bin agenticore`"
        ));
    }

    let last = d.stages.last().map(|s| s.from.clone()).unwrap_or_default();
    if last != "debian:bookworm-slim" {
        p.push(format!(
            "{DOCKERFILE}: the runtime stage is FROM {last:?}, expected debian:bookworm-slim"
        ));
    }
    let user = d.final_stage("USER").last().map(|(_, u)| u.clone());
    match user.as_deref().map(|u| u.split(':').next().unwrap_or(u)) {
        Some(u) if u != "root" && u != "0" => {}
        _ => p.push(format!(
            "{DOCKERFILE}: the runtime stage must end with a non-root USER (found {user:?})"
        )),
    }
    let health = d.final_stage("HEALTHCHECK").last().map(|(_, h)| h.clone());
    let health_ok = health.as_deref().is_some_and(|h| {
        h.contains("/health") || (h.contains("agenticore status") && h.contains("AGENTICORE_URL"))
    });
    if !health_ok {
        p.push(format!(
            "{DOCKERFILE}: HEALTHCHECK must GET /health (curl …/health, or `agenticore status` \
             with AGENTICORE_URL set: without it status reports the local store and passes with \
             no daemon); found {health:?}"
        ));
    }
    if !d.final_stage("EXPOSE").iter().any(|(_, e)| {
        e.split_whitespace()
            .any(|p| p.trim_end_matches("/tcp") == "8200")
    }) {
        p.push(format!("{DOCKERFILE}: no EXPOSE 8200 in the runtime stage"));
    }
    for (k, v) in [("AGENTICORE_HOST", "0.0.0.0"), ("AGENTICORE_PORT", "8200")] {
        if d.env.get(k).map(String::as_str) != Some(v) {
            p.push(format!(
                "{DOCKERFILE}: ENV {k} is {:?}, expected {v}",
                d.env.get(k)
            ));
        }
    }
    let entrypoint = d.final_stage("ENTRYPOINT").last().map(|(_, e)| e.clone());
    if entrypoint.as_deref() != Some(r#"["agenticore"]"#) {
        p.push(format!(
            r#"{DOCKERFILE}: ENTRYPOINT is {entrypoint:?}, expected ["agenticore"]"#
        ));
    }
    let cmd = d.final_stage("CMD").last().map(|(_, c)| c.clone());
    if cmd.as_deref() != Some(r#"["serve"]"#) {
        p.push(format!(
            r#"{DOCKERFILE}: CMD is {cmd:?}, expected ["serve"]"#
        ));
    }

    // Claude Code: the version the e2e tier tests, installed with its native binary.
    let e2e_version = read("tests/e2e/run.sh")
        .lines()
        .find_map(|l| {
            l.strip_prefix("CLAUDE_VERSION=")
                .map(|v| v.trim().trim_matches('"').to_string())
        })
        .expect("tests/e2e/run.sh sets CLAUDE_VERSION");
    let runs = d.all("RUN");
    let install = runs
        .iter()
        .find(|r| r.contains("npm install") && r.contains("@anthropic-ai/claude-code@"));
    match install {
        Some(r) => {
            if !r.contains(&format!("@anthropic-ai/claude-code@{e2e_version}")) {
                p.push(format!(
                    "{DOCKERFILE}: Claude Code is not pinned to {e2e_version}, the version \
                     tests/e2e/run.sh tests: {r}"
                ));
            }
            if r.contains("--ignore-scripts") || r.contains("--omit=optional") {
                p.push(format!(
                    "{DOCKERFILE}: Claude Code's install skips scripts or optional dependencies, \
                     which leaves claude without its native binary: {r}"
                ));
            }
        }
        None => p.push(format!(
            "{DOCKERFILE}: no `npm install … @anthropic-ai/claude-code@<version>`"
        )),
    }
    for tool in ["git", "gh"] {
        let installed = runs.iter().any(|r| {
            r.contains("apt-get install")
                && r.split_whitespace()
                    .any(|w| w == tool || w == format!("{tool};"))
        });
        if !installed {
            p.push(format!(
                "{DOCKERFILE}: `{tool}` is not installed with apt-get"
            ));
        }
    }

    // No secret is a build argument or baked into an ENV.
    let mut declared: Vec<(&str, String)> = d.args.keys().map(|k| ("ARG", k.clone())).collect();
    for word in ["ARG", "ENV"] {
        for rest in d.all(word) {
            for kv in rest.split_whitespace() {
                declared.push((word, kv.split('=').next().unwrap_or(kv).to_string()));
            }
        }
    }
    for (word, name) in declared {
        let upper = name.to_ascii_uppercase();
        let secret = [
            "TOKEN",
            "API_KEY",
            "PASSWORD",
            "SECRET",
            "POSTGRES_URL",
            "REDIS_URL",
        ]
        .iter()
        .any(|s| upper.contains(s));
        if secret {
            p.push(format!(
                "{DOCKERFILE}: {word} {name} would put a secret into the image; pass it at run time"
            ));
        }
    }
    check(p);
}

#[test]
fn dockerignore_keeps_build_output_git_and_secrets_out_of_the_context() {
    let ignore = read(DOCKERIGNORE);
    let patterns: BTreeSet<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            l.trim_start_matches("**/")
                .trim_start_matches('/')
                .trim_end_matches('/')
        })
        .collect();
    let mut p = Vec::new();
    for must in ["target", ".git", ".env", ".e2e", "node_modules"] {
        if !patterns.contains(must) {
            p.push(format!("{DOCKERIGNORE}: `{must}` is not excluded"));
        }
    }
    // What the build needs must stay in the context.
    for keep in ["src", "defaults", "Cargo.toml", "Cargo.lock", "*", "**"] {
        if patterns.contains(keep) {
            p.push(format!(
                "{DOCKERIGNORE}: `{keep}` is excluded, but the build needs src/, defaults/ and \
                 the Cargo files"
            ));
        }
    }
    check(p);
}

// ---------------------------------------------------------------------------------------------
// deploy/kubernetes
//
// The objects of the three manifests, by kind and name; what the binary says about itself
// (`serve --help`, `config --json`, the env list); and the source's queue key and public routes.

/// One document of a Kubernetes manifest.
struct Object {
    file: &'static str,
    doc: Value,
}

impl Object {
    fn field(&self, path: &[&str]) -> Option<String> {
        get(&self.doc, path).and_then(text)
    }

    fn kind(&self) -> String {
        self.field(&["kind"]).unwrap_or_default()
    }

    fn name(&self) -> String {
        self.field(&["metadata", "name"]).unwrap_or_default()
    }

    fn namespace(&self) -> Option<String> {
        self.field(&["metadata", "namespace"])
    }

    /// `file: Kind/name`, for messages.
    fn at(&self) -> String {
        format!("{}: {}/{}", self.file, self.kind(), self.name())
    }

    /// The pod spec of a workload (Deployment, StatefulSet).
    fn pod(&self) -> Option<&Value> {
        get(&self.doc, &["spec", "template", "spec"])
    }

    fn containers(&self) -> Vec<&Value> {
        self.pod()
            .and_then(|p| p.get("containers"))
            .and_then(Value::as_sequence)
            .map(|s| s.iter().collect())
            .unwrap_or_default()
    }

    fn container(&self, name: &str) -> Option<&Value> {
        self.containers()
            .into_iter()
            .find(|c| c.get("name").and_then(text).as_deref() == Some(name))
    }

    fn template_labels(&self) -> BTreeMap<String, String> {
        labels(get(&self.doc, &["spec", "template", "metadata", "labels"]))
    }
}

fn labels(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_mapping)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
                .collect()
        })
        .unwrap_or_default()
}

/// Every document of the Kubernetes files, and the problems of reading them.
struct Kube {
    objects: Vec<Object>,
    problems: Vec<String>,
}

impl Kube {
    fn read() -> Kube {
        use serde::Deserialize;
        let mut k = Kube {
            objects: Vec::new(),
            problems: Vec::new(),
        };
        for &file in K8S_FILES {
            let raw = read(file);
            for (i, doc) in serde_yaml::Deserializer::from_str(&raw).enumerate() {
                match Value::deserialize(doc) {
                    Ok(Value::Null) => {}
                    Ok(doc) => k.objects.push(Object { file, doc }),
                    Err(e) => {
                        k.problems
                            .push(format!("{file}: document {} is not valid YAML: {e}", i + 1));
                        // The parser cannot go on past an error (it would repeat it forever).
                        break;
                    }
                }
            }
        }
        k
    }

    /// The files, which must parse (the parse test names what does not).
    fn load() -> Kube {
        let k = Kube::read();
        assert!(k.problems.is_empty(), "{:?}", k.problems);
        k
    }

    fn find(&self, kind: &str, name: &str) -> Option<&Object> {
        self.objects
            .iter()
            .find(|o| o.kind() == kind && o.name() == name)
    }

    fn of_kind(&self, kind: &str) -> Vec<&Object> {
        self.objects.iter().filter(|o| o.kind() == kind).collect()
    }

    /// agenticore's Deployment and its container (named like it).
    fn agenticore(&self) -> (&Object, &Value) {
        let d = self
            .find("Deployment", "agenticore")
            .unwrap_or_else(|| panic!("{K8S_AGENTICORE}: no Deployment `agenticore`"));
        let c = d
            .container("agenticore")
            .unwrap_or_else(|| panic!("{}: no container `agenticore`", d.at()));
        (d, c)
    }
}

/// Where a container's variable comes from.
#[derive(Debug, Clone, PartialEq)]
enum EnvSource {
    /// `value:`, or a ConfigMap's value through `envFrom`.
    Value(String),
    Secret {
        name: String,
        key: String,
        optional: bool,
    },
    Field(String),
    Other,
}

/// A container's environment as Kubernetes builds it: the ConfigMaps of `envFrom` first, then
/// `env`, later entries winning; plus where each name was set, for messages.
fn container_env(k: &Kube, workload: &Object, c: &Value) -> Vec<(String, EnvSource, String)> {
    let mut out = Vec::new();
    for from in c
        .get("envFrom")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        if let Some(cm) = get(from, &["configMapRef", "name"]).and_then(text) {
            match k.find("ConfigMap", &cm) {
                Some(o) => {
                    for (key, value) in labels(get(&o.doc, &["data"])) {
                        out.push((key, EnvSource::Value(value), o.at()));
                    }
                }
                None => out.push((
                    String::new(),
                    EnvSource::Other,
                    format!(
                        "{}: envFrom names the ConfigMap `{cm}`, which no file defines",
                        workload.at()
                    ),
                )),
            }
        } else {
            out.push((
                String::new(),
                EnvSource::Other,
                format!("{}: envFrom other than a configMapRef", workload.at()),
            ));
        }
    }
    for e in c
        .get("env")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        let name = e.get("name").and_then(text).unwrap_or_default();
        let source = if let Some(v) = e.get("value") {
            EnvSource::Value(text(v).unwrap_or_default())
        } else if let Some(s) = get(e, &["valueFrom", "secretKeyRef"]) {
            EnvSource::Secret {
                name: s.get("name").and_then(text).unwrap_or_default(),
                key: s.get("key").and_then(text).unwrap_or_default(),
                optional: s.get("optional").and_then(Value::as_bool).unwrap_or(false),
            }
        } else if let Some(path) = get(e, &["valueFrom", "fieldRef", "fieldPath"]).and_then(text) {
            EnvSource::Field(path)
        } else {
            EnvSource::Other
        };
        out.push((name, source, format!("{}: env", workload.at())));
    }
    out
}

/// The effective variables (the last setting of each name wins).
fn env_map(entries: &[(String, EnvSource, String)]) -> BTreeMap<String, EnvSource> {
    entries
        .iter()
        .filter(|(n, _, _)| !n.is_empty())
        .map(|(n, s, _)| (n.clone(), s.clone()))
        .collect()
}

fn env_value(env: &BTreeMap<String, EnvSource>, name: &str) -> Option<String> {
    match env.get(name) {
        Some(EnvSource::Value(v)) => Some(v.clone()),
        _ => None,
    }
}

/// The names `$(NAME)` of a value refers to (Kubernetes' dependent variables).
fn dependent_names(value: &str) -> Vec<String> {
    value
        .match_indices("$(")
        .filter_map(|(i, m)| {
            let rest = &value[i + m.len()..];
            rest.find(')').map(|end| rest[..end].to_string())
        })
        .collect()
}

/// A container's command line after the image's entrypoint: `command` + `args`.
fn command_line(c: &Value) -> Vec<String> {
    let mut words = strings(c.get("command"));
    words.extend(strings(c.get("args")));
    words
}

/// The value of `--flag value` or `--flag=value`.
fn flag_value(words: &[String], flag: &str) -> Option<String> {
    words.iter().enumerate().find_map(|(i, w)| {
        if w == flag {
            words.get(i + 1).cloned()
        } else {
            w.strip_prefix(&format!("{flag}=")).map(str::to_string)
        }
    })
}

/// A container port by number or name.
fn container_port(c: &Value, port: &Value) -> Option<u16> {
    let ports = c.get("ports").and_then(Value::as_sequence)?;
    match port {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()).filter(|n| {
            ports
                .iter()
                .any(|p| p.get("containerPort").and_then(Value::as_u64) == Some(u64::from(*n)))
        }),
        _ => {
            let name = text(port)?;
            ports
                .iter()
                .find(|p| p.get("name").and_then(text).as_deref() == Some(&name))
                .and_then(|p| p.get("containerPort").and_then(Value::as_u64))
                .and_then(|n| u16::try_from(n).ok())
        }
    }
}

/// The Service `name` of `namespace` and, through its selector, the workload it sends to.
fn service_target<'a>(
    k: &'a Kube,
    name: &str,
    namespace: Option<&str>,
) -> Option<(&'a Object, Vec<&'a Object>)> {
    let svc = k.of_kind("Service").into_iter().find(|s| {
        s.name() == name && (namespace.is_none() || s.namespace().as_deref() == namespace)
    })?;
    let selector = labels(get(&svc.doc, &["spec", "selector"]));
    let workloads = k
        .objects
        .iter()
        .filter(|o| matches!(o.kind().as_str(), "Deployment" | "StatefulSet"))
        .filter(|o| o.namespace() == svc.namespace())
        .filter(|o| {
            let l = o.template_labels();
            !selector.is_empty() && selector.iter().all(|(k, v)| l.get(k) == Some(v))
        })
        .collect();
    Some((svc, workloads))
}

/// The Service's port `port`, and its targetPort (the port itself when none is given).
fn service_port(svc: &Object, port: u16) -> Option<Value> {
    get(&svc.doc, &["spec", "ports"])
        .and_then(Value::as_sequence)?
        .iter()
        .find(|p| p.get("port").and_then(Value::as_u64) == Some(u64::from(port)))
        .map(|p| {
            p.get("targetPort")
                .cloned()
                .unwrap_or(Value::from(u64::from(port)))
        })
}

/// `host[.namespace[.svc[.<cluster domain>]]]` -> (service, namespace).
fn service_of_host(host: &str, default_ns: Option<&str>) -> Option<(String, Option<String>)> {
    let parts: Vec<&str> = host.split('.').collect();
    match parts.as_slice() {
        [svc] => Some((svc.to_string(), default_ns.map(str::to_string))),
        [svc, ns] => Some((svc.to_string(), Some(ns.to_string()))),
        [svc, ns, "svc", ..] => Some((svc.to_string(), Some(ns.to_string()))),
        _ => None,
    }
}

/// `agenticore serve --help`.
fn serve_help() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_agenticore"))
        .args(["serve", "--help"])
        .output()
        .expect("run agenticore serve --help");
    assert!(out.status.success(), "agenticore serve --help failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `[default: N]` of a flag in clap's help (its lines up to the next option).
fn help_default(help: &str, flag: &str) -> Option<String> {
    let mut lines = help.lines().skip_while(|l| {
        !l.trim_start()
            .split(", ")
            .any(|w| w.starts_with(&format!("{flag} ")))
    });
    let mut block = lines.next()?.to_string();
    for l in lines.take_while(|l| !l.trim_start().starts_with('-')) {
        block.push(' ');
        block.push_str(l.trim());
    }
    let d = block.find("[default: ")?;
    let v = &block[d + "[default: ".len()..];
    Some(v[..v.find(']')?].to_string())
}

/// The variables the binary documents: the ENVIRONMENT section of `agenticore man`, which is
/// rendered from src/environment.rs, the list of every variable agenticore reads.
fn man_env_names() -> BTreeSet<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_agenticore"))
        .arg("man")
        .output()
        .expect("run agenticore man");
    assert!(out.status.success(), "agenticore man failed");
    let page = String::from_utf8_lossy(&out.stdout);
    page.split("\n.SH ")
        .find(|s| s.starts_with("\"ENVIRONMENT\""))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("\\fB")?.strip_suffix("\\fR"))
        .map(str::to_string)
        .collect()
}

/// The defaults `agenticore config --json` reports, by variable.
fn config_defaults() -> BTreeMap<String, String> {
    let (entries, _home, _dir) = config_entries();
    entries
        .into_iter()
        .filter(|(_, _, source)| source == "default")
        .map(|(env, value, _)| (env, value))
        .collect()
}

/// The first line of `src` that starts with `start` (leading blanks ignored).
fn source_line<'a>(src: &'a str, start: &str) -> Option<&'a str> {
    src.lines().map(str::trim).find(|l| l.starts_with(start))
}

/// The stream agenticore queues jobs on, as a suffix of the prefix: `:queue`, read from the Lua
/// prelude (`local Q = P .. ':queue'`).
fn queue_suffix() -> Option<String> {
    let src = read(REDIS_LUA);
    let line = source_line(&src, "local Q = P .. '")?;
    let rest = line.strip_prefix("local Q = P .. '")?;
    Some(rest[..rest.find('\'')?].to_string())
}

/// The routes open without an API key (src/server/auth.rs's PUBLIC_PATHS).
fn public_paths() -> Vec<String> {
    let src = read(AUTH_RS);
    let line =
        source_line(&src, "const PUBLIC_PATHS").expect("src/server/auth.rs has PUBLIC_PATHS");
    line.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The Secret `kubectl create secret generic NAME` of the README creates, and its keys.
fn readme_secret() -> (Option<String>, BTreeSet<String>) {
    let text = read(K8S_README);
    let Some(at) = text.find("create secret generic ") else {
        return (None, BTreeSet::new());
    };
    let rest = &text[at + "create secret generic ".len()..];
    let name = rest.split_whitespace().next().map(str::to_string);
    // The command runs to the end of its line continuations.
    let mut command = String::new();
    for line in rest.lines() {
        command.push_str(line);
        if !line.trim_end().ends_with('\\') {
            break;
        }
    }
    let keys = command
        .split_whitespace()
        .filter_map(|w| {
            w.strip_prefix("--from-literal=")
                .or_else(|| w.strip_prefix("--from-file="))
                .and_then(|kv| kv.split('=').next())
                .map(str::to_string)
        })
        .collect();
    (name, keys)
}

/// Is the variable a secret, by its name?
fn secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_VARS.contains(&name)
        || ["PASSWORD", "TOKEN", "API_KEY", "SECRET", "_AUTH"]
            .iter()
            .any(|s| upper.contains(s))
}

/// An integer setting: the effective variable, else the binary's default.
fn setting(
    env: &BTreeMap<String, EnvSource>,
    defaults: &BTreeMap<String, String>,
    name: &str,
) -> Option<u64> {
    env_value(env, name)
        .or_else(|| defaults.get(name).cloned())
        .and_then(|v| v.trim().parse().ok())
}

/// Seconds a preStop hook waits: `exec: sleep N` or `sleep: {seconds: N}`.
fn prestop_seconds(c: &Value) -> u64 {
    let hook = get(c, &["lifecycle", "preStop"]);
    let exec = strings(hook.and_then(|h| get(h, &["exec", "command"])));
    let from_exec = exec
        .iter()
        .position(|w| w == "sleep" || w.ends_with("/sleep"))
        .and_then(|i| exec.get(i + 1))
        .and_then(|n| n.parse().ok());
    let from_sleep = hook
        .and_then(|h| get(h, &["sleep", "seconds"]))
        .and_then(Value::as_u64);
    from_exec.or(from_sleep).unwrap_or(0)
}

#[test]
fn kubernetes_files_parse_and_live_in_one_namespace() {
    let k = Kube::read();
    let mut p = k.problems.clone();
    for o in &k.objects {
        for field in ["apiVersion", "kind"] {
            if o.field(&[field]).is_none() {
                p.push(format!("{}: a document without `{field}`", o.file));
            }
        }
        if o.name().is_empty() {
            p.push(format!("{}: a {} without metadata.name", o.file, o.kind()));
        }
        // One namespace, written out: KEDA connects to Redis by a namespace-qualified name, and
        // a ScaledObject and its TriggerAuthentication must sit with their Deployment and Secret.
        if o.namespace().as_deref() != Some(K8S_NAMESPACE) {
            p.push(format!(
                "{}: metadata.namespace is {:?}, expected {K8S_NAMESPACE:?} like every object here",
                o.at(),
                o.namespace()
            ));
        }
        if o.kind() == "Secret" {
            p.push(format!(
                "{}: no Secret in the repository; {K8S_README} creates it with kubectl",
                o.at()
            ));
        }
    }
    for (file, kind, name) in [
        (K8S_AGENTICORE, "Deployment", "agenticore"),
        (K8S_AGENTICORE, "Service", "agenticore"),
        (K8S_REDIS, "StatefulSet", "redis"),
        (K8S_REDIS, "Service", "redis"),
        (K8S_KEDA, "ScaledObject", "agenticore"),
    ] {
        if !k
            .objects
            .iter()
            .any(|o| o.file == file && o.kind() == kind && o.name() == name)
        {
            p.push(format!("{file}: no {kind} `{name}`"));
        }
    }
    let readme = read(K8S_README);
    for file in K8S_FILES {
        let base = file.rsplit('/').next().unwrap_or(file);
        if !readme.contains(base) {
            p.push(format!("{K8S_README} does not mention {base}"));
        }
    }
    check(p);
}

#[test]
fn kubernetes_agenticore_listens_where_the_service_and_the_probes_look() {
    let k = Kube::load();
    let (d, c) = k.agenticore();
    let env = env_map(&container_env(&k, d, c));
    let help = serve_help();
    let args = command_line(c);
    let mut p = Vec::new();

    // The image's entrypoint is `agenticore`: the command line is `serve` and its flags, each a
    // flag `serve` has.
    if args.first().map(String::as_str) != Some("serve") {
        p.push(format!(
            "{}: the container's args must start with `serve`, found {args:?}",
            d.at()
        ));
    }
    for w in args.iter().filter(|w| w.starts_with("--")) {
        let flag = w.split('=').next().unwrap_or(w);
        if !help.contains(&format!("{flag} ")) {
            p.push(format!("{}: `agenticore serve` has no flag {flag}", d.at()));
        }
    }
    let port: Option<u16> = flag_value(&args, "--port")
        .or_else(|| env_value(&env, "AGENTICORE_PORT"))
        .and_then(|v| v.parse().ok());
    let Some(port) = port else {
        p.push(format!(
            "{}: no --port in the args nor AGENTICORE_PORT",
            d.at()
        ));
        check(p);
        return;
    };
    if let Some(v) = env_value(&env, "AGENTICORE_PORT")
        && v != port.to_string()
    {
        p.push(format!(
            "{}: AGENTICORE_PORT is {v} but serve gets --port {port} (the CLI in the pod would \
             look for the daemon on the wrong port)",
            d.at()
        ));
    }
    let host = flag_value(&args, "--host").or_else(|| env_value(&env, "AGENTICORE_HOST"));
    if host.as_deref() != Some("0.0.0.0") {
        p.push(format!(
            "{}: serve binds {host:?}; the Service and the probes reach the pod on its IP, so \
             bind 0.0.0.0",
            d.at()
        ));
    }
    match container_port(c, &Value::from(u64::from(port))) {
        Some(_) => {}
        None => p.push(format!(
            "{}: no containerPort {port} (the port serve listens on)",
            d.at()
        )),
    }

    // The Service sends to this Deployment, on that port.
    match service_target(&k, "agenticore", d.namespace().as_deref()) {
        Some((svc, workloads)) => {
            if !workloads
                .iter()
                .any(|w| w.name() == d.name() && w.kind() == "Deployment")
            {
                p.push(format!(
                    "{}: spec.selector does not select the pods of {}",
                    svc.at(),
                    d.at()
                ));
            }
            let targets: Vec<Option<u16>> = get(&svc.doc, &["spec", "ports"])
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
                .map(|sp| {
                    let t = sp.get("targetPort").or_else(|| sp.get("port"));
                    t.and_then(|t| container_port(c, t))
                })
                .collect();
            if targets.is_empty() || targets.iter().any(|t| *t != Some(port)) {
                p.push(format!(
                    "{}: targetPort resolves to {targets:?} in the container, but serve listens \
                     on {port}",
                    svc.at()
                ));
            }
        }
        None => p.push(format!("{K8S_AGENTICORE}: no Service `agenticore`")),
    }
    let selector = labels(get(&d.doc, &["spec", "selector", "matchLabels"]));
    let template = d.template_labels();
    if selector.is_empty() || !selector.iter().all(|(k, v)| template.get(k) == Some(v)) {
        p.push(format!(
            "{}: spec.selector does not match the pod template's labels",
            d.at()
        ));
    }

    // Readiness: GET /health, open without a key, on serve's port.
    let public = public_paths();
    let ready = c.get("readinessProbe");
    let path = ready
        .and_then(|r| get(r, &["httpGet", "path"]))
        .and_then(text);
    let ready_port = ready
        .and_then(|r| get(r, &["httpGet", "port"]))
        .and_then(|v| container_port(c, v));
    if path.as_deref() != Some("/health") || ready_port != Some(port) {
        p.push(format!(
            "{}: readinessProbe must GET /health on port {port}; found path {path:?} on port \
             {ready_port:?}",
            d.at()
        ));
    }
    if let Some(path) = &path
        && !public.contains(path)
    {
        p.push(format!(
            "{}: the readiness probe GETs {path}, which needs an API key (open routes: \
             {public:?}, {AUTH_RS})",
            d.at()
        ));
    }
    if let Some(timeout) = ready
        .and_then(|r| r.get("timeoutSeconds"))
        .and_then(Value::as_u64)
        && timeout < 5
    {
        p.push(format!(
            "{}: readinessProbe.timeoutSeconds is {timeout}; /health may take 4 s (two store \
             calls of up to 2 s)",
            d.at()
        ));
    }
    // Liveness: not /health, which answers 503 whenever Redis is down.
    let live = c.get("livenessProbe");
    if let Some(live) = live {
        if get(live, &["httpGet", "path"]).and_then(text).as_deref() == Some("/health") {
            p.push(format!(
                "{}: livenessProbe GETs /health, which answers 503 while Redis is unreachable: \
                 every pod would be restarted (and its jobs killed) by a Redis outage",
                d.at()
            ));
        }
        let live_port = get(live, &["tcpSocket", "port"])
            .or_else(|| get(live, &["httpGet", "port"]))
            .and_then(|v| container_port(c, v));
        if live_port != Some(port) {
            p.push(format!(
                "{}: livenessProbe checks port {live_port:?}, serve listens on {port}",
                d.at()
            ));
        }
    }

    // /mcp accepts the Service's name as Host.
    let hosts = env_value(&env, "AGENTICORE_MCP_ALLOWED_HOSTS").unwrap_or_default();
    let hosts: Vec<&str> = hosts.split(',').map(str::trim).collect();
    let ns = d.namespace().unwrap_or_default();
    for name in ["agenticore".to_string(), format!("agenticore.{ns}.svc")] {
        if !hosts.contains(&"*") && !hosts.contains(&name.as_str()) {
            p.push(format!(
                "{}: AGENTICORE_MCP_ALLOWED_HOSTS {hosts:?} lacks {name}: /mcp would refuse \
                 clients that reach the Service by that name",
                d.at()
            ));
        }
    }
    check(p);
}

#[test]
fn kubernetes_agenticore_env_is_read_by_the_binary_and_secrets_come_from_the_secret() {
    let k = Kube::load();
    let (d, c) = k.agenticore();
    let entries = container_env(&k, d, c);
    let env = env_map(&entries);
    let documented = man_env_names();
    assert!(
        documented.contains("REDIS_URL"),
        "agenticore man lists no REDIS_URL: {documented:?}"
    );
    let mut p = Vec::new();

    for (name, _, at) in &entries {
        if name.is_empty() {
            p.push(at.clone());
            continue;
        }
        let read_by_agenticore =
            documented.contains(name) || CLAUDE_PREFIXES.iter().any(|p| name.starts_with(p));
        // A variable agenticore does not read is allowed only as an ingredient of another one
        // (`$(NAME)`, Kubernetes' dependent variables), such as the Redis password of REDIS_URL.
        let ingredient = entries
            .iter()
            .any(|(_, s, _)| matches!(s, EnvSource::Value(v) if dependent_names(v).contains(name)));
        if !read_by_agenticore && !ingredient {
            p.push(format!(
                "{at}: {name} is not a variable agenticore reads (the ENVIRONMENT of \
                 `agenticore man`, from src/environment.rs)"
            ));
        }
    }
    // In every container: a secret by its name comes from a Secret.
    for w in k.objects.iter().filter(|o| o.pod().is_some()) {
        for c in w.containers() {
            for (name, source, at) in container_env(&k, w, c) {
                if secret_name(&name) && !matches!(source, EnvSource::Secret { .. }) {
                    p.push(format!(
                        "{at}: {name} is a secret: take it from a Secret \
                         (valueFrom.secretKeyRef), not a value or a ConfigMap"
                    ));
                }
            }
        }
    }
    // Values that refer to `$(NAME)` refer to a variable defined before them.
    for (i, (name, source, at)) in entries.iter().enumerate() {
        if let EnvSource::Value(v) = source {
            for dep in dependent_names(v) {
                if !entries[..i].iter().any(|(n, _, _)| *n == dep) {
                    p.push(format!(
                        "{at}: {name} uses $({dep}), which is not defined before it (Kubernetes \
                         would leave the text as it is)"
                    ));
                }
            }
        }
    }
    // URLs carry no literal password.
    for name in ["REDIS_URL", "POSTGRES_URL"] {
        if let Some(url) = env_value(&env, name).as_deref().and_then(parse_url)
            && let Some(pw) = url.password.filter(|pw| !pw.is_empty())
        {
            let from_secret = dependent_names(&pw)
                .iter()
                .all(|dep| matches!(env.get(dep), Some(EnvSource::Secret { .. })))
                && !dependent_names(&pw).is_empty()
                && pw.starts_with("$(")
                && pw.ends_with(')');
            if !from_secret {
                p.push(format!(
                    "{}: {name}'s password must be a $(VAR) of a variable taken from a Secret",
                    d.at()
                ));
            }
        }
    }

    // What a fleet needs.
    match env.get("AGENTICORE_POD_NAME") {
        Some(EnvSource::Field(f)) if f == "metadata.name" => {}
        other => p.push(format!(
            "{}: AGENTICORE_POD_NAME must come from the downward API (fieldRef metadata.name), \
             found {other:?}",
            d.at()
        )),
    }
    if env_value(&env, "AGENTICORE_REDIS_REQUIRED").as_deref() != Some("true") {
        p.push(format!(
            "{}: AGENTICORE_REDIS_REQUIRED must be \"true\": a pod that falls back to its own \
             SQLite file serves jobs no other pod sees",
            d.at()
        ));
    }
    if env_value(&env, "REDIS_URL").is_none() {
        p.push(format!("{}: no REDIS_URL", d.at()));
    }
    if !matches!(
        env.get("AGENTICORE_API_KEYS"),
        Some(EnvSource::Secret { .. })
    ) {
        p.push(format!(
            "{}: AGENTICORE_API_KEYS must come from the Secret: serve refuses 0.0.0.0 without keys",
            d.at()
        ));
    }
    // The Service `agenticore` would give every later pod AGENTICORE_PORT=tcp://<ip>:8200.
    if d.pod()
        .and_then(|s| s.get("enableServiceLinks"))
        .and_then(Value::as_bool)
        != Some(false)
    {
        p.push(format!(
            "{}: set enableServiceLinks: false; the Service `agenticore` would set \
             AGENTICORE_PORT=tcp://<ip>:<port> in the pods, which agenticore refuses as its port",
            d.at()
        ));
    }
    if get(&d.doc, &["spec", "replicas"]).is_some()
        && k.of_kind("ScaledObject").iter().any(|s| {
            s.field(&["spec", "scaleTargetRef", "name"]).as_deref() == Some(d.name().as_str())
        })
    {
        p.push(format!(
            "{}: no spec.replicas when KEDA scales it (every apply would reset the count)",
            d.at()
        ));
    }

    // Every secret any file refers to is one the README's `kubectl create secret` makes.
    let (secret, keys) = readme_secret();
    let mut refs: Vec<(String, String, String, bool)> = Vec::new();
    for w in k.objects.iter().filter(|o| o.pod().is_some()) {
        for c in w.containers() {
            for (var, s, at) in container_env(&k, w, c) {
                if let EnvSource::Secret {
                    name,
                    key,
                    optional,
                } = s
                {
                    refs.push((format!("{at} {var}"), name, key, optional));
                }
            }
        }
    }
    for ta in k.of_kind("TriggerAuthentication") {
        for r in get(&ta.doc, &["spec", "secretTargetRef"])
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let f = |k: &str| r.get(k).and_then(text).unwrap_or_default();
            refs.push((ta.at(), f("name"), f("key"), false));
        }
    }
    for (at, name, key, optional) in refs {
        if secret.as_deref() != Some(name.as_str()) {
            p.push(format!(
                "{at}: refers to the Secret `{name}`, but {K8S_README} creates {secret:?}"
            ));
        } else if !keys.contains(&key) && !optional {
            p.push(format!(
                "{at}: refers to the key `{key}` of the Secret `{name}`, which {K8S_README}'s \
                 `kubectl create secret` does not create (it creates {keys:?})"
            ));
        }
    }
    check(p);
}

#[test]
fn kubernetes_grace_period_covers_the_drain() {
    let k = Kube::load();
    let (d, c) = k.agenticore();
    let env = env_map(&container_env(&k, d, c));
    let defaults = config_defaults();
    let help = serve_help();
    let mut p = Vec::new();

    let default_drain = help_default(&help, "--drain-timeout");
    assert!(
        default_drain.is_some(),
        "serve --help shows no default for --drain-timeout:\n{help}"
    );
    let drain: u64 = flag_value(&command_line(c), "--drain-timeout")
        .or(default_drain)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let grace = d
        .pod()
        .and_then(|s| s.get("terminationGracePeriodSeconds"))
        .and_then(Value::as_u64)
        .unwrap_or(30);
    let sleep = prestop_seconds(c);
    let kill_grace = setting(&env, &defaults, "AGENTICORE_KILL_GRACE").unwrap_or(0);
    // After the preStop hook, SIGTERM; after the drain, the cancel (SIGTERM to the jobs, kill
    // grace, SIGKILL) and recording it. SIGKILL from the kubelet before that ends the jobs
    // "interrupted" instead of "cancelled".
    if grace <= sleep + drain + kill_grace {
        p.push(format!(
            "{}: terminationGracePeriodSeconds {grace} must exceed the preStop sleep ({sleep} s) \
             + serve --drain-timeout ({drain} s) + AGENTICORE_KILL_GRACE ({kill_grace} s)",
            d.at()
        ));
    }
    // Scale-in and rollouts remove pods that run jobs: the drain lets a job within the default
    // time limit finish instead of cancelling it.
    let timeout = setting(&env, &defaults, "AGENTICORE_CLAUDE_TIMEOUT").unwrap_or(u64::MAX);
    if drain < timeout {
        p.push(format!(
            "{}: serve --drain-timeout ({drain} s) is shorter than AGENTICORE_CLAUDE_TIMEOUT \
             ({timeout} s): every scale-in would cancel the longer jobs of the pods it removes",
            d.at()
        ));
    }
    // An init as PID 1 reaps orphaned job processes (compose: `init: true`).
    if d.pod()
        .and_then(|s| s.get("shareProcessNamespace"))
        .and_then(Value::as_bool)
        != Some(true)
    {
        p.push(format!(
            "{}: set shareProcessNamespace: true, so that the pause process, not agenticore, is \
             PID 1 and reaps orphans (docker-compose.yml's `init: true`)",
            d.at()
        ));
    }
    check(p);
}

#[test]
fn kubernetes_pods_run_unprivileged_and_write_only_to_their_own_volumes() {
    let k = Kube::load();
    let docker = Dockerfile::load();
    let mut p = Vec::new();
    let image_user = docker
        .final_stage("USER")
        .last()
        .and_then(|(_, u)| u.split(':').next().and_then(|u| u.parse::<u64>().ok()));

    for w in k.objects.iter().filter(|o| o.pod().is_some()) {
        let pod = w.pod().expect("pod");
        let pod_sc = pod.get("securityContext");
        for c in w.containers() {
            let name = c.get("name").and_then(text).unwrap_or_default();
            let sc = c.get("securityContext");
            let either = |key: &str| {
                sc.and_then(|s| s.get(key))
                    .or_else(|| pod_sc.and_then(|s| s.get(key)))
            };
            if either("runAsNonRoot").and_then(Value::as_bool) != Some(true) {
                p.push(format!(
                    "{}: container {name} without runAsNonRoot: true",
                    w.at()
                ));
            }
            let flags = [
                ("allowPrivilegeEscalation", false),
                ("readOnlyRootFilesystem", true),
            ];
            for (key, want) in flags {
                if sc.and_then(|s| s.get(key)).and_then(Value::as_bool) != Some(want) {
                    p.push(format!("{}: container {name} needs {key}: {want}", w.at()));
                }
            }
            let drop = strings(sc.and_then(|s| get(s, &["capabilities", "drop"])));
            if !drop.iter().any(|d| d == "ALL") {
                p.push(format!(
                    "{}: container {name} must drop ALL capabilities",
                    w.at()
                ));
            }
            if w.name() == "agenticore" && either("runAsUser").and_then(Value::as_u64) != image_user
            {
                p.push(format!(
                    "{}: runAsUser is {:?}, but the image's files belong to its USER {image_user:?}",
                    w.at(),
                    either("runAsUser").and_then(Value::as_u64)
                ));
            }
        }
    }

    // agenticore writes its home, the clone cache, HOME and /tmp: each on a volume of the pod
    // (an emptyDir: the clone cache's locks and a job's worktree belong to one node).
    let (d, c) = k.agenticore();
    let env = env_map(&container_env(&k, d, c));
    let volumes = d
        .pod()
        .and_then(|s| s.get("volumes"))
        .and_then(Value::as_sequence)
        .cloned()
        .unwrap_or_default();
    let mounts: Vec<(String, String)> = c
        .get("volumeMounts")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|m| {
            Some((
                m.get("mountPath").and_then(text)?,
                m.get("name").and_then(text)?,
            ))
        })
        .collect();
    let mut paths = Vec::new();
    for var in ["AGENTICORE_HOME", "AGENTICORE_REPOS_ROOT", "HOME"] {
        match env_value(&env, var).or_else(|| docker.env.get(var).cloned()) {
            Some(path) => paths.push((var.to_string(), path)),
            None => p.push(format!(
                "{}: {var} is set neither here nor in the image",
                d.at()
            )),
        }
    }
    paths.push(("temporary files".to_string(), "/tmp".to_string()));
    for (what, path) in paths {
        let mount = mounts
            .iter()
            .filter(|(m, _)| {
                path == *m || path.starts_with(&format!("{}/", m.trim_end_matches('/')))
            })
            .max_by_key(|(m, _)| m.len());
        let volume = mount.and_then(|(_, name)| {
            volumes
                .iter()
                .find(|v| v.get("name").and_then(text).as_deref() == Some(name.as_str()))
        });
        if volume.is_none_or(|v| v.get("emptyDir").is_none()) {
            p.push(format!(
                "{}: {what} ({path}) is not on an emptyDir volume of the pod; the root \
                 filesystem is read-only and each pod keeps its own",
                d.at()
            ));
        }
    }
    check(p);
}

#[test]
fn kubernetes_redis_persists_and_is_the_one_redis_url_names() {
    let k = Kube::load();
    let (d, c) = k.agenticore();
    let env = env_map(&container_env(&k, d, c));
    let mut p = Vec::new();

    let url = env_value(&env, "REDIS_URL").unwrap_or_default();
    let Some(u) = parse_url(&url).filter(|u| u.scheme == "redis") else {
        p.push(format!(
            "{}: REDIS_URL {url:?} is not a redis:// URL",
            d.at()
        ));
        check(p);
        return;
    };
    let port: u16 = u.port.as_deref().unwrap_or("6379").parse().unwrap_or(0);
    let Some((svc_name, ns)) = service_of_host(&u.host, d.namespace().as_deref()) else {
        p.push(format!(
            "{}: REDIS_URL's host {} is not a Service name (name[.namespace[.svc…]])",
            d.at(),
            u.host
        ));
        check(p);
        return;
    };
    let Some((svc, workloads)) = service_target(&k, &svc_name, ns.as_deref()) else {
        p.push(format!(
            "{}: REDIS_URL points at the Service {svc_name} in {ns:?}, which no file defines",
            d.at()
        ));
        check(p);
        return;
    };
    let redis = workloads.into_iter().find(|w| w.kind() == "StatefulSet");
    let Some(redis) = redis else {
        p.push(format!("{}: selects no StatefulSet", svc.at()));
        check(p);
        return;
    };
    let Some(rc) = redis.containers().into_iter().next() else {
        p.push(format!("{}: no container", redis.at()));
        check(p);
        return;
    };
    match service_port(svc, port) {
        Some(target) if container_port(rc, &target) == Some(6379) => {}
        Some(target) => p.push(format!(
            "{}: port {port} goes to targetPort {target:?}, which is not the Redis container's \
             port 6379",
            svc.at()
        )),
        None => p.push(format!(
            "{}: has no port {port}, the port of REDIS_URL",
            svc.at()
        )),
    }
    if redis.field(&["spec", "serviceName"]).is_none() {
        p.push(format!("{}: no spec.serviceName", redis.at()));
    }

    // Persistence: the append-only file, in a directory on a claimed volume.
    let line = command_line(rc);
    let pair = |flag: &str| flag_value(&line, flag);
    if pair("--appendonly").as_deref() != Some("yes") {
        p.push(format!(
            "{}: Redis must run with --appendonly yes: the queue and every job record live \
             only there",
            redis.at()
        ));
    }
    if pair("--maxmemory-policy").as_deref() != Some("noeviction") {
        p.push(format!(
            "{}: Redis must run with --maxmemory-policy noeviction: an evicted key is a lost job",
            redis.at()
        ));
    }
    let claims: Vec<String> = get(&redis.doc, &["spec", "volumeClaimTemplates"])
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|t| get(t, &["metadata", "name"]).and_then(text))
        .collect();
    let dir = pair("--dir");
    let on_claim = dir.as_ref().is_some_and(|dir| {
        rc.get("volumeMounts")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .any(|m| {
                m.get("mountPath").and_then(text).as_deref() == Some(dir.as_str())
                    && m.get("name")
                        .and_then(text)
                        .is_some_and(|n| claims.contains(&n))
            })
    });
    if !on_claim {
        p.push(format!(
            "{}: Redis's --dir ({dir:?}) must be the mount of a volumeClaimTemplate ({claims:?})",
            redis.at()
        ));
    }

    // The password Redis requires is the one REDIS_URL carries.
    let redis_env = env_map(&container_env(&k, redis, rc));
    let secret_of = |env: &BTreeMap<String, EnvSource>, value: &str| -> Option<(String, String)> {
        let dep = dependent_names(value).into_iter().next()?;
        match env.get(&dep) {
            Some(EnvSource::Secret { name, key, .. }) => Some((name.clone(), key.clone())),
            _ => None,
        }
    };
    let required = pair("--requirepass").and_then(|v| secret_of(&redis_env, &v));
    let given = u.password.as_deref().and_then(|v| secret_of(&env, v));
    if required.is_none() {
        p.push(format!(
            "{}: Redis must require a password (--requirepass $(VAR), VAR from a Secret): \
             whoever can write to the queue runs jobs with agenticore's keys",
            redis.at()
        ));
    } else if required != given {
        p.push(format!(
            "{}: REDIS_URL's password comes from {given:?}, Redis's from {required:?}",
            d.at()
        ));
    }
    check(p);
}

#[test]
fn kubernetes_keda_scales_the_deployment_on_the_queue_agenticore_writes() {
    let k = Kube::load();
    let (d, c) = k.agenticore();
    let env = env_map(&container_env(&k, d, c));
    let defaults = config_defaults();
    let mut p = Vec::new();

    // The stream: `{REDIS_KEY_PREFIX}:queue`, suffix from the store's source.
    let suffix = queue_suffix().expect("src/store/redis_lua.rs: `local Q = P .. '<suffix>'`");
    let lua = read(REDIS_LUA);
    // XLEN counts unfinished jobs only because a job's entry is deleted when it ends, and no
    // entry is trimmed (tests/store_contract.rs: redis_stream_holds_only_live_entries…).
    if !lua.contains("redis.call('XDEL', Q") || lua.contains("MAXLEN") || lua.contains("XTRIM") {
        p.push(format!(
            "{REDIS_LUA}: the queue's entries are no longer deleted exactly when their jobs end; \
             the ScaledObject's streamLength counts unfinished jobs only if they are"
        ));
    }
    let prefix = env_value(&env, "REDIS_KEY_PREFIX")
        .or_else(|| defaults.get("REDIS_KEY_PREFIX").cloned())
        .expect("a REDIS_KEY_PREFIX default");
    let stream = format!("{prefix}{suffix}");
    let max_parallel = setting(&env, &defaults, "AGENTICORE_MAX_PARALLEL_JOBS");
    let url = env_value(&env, "REDIS_URL").and_then(|u| parse_url(&u));
    let redis_address = url
        .as_ref()
        .map(|u| format!("{}:{}", u.host, u.port.as_deref().unwrap_or("6379")));
    let redis_db = url
        .as_ref()
        .map(|u| u.path.trim_start_matches('/').to_string())
        .map(|db| if db.is_empty() { "0".to_string() } else { db });
    let password = url
        .as_ref()
        .and_then(|u| u.password.clone())
        .and_then(|pw| match env.get(dependent_names(&pw).first()?) {
            Some(EnvSource::Secret { name, key, .. }) => Some((name.clone(), key.clone())),
            _ => None,
        });

    let scaled = k.of_kind("ScaledObject");
    if scaled.len() != 1 {
        p.push(format!(
            "{K8S_KEDA}: expected one ScaledObject, found {}",
            scaled.len()
        ));
    }
    for so in scaled {
        if so.namespace() != d.namespace() {
            p.push(format!("{}: not in the Deployment's namespace", so.at()));
        }
        let target = |f: &str| so.field(&["spec", "scaleTargetRef", f]);
        if target("name").as_deref() != Some(d.name().as_str())
            || target("kind").is_some_and(|k| k != "Deployment")
        {
            p.push(format!(
                "{}: scaleTargetRef is {:?}/{:?}, expected the Deployment {}",
                so.at(),
                target("kind"),
                target("name"),
                d.name()
            ));
        }
        let min = so
            .field(&["spec", "minReplicaCount"])
            .and_then(|v| v.parse::<u64>().ok());
        let max = so
            .field(&["spec", "maxReplicaCount"])
            .and_then(|v| v.parse::<u64>().ok());
        if min.unwrap_or(0) < 1 {
            p.push(format!(
                "{}: minReplicaCount is {min:?}; KEDA's default is 0, and with no pod nothing \
                 accepts submissions (REST, MCP) that would wake it",
                so.at()
            ));
        }
        if max.is_none() || max < min {
            p.push(format!(
                "{}: maxReplicaCount {max:?} below minReplicaCount {min:?}",
                so.at()
            ));
        }
        let triggers: Vec<&Value> = get(&so.doc, &["spec", "triggers"])
            .and_then(Value::as_sequence)
            .map(|s| s.iter().collect())
            .unwrap_or_default();
        if triggers.is_empty() {
            p.push(format!("{}: no triggers", so.at()));
        }
        for t in triggers {
            let ty = t.get("type").and_then(text).unwrap_or_default();
            if ty != "redis-streams" {
                p.push(format!(
                    "{}: a trigger of type {ty:?}, expected redis-streams",
                    so.at()
                ));
                continue;
            }
            let m = |f: &str| get(t, &["metadata", f]).and_then(text);
            if m("stream").as_deref() != Some(stream.as_str()) {
                p.push(format!(
                    "{}: stream is {:?}, but agenticore queues on {stream:?} \
                     (REDIS_KEY_PREFIX {prefix:?} + {suffix:?} from {REDIS_LUA})",
                    so.at(),
                    m("stream")
                ));
            }
            if let Some(group) = m("consumerGroup") {
                p.push(format!(
                    "{}: consumerGroup {group:?} makes KEDA count pending entries or the lag, \
                     not unfinished jobs: the lag is 0 once every job runs (busy pods get scaled \
                     in) and nil after a queued job is cancelled",
                    so.at()
                ));
            }
            let length = m("streamLength").and_then(|v| v.parse::<u64>().ok());
            if length.is_none() || length != max_parallel {
                p.push(format!(
                    "{}: streamLength is {length:?}, expected AGENTICORE_MAX_PARALLEL_JOBS \
                     ({max_parallel:?}): one pod per that many unfinished jobs",
                    so.at()
                ));
            }
            let address = m("address").or_else(|| Some(format!("{}:{}", m("host")?, m("port")?)));
            if address.is_none() || address != redis_address {
                p.push(format!(
                    "{}: the Redis address is {address:?}, but REDIS_URL connects to \
                     {redis_address:?}",
                    so.at()
                ));
            }
            if address
                .as_deref()
                .and_then(|a| a.split(':').next())
                .is_some_and(|h| !h.contains('.'))
            {
                p.push(format!(
                    "{}: KEDA resolves {address:?} in its own namespace; qualify it \
                     (name.namespace.svc)",
                    so.at()
                ));
            }
            let db = m("databaseIndex").unwrap_or_else(|| "0".to_string());
            if Some(db.clone()) != redis_db {
                p.push(format!(
                    "{}: databaseIndex is {db}, REDIS_URL uses database {redis_db:?}",
                    so.at()
                ));
            }
            // KEDA authenticates with the password agenticore uses.
            let auth = get(t, &["authenticationRef", "name"]).and_then(text);
            let ta = auth.as_deref().and_then(|a| {
                k.of_kind("TriggerAuthentication")
                    .into_iter()
                    .find(|ta| ta.name() == a && ta.namespace() == so.namespace())
            });
            let keda_password = ta.and_then(|ta| {
                get(&ta.doc, &["spec", "secretTargetRef"])
                    .and_then(Value::as_sequence)?
                    .iter()
                    .find(|r| r.get("parameter").and_then(text).as_deref() == Some("password"))
                    .and_then(|r| {
                        Some((r.get("name").and_then(text)?, r.get("key").and_then(text)?))
                    })
            });
            if password.is_some() && keda_password != password {
                p.push(format!(
                    "{}: KEDA's password comes from {keda_password:?} (authenticationRef \
                     {auth:?}), REDIS_URL's from {password:?}",
                    so.at()
                ));
            }
        }
    }
    check(p);
}

// ---------------------------------------------------------------------------------------------
// The helpers themselves.

#[test]
fn url_parts_survive_interpolations() {
    let u = parse_url("postgres://${U:-a}:${P:-b:c}@postgres:5432/${DB:-d}").expect("url");
    assert_eq!(u.scheme, "postgres");
    assert_eq!(u.user.as_deref(), Some("${U:-a}"));
    assert_eq!(u.password.as_deref(), Some("${P:-b:c}"));
    assert_eq!(u.host, "postgres");
    assert_eq!(u.port.as_deref(), Some("5432"));
    assert_eq!(u.path, "/${DB:-d}");
    let u = parse_url("http://otel-collector:4317").expect("url");
    assert_eq!(
        (u.host.as_str(), u.port.as_deref()),
        ("otel-collector", Some("4317"))
    );
    let names = interpolated_names("${A:-${B}} $C $$D ${E:?msg with $F}");
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["A", "B", "C", "E", "F"]
    );
}
