//! The deployment files — Dockerfile, .dockerignore, docker-compose.yml,
//! deploy/otel-collector.yml and .env.example — checked for the wiring a user relies on, without
//! Docker: services reach each other by the names and ports they really use, healthchecks exist
//! where compose waits for them, mounted files exist, published ports stay on loopback, the
//! collector's pipelines are complete, and .env.example matches what the binary reads.
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
