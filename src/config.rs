//! Effective configuration: built-in defaults, then `~/.agenticore/config.yml`, then environment
//! variables (the seed's table). Validated once, here; the rest of the program trusts `Config`.
//!
//! `AGENTICORE_HOME` moves the whole `~/.agenticore` directory (config file, job db, logs,
//! profiles). An environment variable set to the empty string counts as unset. Every value
//! remembers where it came from (`Source`), so errors and `agenticore config` can say
//! `file:line` or `env VAR`.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

use crate::yaml_loc;

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File { path: PathBuf, line: usize },
    Env(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File { path, line } => write!(f, "{}:{line}", path.display()),
            Source::Env(var) => write!(f, "env {var}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid value {value:?} for {key} ({origin}): expected {expected}")]
    Invalid {
        key: String,
        value: String,
        expected: String,
        origin: Source,
    },
    #[error("wrong type for {key} ({origin}): expected {expected}, found {found}")]
    WrongType {
        key: String,
        found: String,
        expected: String,
        origin: Source,
    },
    #[error("unknown key {key:?} in {origin}{}", hint(.suggestion))]
    UnknownKey {
        key: String,
        origin: Source,
        suggestion: Option<String>,
    },
    #[error("{}: YAML syntax error: {message}", at(.path, *.line))]
    Syntax {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error("cannot read config file {}: {err}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        err: std::io::Error,
    },
    #[error(
        "cannot find the home directory: set HOME, or AGENTICORE_HOME for agenticore's own files"
    )]
    NoHome,
}

fn hint(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean {s}?)"),
        None => String::new(),
    }
}

fn at(path: &Path, line: Option<usize>) -> String {
    match line {
        Some(l) => format!("{}:{l}", path.display()),
        None => path.display().to_string(),
    }
}

/// How the server talks to its clients. `sse` and `http` both mean the HTTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Sse,
    Http,
    Stdio,
}

impl Transport {
    /// True for `sse` and `http`: serve HTTP (REST, SSE events, MCP over Streamable HTTP).
    pub fn is_http(self) -> bool {
        matches!(self, Transport::Sse | Transport::Http)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Sse => "sse",
            Transport::Http => "http",
            Transport::Stdio => "stdio",
        }
    }
}

#[derive(Clone, PartialEq)]
pub struct ServerConfig {
    pub transport: Transport,
    pub host: String,
    pub port: u16,
    /// Secrets: never printed (Debug shows only how many there are).
    pub api_keys: Vec<String>,
    /// The server clients talk to (`AGENTICORE_URL`); `None` means "try the default, else embed".
    pub url: Option<String>,
    /// Jobs whose runner died go back to the queue instead of failing "interrupted".
    pub requeue_interrupted: bool,
    /// `GET /metrics` answers without an API key (a Prometheus scraper inside the cluster).
    pub metrics_public: bool,
}

#[derive(Clone, PartialEq)]
pub struct RedisConfig {
    /// May hold a password; Debug masks it.
    pub url: Option<String>,
    pub key_prefix: String,
    /// Refuse to start when Redis is configured but unreachable (instead of falling back to
    /// the SQLite file).
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClaudeConfig {
    pub binary: String,
    pub timeout_seconds: u64,
    pub default_profile: String,
    pub config_dir: Option<PathBuf>,
    /// 0 = no stall timeout.
    pub stall_timeout_seconds: u64,
    pub kill_grace_seconds: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReposConfig {
    pub root: PathBuf,
    pub max_parallel_jobs: usize,
    pub job_ttl_seconds: u64,
}

#[derive(Clone, PartialEq)]
pub struct OtelConfig {
    pub enabled: bool,
    pub endpoint: String,
    /// One of `grpc`, `http`, `http/protobuf`, `http/json` (lower case).
    pub protocol: String,
    pub log_prompts: bool,
    pub log_tool_details: bool,
    /// Base OTLP/HTTP endpoint that agenticore's own job spans go to (`{it}/v1/traces`,
    /// protobuf); `None`: no spans are exported. May hold credentials; Debug masks them.
    pub traces_endpoint: Option<String>,
}

#[derive(Clone, PartialEq)]
pub struct GithubConfig {
    /// A secret; Debug prints `****`.
    pub token: Option<String>,
    /// The GitHub CLI auto-PR runs (a name on PATH or a path).
    pub gh_binary: String,
    /// GitHub Enterprise hosts (lower case) whose repos get pull requests, besides github.com.
    pub hosts: Vec<String>,
}

#[derive(Clone, PartialEq)]
pub struct PostgresConfig {
    /// May hold a password; Debug masks it.
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub home: PathBuf,
    pub server: ServerConfig,
    pub redis: RedisConfig,
    pub claude: ClaudeConfig,
    pub repos: ReposConfig,
    pub otel: OtelConfig,
    pub github: GithubConfig,
    pub postgres: PostgresConfig,
    /// Where each non-default value came from, by key (`claude.timeout`, or `home`).
    sources: BTreeMap<&'static str, Source>,
}

/// One line of `agenticore config`: a key, its env var, its display value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub key: String,
    pub env: &'static str,
    /// Secrets are masked; an unset optional value is the empty string.
    pub value: String,
    pub source: Source,
}

/// Every key of the config file with the environment variable that overrides it.
const KEYS: &[(&str, &str)] = &[
    ("server.transport", "AGENTICORE_TRANSPORT"),
    ("server.host", "AGENTICORE_HOST"),
    ("server.port", "AGENTICORE_PORT"),
    ("server.api_keys", "AGENTICORE_API_KEYS"),
    ("server.url", "AGENTICORE_URL"),
    (
        "server.requeue_interrupted",
        "AGENTICORE_REQUEUE_INTERRUPTED",
    ),
    ("server.metrics_public", "AGENTICORE_METRICS_PUBLIC"),
    ("redis.url", "REDIS_URL"),
    ("redis.key_prefix", "REDIS_KEY_PREFIX"),
    ("redis.required", "AGENTICORE_REDIS_REQUIRED"),
    ("claude.binary", "AGENTICORE_CLAUDE_BINARY"),
    ("claude.timeout", "AGENTICORE_CLAUDE_TIMEOUT"),
    ("claude.default_profile", "AGENTICORE_DEFAULT_PROFILE"),
    ("claude.config_dir", "AGENTICORE_CLAUDE_CONFIG_DIR"),
    ("claude.stall_timeout", "AGENTICORE_STALL_TIMEOUT"),
    ("claude.kill_grace", "AGENTICORE_KILL_GRACE"),
    ("repos.root", "AGENTICORE_REPOS_ROOT"),
    ("repos.max_parallel_jobs", "AGENTICORE_MAX_PARALLEL_JOBS"),
    ("repos.job_ttl", "AGENTICORE_JOB_TTL"),
    ("otel.enabled", "AGENTICORE_OTEL_ENABLED"),
    ("otel.endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT"),
    ("otel.protocol", "OTEL_EXPORTER_OTLP_PROTOCOL"),
    ("otel.log_prompts", "AGENTICORE_OTEL_LOG_PROMPTS"),
    ("otel.log_tool_details", "AGENTICORE_OTEL_LOG_TOOL_DETAILS"),
    ("otel.traces_endpoint", "AGENTICORE_OTEL_TRACES_ENDPOINT"),
    ("github.token", "GITHUB_TOKEN"),
    ("github.gh_binary", "AGENTICORE_GH_BINARY"),
    ("github.hosts", "AGENTICORE_GITHUB_HOSTS"),
    ("postgres.url", "POSTGRES_URL"),
];

/// `tcp://10.0.0.7:8200`: what Kubernetes puts in `{SERVICE}_PORT` for a Service.
fn is_service_link(v: &str) -> bool {
    ["tcp://", "udp://", "sctp://"]
        .iter()
        .any(|scheme| v.trim().starts_with(scheme))
}

const SECTIONS: &[&str] = &[
    "server", "redis", "claude", "repos", "otel", "github", "postgres",
];

const HOME_ENV: &str = "AGENTICORE_HOME";
const MASK: &str = "****";

impl Config {
    /// The configuration of this process: its environment and the config file.
    pub fn load() -> Result<Config, ConfigError> {
        Self::load_with(&|name| {
            let v = std::env::var(name).ok();
            if name == "HOME" && v.as_deref().is_none_or(str::is_empty) {
                return dirs::home_dir().map(|p| p.to_string_lossy().into_owned());
            }
            v
        })
    }

    /// Like `load`, with the environment lookup injected (tests; `HOME` is looked up there too).
    pub fn load_with(env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let env = |name: &str| env(name).filter(|v| !v.is_empty());
        let user_home = env("HOME").map(PathBuf::from);

        let mut sources = BTreeMap::new();
        let home = match env(HOME_ENV) {
            Some(h) => {
                sources.insert("home", Source::Env(HOME_ENV));
                expand_tilde(&h, user_home.as_deref())?
            }
            None => user_home
                .as_deref()
                .ok_or(ConfigError::NoHome)?
                .join(".agenticore"),
        };

        let file = home.join("config.yml");
        let mut raw = read_file(&file)?;
        for (key, var) in KEYS {
            if let Some(v) = env(var) {
                if *var == "AGENTICORE_PORT" && is_service_link(&v) {
                    // Kubernetes sets `{SERVICE}_PORT=tcp://ip:port` in every pod for each
                    // Service; a Service named `agenticore` would otherwise stop the daemon.
                    tracing::warn!(
                        "ignoring AGENTICORE_PORT={v:?}: a Kubernetes service link (a Service \
                         named agenticore), not a port; set enableServiceLinks: false"
                    );
                    continue;
                }
                raw.insert(
                    key,
                    Raw {
                        value: RawValue::Scalar(v),
                        origin: Source::Env(var),
                    },
                );
            }
        }

        let b = Builder {
            raw: &raw,
            user_home: user_home.as_deref(),
        };
        let config = Config {
            server: ServerConfig {
                transport: b.get(
                    "server.transport",
                    Transport::Sse,
                    "sse, http or stdio",
                    |s| match s.trim().to_ascii_lowercase().as_str() {
                        "sse" => Some(Transport::Sse),
                        "http" => Some(Transport::Http),
                        "stdio" => Some(Transport::Stdio),
                        _ => None,
                    },
                )?,
                host: b.get(
                    "server.host",
                    "127.0.0.1".into(),
                    "a host name or IP address",
                    word,
                )?,
                port: b.get("server.port", 8200, "a port number from 1 to 65535", |s| {
                    s.trim().parse::<u16>().ok().filter(|p| *p > 0)
                })?,
                api_keys: b.api_keys()?,
                url: b.opt("server.url", "an http:// or https:// URL", |s| {
                    url_with(s, &["http", "https"])
                })?,
                requeue_interrupted: b.get("server.requeue_interrupted", false, BOOL, boolean)?,
                metrics_public: b.get("server.metrics_public", false, BOOL, boolean)?,
            },
            redis: RedisConfig {
                url: b.opt("redis.url", "a redis://, rediss:// or unix:// URL", |s| {
                    url_with(s, &["redis", "rediss", "unix", "redis+unix"])
                })?,
                key_prefix: b.get(
                    "redis.key_prefix",
                    "agenticore".into(),
                    "a non-empty prefix without spaces",
                    word,
                )?,
                required: b.get("redis.required", false, BOOL, boolean)?,
            },
            claude: ClaudeConfig {
                binary: b.get(
                    "claude.binary",
                    "claude".into(),
                    "a program name or path",
                    |s| {
                        let p = s.trim();
                        (!p.is_empty()).then(|| b.expand(p).to_string_lossy().into_owned())
                    },
                )?,
                timeout_seconds: b.get("claude.timeout", 3600, SECONDS_POSITIVE, positive)?,
                default_profile: b.get(
                    "claude.default_profile",
                    "code".into(),
                    "a profile name (letters, digits, '.', '_' or '-')",
                    |s| crate::profile::is_valid_name(s.trim()).then(|| s.trim().to_string()),
                )?,
                config_dir: b.opt("claude.config_dir", "a directory path", |s| b.path(s))?,
                stall_timeout_seconds: b.get(
                    "claude.stall_timeout",
                    900,
                    "a whole number of seconds (0 = off)",
                    whole,
                )?,
                kill_grace_seconds: b.get("claude.kill_grace", 5, SECONDS, whole)?,
            },
            repos: ReposConfig {
                root: b.get(
                    "repos.root",
                    b.expand("~/agenticore-repos"),
                    "a directory path",
                    |s| b.path(s),
                )?,
                max_parallel_jobs: b.get(
                    "repos.max_parallel_jobs",
                    3,
                    "a whole number from 1 to 256",
                    |s| {
                        s.trim()
                            .parse::<usize>()
                            .ok()
                            .filter(|n| (1..=256).contains(n))
                    },
                )?,
                job_ttl_seconds: b.get("repos.job_ttl", 86400, SECONDS_POSITIVE, positive)?,
            },
            otel: OtelConfig {
                enabled: b.get("otel.enabled", true, BOOL, boolean)?,
                endpoint: b.get(
                    "otel.endpoint",
                    "http://otel-collector:4317".into(),
                    "an http:// or https:// URL",
                    |s| url_with(s, &["http", "https"]),
                )?,
                protocol: b.get(
                    "otel.protocol",
                    "grpc".into(),
                    "grpc, http, http/protobuf or http/json",
                    |s| {
                        let p = s.trim().to_ascii_lowercase();
                        ["grpc", "http", "http/protobuf", "http/json"]
                            .contains(&p.as_str())
                            .then_some(p)
                    },
                )?,
                log_prompts: b.get("otel.log_prompts", false, BOOL, boolean)?,
                log_tool_details: b.get("otel.log_tool_details", true, BOOL, boolean)?,
                traces_endpoint: b.opt(
                    "otel.traces_endpoint",
                    "an http:// or https:// URL (the OTLP/HTTP endpoint of a collector)",
                    |s| url_with(s, &["http", "https"]),
                )?,
            },
            github: GithubConfig {
                token: b.opt("github.token", "a token", |s| {
                    let t = s.trim();
                    (!t.is_empty()).then(|| t.to_string())
                })?,
                gh_binary: b.get(
                    "github.gh_binary",
                    "gh".into(),
                    "a program name or path",
                    |s| {
                        let p = s.trim();
                        (!p.is_empty()).then(|| b.expand(p).to_string_lossy().into_owned())
                    },
                )?,
                hosts: b
                    .list("github.hosts", "a list or comma-separated host names")?
                    .into_iter()
                    .map(|h| {
                        let lower = h.to_ascii_lowercase();
                        if is_host_name(&lower) {
                            Ok(lower)
                        } else {
                            Err(b.invalid_at(
                                "github.hosts",
                                &h,
                                "a list or comma-separated host names",
                            ))
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            },
            postgres: PostgresConfig {
                url: b.opt("postgres.url", "a postgres:// or postgresql:// URL", |s| {
                    url_with(s, &["postgres", "postgresql"])
                })?,
            },
            home,
            sources: {
                for (key, r) in &raw {
                    sources.insert(key, r.origin.clone());
                }
                sources
            },
        };
        Ok(config)
    }

    /// `home/config.yml` (it need not exist).
    pub fn config_path(&self) -> PathBuf {
        self.home.join("config.yml")
    }

    pub fn jobs_db_path(&self) -> PathBuf {
        self.home.join("jobs.db")
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.home.join("logs")
    }

    /// Per-job scratch directories.
    pub fn jobs_dir(&self) -> PathBuf {
        self.home.join("jobs")
    }

    pub fn profiles_dir(&self) -> PathBuf {
        self.home.join("profiles")
    }

    /// Where the value of `key` came from (`home` or a dotted key such as `claude.timeout`).
    pub fn source_of(&self, key: &str) -> Source {
        self.sources.get(key).cloned().unwrap_or(Source::Default)
    }

    /// Every key with its display value (secrets masked) and source; `home` first.
    pub fn entries(&self) -> Vec<ConfigEntry> {
        let mut out = vec![ConfigEntry {
            key: "home".into(),
            env: HOME_ENV,
            value: self.home.display().to_string(),
            source: self.source_of("home"),
        }];
        for (key, env) in KEYS {
            out.push(ConfigEntry {
                key: (*key).to_string(),
                env,
                value: self.display_value(key),
                source: self.source_of(key),
            });
        }
        out
    }

    fn display_value(&self, key: &str) -> String {
        let opt = |v: &Option<String>| v.as_deref().map(mask_url).unwrap_or_default();
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        match key {
            "server.transport" => self.server.transport.as_str().into(),
            "server.host" => self.server.host.clone(),
            "server.port" => self.server.port.to_string(),
            "server.api_keys" => count_keys(self.server.api_keys.len()),
            "server.url" => opt(&self.server.url),
            "server.requeue_interrupted" => self.server.requeue_interrupted.to_string(),
            "server.metrics_public" => self.server.metrics_public.to_string(),
            "redis.url" => opt(&self.redis.url),
            "redis.key_prefix" => self.redis.key_prefix.clone(),
            "redis.required" => self.redis.required.to_string(),
            "claude.binary" => self.claude.binary.clone(),
            "claude.timeout" => self.claude.timeout_seconds.to_string(),
            "claude.default_profile" => self.claude.default_profile.clone(),
            "claude.config_dir" => path(&self.claude.config_dir).unwrap_or_default(),
            "claude.stall_timeout" => self.claude.stall_timeout_seconds.to_string(),
            "claude.kill_grace" => self.claude.kill_grace_seconds.to_string(),
            "repos.root" => self.repos.root.display().to_string(),
            "repos.max_parallel_jobs" => self.repos.max_parallel_jobs.to_string(),
            "repos.job_ttl" => self.repos.job_ttl_seconds.to_string(),
            "otel.enabled" => self.otel.enabled.to_string(),
            "otel.endpoint" => mask_url(&self.otel.endpoint),
            "otel.protocol" => self.otel.protocol.clone(),
            "otel.log_prompts" => self.otel.log_prompts.to_string(),
            "otel.log_tool_details" => self.otel.log_tool_details.to_string(),
            "otel.traces_endpoint" => opt(&self.otel.traces_endpoint),
            "github.token" => self
                .github
                .token
                .as_ref()
                .map(|_| MASK.into())
                .unwrap_or_default(),
            "github.gh_binary" => self.github.gh_binary.clone(),
            "github.hosts" => self.github.hosts.join(","),
            "postgres.url" => opt(&self.postgres.url),
            _ => String::new(),
        }
    }
}

fn count_keys(n: usize) -> String {
    match n {
        0 => String::new(),
        1 => "(1 key)".into(),
        n => format!("({n} keys)"),
    }
}

/// Replace the password of `scheme://user:password@host/...` with `****`, and the user of
/// `http(s)://token@host/...` too (a bare user there is usually a token). Other text is returned
/// unchanged.
pub fn mask_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest_start = scheme_end + 3;
    let rest = &url[rest_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else {
        let scheme = &url[..scheme_end];
        if userinfo.is_empty()
            || !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
        {
            return url.to_string();
        }
        return format!("{}{MASK}{}", &url[..rest_start], &rest[at..]);
    };
    format!(
        "{}{}:{MASK}{}",
        &url[..rest_start],
        &userinfo[..colon],
        &rest[at..]
    )
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("transport", &self.transport)
            .field("host", &self.host)
            .field("port", &self.port)
            .field(
                "api_keys",
                &format_args!("{}", count_keys(self.api_keys.len())),
            )
            .field("url", &self.url.as_deref().map(mask_url))
            .finish()
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.url.as_deref().map(mask_url))
            .field("key_prefix", &self.key_prefix)
            .field("required", &self.required)
            .finish()
    }
}

impl fmt::Debug for OtelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelConfig")
            .field("enabled", &self.enabled)
            .field("endpoint", &mask_url(&self.endpoint))
            .field("protocol", &self.protocol)
            .field("log_prompts", &self.log_prompts)
            .field("log_tool_details", &self.log_tool_details)
            .field(
                "traces_endpoint",
                &self.traces_endpoint.as_deref().map(mask_url),
            )
            .finish()
    }
}

impl fmt::Debug for GithubConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubConfig")
            .field("token", &self.token.as_ref().map(|_| MASK))
            .field("gh_binary", &self.gh_binary)
            .field("hosts", &self.hosts)
            .finish()
    }
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &self.url.as_deref().map(mask_url))
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// Raw values and parsing.

const SECONDS: &str = "a whole number of seconds";
const SECONDS_POSITIVE: &str = "a whole number of seconds, at least 1";
const BOOL: &str = "true or false";

enum RawValue {
    Scalar(String),
    List(Vec<String>),
    /// A YAML mapping or tagged value where a scalar was expected; kept to report it.
    Other(String),
}

struct Raw {
    value: RawValue,
    origin: Source,
}

fn read_file(path: &Path) -> Result<BTreeMap<&'static str, Raw>, ConfigError> {
    let read_err = |err| ConfigError::Read {
        path: path.to_path_buf(),
        err,
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(read_err(e)),
    };
    let mut text = String::new();
    file.take(yaml_loc::MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(read_err)?;
    if text.len() as u64 > yaml_loc::MAX_FILE_BYTES {
        return Err(read_err(std::io::Error::other(
            "the file is larger than 1 MiB",
        )));
    }
    parse_file(path, &text)
}

fn parse_file(path: &Path, text: &str) -> Result<BTreeMap<&'static str, Raw>, ConfigError> {
    let doc: Value = serde_yaml::from_str(text).map_err(|e| ConfigError::Syntax {
        path: path.to_path_buf(),
        line: yaml_loc::error_line(&e),
        message: yaml_loc::error_message(&e),
    })?;
    let here = |keys: &[&str]| Source::File {
        path: path.to_path_buf(),
        line: yaml_loc::key_line(text, keys).unwrap_or(1),
    };
    let mut out = BTreeMap::new();
    let top = match doc {
        Value::Null => return Ok(out),
        Value::Mapping(m) => m,
        other => {
            return Err(ConfigError::WrongType {
                key: "the config file".into(),
                found: describe(&other),
                expected: format!("a mapping of sections ({})", SECTIONS.join(", ")),
                origin: here(&[]),
            });
        }
    };
    for (k, v) in top {
        let section = scalar_text(&k).unwrap_or_else(|| describe(&k));
        if !SECTIONS.contains(&section.as_str()) {
            let suggestion = yaml_loc::closest(&section, SECTIONS.iter().copied())
                .map(str::to_string)
                .or_else(|| {
                    // `port: 8200` at the top level: point at `server.port`.
                    KEYS.iter()
                        .map(|(key, _)| *key)
                        .find(|key| key.split_once('.').is_some_and(|(_, name)| name == section))
                        .map(str::to_string)
                });
            return Err(ConfigError::UnknownKey {
                origin: here(&[&section]),
                key: section,
                suggestion,
            });
        }
        let entries = match v {
            Value::Null => continue,
            Value::Mapping(m) => m,
            other => {
                return Err(ConfigError::WrongType {
                    found: describe(&other),
                    expected: format!("a mapping of {section}.* keys"),
                    origin: here(&[&section]),
                    key: section,
                });
            }
        };
        for (k, v) in entries {
            let name = scalar_text(&k).unwrap_or_else(|| describe(&k));
            let full = format!("{section}.{name}");
            let origin = here(&[&section, &name]);
            let Some((key, _)) = KEYS.iter().find(|(key, _)| *key == full) else {
                let suggestion =
                    yaml_loc::closest(&full, KEYS.iter().map(|(key, _)| *key)).map(str::to_string);
                return Err(ConfigError::UnknownKey {
                    key: full,
                    origin,
                    suggestion,
                });
            };
            let value = match v {
                Value::Null => continue,
                Value::Sequence(items) => RawValue::List(
                    items
                        .iter()
                        .map(|i| scalar_text(i).ok_or_else(|| describe(i)))
                        .collect::<Result<_, _>>()
                        .map_err(|found| ConfigError::WrongType {
                            key: full.clone(),
                            found,
                            expected: "a list of strings".into(),
                            origin: origin.clone(),
                        })?,
                ),
                other => match scalar_text(&other) {
                    Some(s) => RawValue::Scalar(s),
                    None => RawValue::Other(describe(&other)),
                },
            };
            out.insert(*key, Raw { value, origin });
        }
    }
    Ok(out)
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A short rendering of a YAML value for an error message.
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
        other => scalar_text(other).unwrap_or_default(),
    }
}

fn wrong_type(key: &str, found: &str, expected: &str, origin: &Source) -> ConfigError {
    ConfigError::WrongType {
        key: key.to_string(),
        found: found.to_string(),
        expected: expected.to_string(),
        origin: origin.clone(),
    }
}

struct Builder<'a> {
    raw: &'a BTreeMap<&'static str, Raw>,
    user_home: Option<&'a Path>,
}

impl Builder<'_> {
    fn invalid(&self, key: &str, value: &str, expected: &str, origin: &Source) -> ConfigError {
        ConfigError::Invalid {
            key: key.to_string(),
            value: mask_url(value),
            expected: expected.to_string(),
            origin: origin.clone(),
        }
    }

    /// The value of `key` parsed with `parse`, or `None` when it is not set.
    fn opt<T>(
        &self,
        key: &str,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, ConfigError> {
        let Some(raw) = self.raw.get(key) else {
            return Ok(None);
        };
        match &raw.value {
            RawValue::Scalar(s) => parse(s)
                .map(Some)
                .ok_or_else(|| self.invalid(key, s, expected, &raw.origin)),
            RawValue::List(_) => Err(wrong_type(key, "a list", expected, &raw.origin)),
            RawValue::Other(found) => Err(wrong_type(key, found, expected, &raw.origin)),
        }
    }

    fn get<T>(
        &self,
        key: &str,
        default: T,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T, ConfigError> {
        Ok(self.opt(key, expected, parse)?.unwrap_or(default))
    }

    /// `server.api_keys`: a YAML list or a comma-separated string; trimmed, empties dropped.
    fn api_keys(&self) -> Result<Vec<String>, ConfigError> {
        self.list("server.api_keys", "a list or comma-separated keys")
    }

    /// The error for a bad `value` of `key`, from wherever `key` was set.
    fn invalid_at(&self, key: &str, value: &str, expected: &str) -> ConfigError {
        let origin = self
            .raw
            .get(key)
            .map(|r| r.origin.clone())
            .unwrap_or(Source::Default);
        self.invalid(key, value, expected, &origin)
    }

    /// A YAML list or a comma-separated string; trimmed, empties dropped.
    fn list(&self, key: &str, expected: &str) -> Result<Vec<String>, ConfigError> {
        let Some(raw) = self.raw.get(key) else {
            return Ok(Vec::new());
        };
        let items: Vec<&str> = match &raw.value {
            RawValue::Scalar(s) => s.split(',').collect(),
            RawValue::List(items) => items.iter().map(String::as_str).collect(),
            RawValue::Other(found) => {
                return Err(self.invalid(key, found, expected, &raw.origin));
            }
        };
        Ok(items
            .into_iter()
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_string)
            .collect())
    }

    fn expand(&self, p: &str) -> PathBuf {
        expand_tilde(p, self.user_home).unwrap_or_else(|_| PathBuf::from(p))
    }

    fn path(&self, s: &str) -> Option<PathBuf> {
        let p = s.trim();
        if p.is_empty() || (p.starts_with('~') && self.user_home.is_none()) {
            return None;
        }
        expand_tilde(p, self.user_home).ok()
    }
}

/// A DNS host name: letters, digits, `.`, `-`.
fn is_host_name(h: &str) -> bool {
    !h.is_empty()
        && !h.starts_with(['-', '.'])
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
}

/// Expand a leading `~` or `~/` to the user's home. `~user` is not supported (left as is).
fn expand_tilde(p: &str, home: Option<&Path>) -> Result<PathBuf, ConfigError> {
    if p == "~" {
        return home.map(Path::to_path_buf).ok_or(ConfigError::NoHome);
    }
    match p.strip_prefix("~/") {
        Some(rest) => Ok(home.ok_or(ConfigError::NoHome)?.join(rest)),
        None => Ok(PathBuf::from(p)),
    }
}

fn word(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty() && !t.contains(char::is_whitespace)).then(|| t.to_string())
}

fn whole(s: &str) -> Option<u64> {
    s.trim().parse().ok()
}

fn positive(s: &str) -> Option<u64> {
    whole(s).filter(|n| *n > 0)
}

fn boolean(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// `s` trimmed, if it is a URL with one of `schemes` and something after `://`.
fn url_with(s: &str, schemes: &[&str]) -> Option<String> {
    let t = s.trim();
    let (scheme, rest) = t.split_once("://")?;
    (schemes.iter().any(|ok| scheme.eq_ignore_ascii_case(ok))
        && !rest.is_empty()
        && !t.contains(char::is_whitespace))
    .then(|| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Env {
        vars: HashMap<String, String>,
        _dir: tempfile::TempDir,
        home: PathBuf,
    }

    impl Env {
        fn new() -> Env {
            let dir = tempfile::tempdir().expect("tempdir");
            let home = dir.path().join("h");
            std::fs::create_dir_all(home.join(".agenticore")).expect("mkdir");
            let mut vars = HashMap::new();
            vars.insert("HOME".to_string(), home.display().to_string());
            Env {
                vars,
                _dir: dir,
                home,
            }
        }
        fn set(mut self, k: &str, v: &str) -> Env {
            self.vars.insert(k.into(), v.into());
            self
        }
        fn file_path(&self) -> PathBuf {
            self.home.join(".agenticore/config.yml")
        }
        fn file(self, text: &str) -> Env {
            std::fs::write(self.file_path(), text).expect("write");
            self
        }
        fn load(&self) -> Result<Config, ConfigError> {
            Config::load_with(&|k| self.vars.get(k).cloned())
        }
    }

    #[test]
    fn every_variable_is_documented_with_its_default() {
        let c = Env::new().load().expect("load");
        for (key, env) in KEYS {
            let doc = crate::environment::find(env)
                .unwrap_or_else(|| panic!("{env} ({key}) is missing from environment::VARIABLES"));
            let shown = c.display_value(key);
            if !doc.secret && !doc.default.starts_with('~') {
                assert_eq!(doc.default, shown, "documented default of {env}");
            }
        }
        assert!(crate::environment::find(HOME_ENV).is_some());
    }

    #[test]
    fn defaults() {
        let env = Env::new();
        let c = env.load().expect("load");
        assert_eq!(c.home, env.home.join(".agenticore"));
        assert_eq!(c.server.transport, Transport::Sse);
        assert!(c.server.transport.is_http());
        assert_eq!(c.server.host, "127.0.0.1");
        assert_eq!(c.server.port, 8200);
        assert!(c.server.api_keys.is_empty());
        assert_eq!(c.server.url, None);
        assert_eq!(c.redis.url, None);
        assert_eq!(c.redis.key_prefix, "agenticore");
        assert_eq!(c.claude.binary, "claude");
        assert_eq!(c.claude.timeout_seconds, 3600);
        assert_eq!(c.claude.default_profile, "code");
        assert_eq!(c.claude.config_dir, None);
        assert_eq!(c.claude.stall_timeout_seconds, 900);
        assert_eq!(c.claude.kill_grace_seconds, 5);
        assert_eq!(c.repos.root, env.home.join("agenticore-repos"));
        assert_eq!(c.repos.max_parallel_jobs, 3);
        assert_eq!(c.repos.job_ttl_seconds, 86400);
        assert!(c.otel.enabled);
        assert_eq!(c.otel.endpoint, "http://otel-collector:4317");
        assert_eq!(c.otel.protocol, "grpc");
        assert!(!c.otel.log_prompts);
        assert!(c.otel.log_tool_details);
        assert_eq!(c.otel.traces_endpoint, None);
        assert_eq!(c.github.token, None);
        assert_eq!(c.postgres.url, None);
        assert_eq!(c.jobs_db_path(), c.home.join("jobs.db"));
        assert_eq!(c.logs_dir(), c.home.join("logs"));
        assert_eq!(c.jobs_dir(), c.home.join("jobs"));
        assert_eq!(c.profiles_dir(), c.home.join("profiles"));
        assert!(c.entries().iter().all(|e| e.source == Source::Default));
        assert_eq!(c.entries().len(), KEYS.len() + 1);
    }

    #[test]
    fn empty_file_is_defaults() {
        let env = Env::new().file("# nothing here\n");
        assert_eq!(env.load().expect("load").server.port, 8200);
    }

    const FILE: &str = "\
server:
  transport: stdio
  host: 0.0.0.0
  port: 9000
  api_keys: [a, ' b ', '']
  url: https://agenticore.example
redis:
  url: redis://:pw@redis:6379/0
  key_prefix: ac
claude:
  binary: /usr/local/bin/claude
  timeout: 60
  default_profile: review
  config_dir: ~/claude-cfg
  stall_timeout: 0
  kill_grace: 2
repos:
  root: ~/repos
  max_parallel_jobs: 8
  job_ttl: 600
otel:
  enabled: false
  endpoint: https://collector:4318
  protocol: http/protobuf
  log_prompts: true
  log_tool_details: no
  traces_endpoint: https://collector:4318
github:
  token: ghp_secret
postgres:
  url: postgres://u:pgpass@db/x
";

    #[test]
    fn file_values() {
        let env = Env::new().file(FILE);
        let c = env.load().expect("load");
        assert_eq!(c.server.transport, Transport::Stdio);
        assert_eq!(c.server.host, "0.0.0.0");
        assert_eq!(c.server.port, 9000);
        assert_eq!(c.server.api_keys, vec!["a", "b"]);
        assert_eq!(c.server.url.as_deref(), Some("https://agenticore.example"));
        assert_eq!(c.redis.url.as_deref(), Some("redis://:pw@redis:6379/0"));
        assert_eq!(c.redis.key_prefix, "ac");
        assert_eq!(c.claude.binary, "/usr/local/bin/claude");
        assert_eq!(c.claude.timeout_seconds, 60);
        assert_eq!(c.claude.default_profile, "review");
        assert_eq!(c.claude.config_dir, Some(env.home.join("claude-cfg")));
        assert_eq!(c.claude.stall_timeout_seconds, 0);
        assert_eq!(c.claude.kill_grace_seconds, 2);
        assert_eq!(c.repos.root, env.home.join("repos"));
        assert_eq!(c.repos.max_parallel_jobs, 8);
        assert_eq!(c.repos.job_ttl_seconds, 600);
        assert!(!c.otel.enabled);
        assert_eq!(c.otel.endpoint, "https://collector:4318");
        assert_eq!(c.otel.protocol, "http/protobuf");
        assert!(c.otel.log_prompts);
        assert!(!c.otel.log_tool_details);
        assert_eq!(
            c.otel.traces_endpoint.as_deref(),
            Some("https://collector:4318")
        );
        assert_eq!(c.github.token.as_deref(), Some("ghp_secret"));
        assert_eq!(c.postgres.url.as_deref(), Some("postgres://u:pgpass@db/x"));
        assert_eq!(
            c.source_of("claude.timeout"),
            Source::File {
                path: env.file_path(),
                line: 12
            }
        );
        assert_eq!(
            c.source_of("claude.timeout").to_string(),
            format!("{}:12", env.file_path().display())
        );
    }

    #[test]
    fn api_keys_as_comma_string() {
        let env = Env::new().file("server:\n  api_keys: 'k1, k2,,'\n");
        assert_eq!(env.load().expect("load").server.api_keys, vec!["k1", "k2"]);
        let env = Env::new().set("AGENTICORE_API_KEYS", " x ,, y ,");
        assert_eq!(env.load().expect("load").server.api_keys, vec!["x", "y"]);
    }

    #[test]
    fn github_hosts_and_gh_binary() {
        let c = Env::new().load().expect("load");
        assert_eq!(c.github.gh_binary, "gh");
        assert!(c.github.hosts.is_empty());
        let env = Env::new()
            .file("github:\n  hosts: [GHE.example.com, ' git.corp ']\n  gh_binary: /opt/gh\n");
        let c = env.load().expect("load");
        assert_eq!(c.github.hosts, vec!["ghe.example.com", "git.corp"]);
        assert_eq!(c.github.gh_binary, "/opt/gh");
        let env = Env::new().set("AGENTICORE_GITHUB_HOSTS", "a.example,b.example");
        let c = env.load().expect("load");
        assert_eq!(c.github.hosts, vec!["a.example", "b.example"]);
        let err = Env::new()
            .set("AGENTICORE_GITHUB_HOSTS", "ok.example,-bad")
            .load()
            .expect_err("bad host");
        let msg = err.to_string();
        assert!(
            msg.contains("github.hosts") && msg.contains("AGENTICORE_GITHUB_HOSTS"),
            "{msg}"
        );
    }

    #[test]
    fn a_kubernetes_service_link_in_agenticore_port_is_not_a_port() {
        let c = Config::load_with(&|k| match k {
            "HOME" => Some("/home/u".into()),
            "AGENTICORE_HOME" => Some("/tmp/agenticore-no-such-home".into()),
            "AGENTICORE_PORT" => Some("tcp://10.96.0.7:8200".into()),
            _ => None,
        })
        .expect("a service link is ignored, not an error");
        assert_eq!(c.server.port, 8200);
        let bad = Config::load_with(&|k| match k {
            "HOME" => Some("/home/u".into()),
            "AGENTICORE_HOME" => Some("/tmp/agenticore-no-such-home".into()),
            "AGENTICORE_PORT" => Some("http://x:1".into()),
            _ => None,
        });
        assert!(bad.is_err());
    }

    #[test]
    fn env_beats_file() {
        let env = Env::new()
            .file(FILE)
            .set("AGENTICORE_CLAUDE_TIMEOUT", "120")
            .set("AGENTICORE_TRANSPORT", "http")
            .set("GITHUB_TOKEN", "from-env")
            .set("OTEL_EXPORTER_OTLP_PROTOCOL", "GRPC");
        let c = env.load().expect("load");
        assert_eq!(c.claude.timeout_seconds, 120);
        assert_eq!(c.server.transport, Transport::Http);
        assert!(c.server.transport.is_http());
        assert_eq!(c.github.token.as_deref(), Some("from-env"));
        assert_eq!(c.otel.protocol, "grpc");
        assert_eq!(
            c.source_of("claude.timeout"),
            Source::Env("AGENTICORE_CLAUDE_TIMEOUT")
        );
        assert_eq!(
            c.source_of("claude.timeout").to_string(),
            "env AGENTICORE_CLAUDE_TIMEOUT"
        );
        // Untouched keys keep the file's value.
        assert_eq!(c.server.port, 9000);
    }

    #[test]
    fn empty_env_is_unset() {
        let env = Env::new()
            .file(FILE)
            .set("AGENTICORE_PORT", "")
            .set("REDIS_URL", "")
            .set("AGENTICORE_HOME", "");
        let c = env.load().expect("load");
        assert_eq!(c.server.port, 9000);
        assert_eq!(c.redis.url.as_deref(), Some("redis://:pw@redis:6379/0"));
        assert_eq!(c.home, env.home.join(".agenticore"));
    }

    #[test]
    fn agenticore_home_moves_everything() {
        let env = Env::new();
        let other = env.home.join("elsewhere");
        std::fs::create_dir_all(&other).expect("mkdir");
        std::fs::write(other.join("config.yml"), "server:\n  port: 1234\n").expect("write");
        let env = env.set("AGENTICORE_HOME", &other.display().to_string());
        let c = env.load().expect("load");
        assert_eq!(c.home, other);
        assert_eq!(c.server.port, 1234);
        assert_eq!(c.jobs_db_path(), other.join("jobs.db"));
        assert_eq!(c.profiles_dir(), other.join("profiles"));
        assert_eq!(c.source_of("home"), Source::Env("AGENTICORE_HOME"));
        // The repos root still defaults under the user's home.
        assert_eq!(c.repos.root, env.home.join("agenticore-repos"));
    }

    #[test]
    fn tilde_expansion() {
        let env = Env::new()
            .set("AGENTICORE_HOME", "~/ac")
            .set("AGENTICORE_REPOS_ROOT", "~/code/repos")
            .set("AGENTICORE_CLAUDE_CONFIG_DIR", "~");
        let c = env.load().expect("load");
        assert_eq!(c.home, env.home.join("ac"));
        assert_eq!(c.repos.root, env.home.join("code/repos"));
        assert_eq!(c.claude.config_dir, Some(env.home.clone()));
    }

    #[test]
    fn no_home_is_an_error() {
        let c = Config::load_with(&|_| None);
        assert!(matches!(c, Err(ConfigError::NoHome)), "{c:?}");
    }

    #[test]
    fn bad_value_from_env_names_key_and_var() {
        let env = Env::new().set("AGENTICORE_CLAUDE_TIMEOUT", "abc");
        let err = env.load().expect_err("must fail");
        assert_eq!(
            err.to_string(),
            "invalid value \"abc\" for claude.timeout (env AGENTICORE_CLAUDE_TIMEOUT): \
             expected a whole number of seconds, at least 1"
        );
        for (var, val) in [
            ("AGENTICORE_PORT", "0"),
            ("AGENTICORE_PORT", "70000"),
            ("AGENTICORE_MAX_PARALLEL_JOBS", "0"),
            ("AGENTICORE_MAX_PARALLEL_JOBS", "257"),
            ("AGENTICORE_TRANSPORT", "grpc"),
            ("AGENTICORE_OTEL_ENABLED", "maybe"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "udp"),
            ("REDIS_URL", "localhost:6379"),
            ("AGENTICORE_URL", "ftp://x"),
            ("AGENTICORE_STALL_TIMEOUT", "-1"),
            ("AGENTICORE_DEFAULT_PROFILE", "../etc"),
            ("AGENTICORE_OTEL_TRACES_ENDPOINT", "grpc://collector:4317"),
            ("AGENTICORE_OTEL_TRACES_ENDPOINT", "collector:4318"),
        ] {
            let err = Env::new().set(var, val).load().expect_err(var);
            let msg = err.to_string();
            assert!(msg.contains(&format!("(env {var})")), "{msg}");
            assert!(msg.contains(&format!("{val:?}")), "{msg}");
        }
    }

    #[test]
    fn bad_value_from_file_names_key_and_line() {
        let env = Env::new().file("server:\n  port: 8200\nclaude:\n  timeout: soon\n");
        let err = env.load().expect_err("must fail");
        assert_eq!(
            err.to_string(),
            format!(
                "invalid value \"soon\" for claude.timeout ({}:4): \
                 expected a whole number of seconds, at least 1",
                env.file_path().display()
            )
        );
        // Wrong YAML type: a list where a number belongs.
        let env = Env::new().file("repos:\n  max_parallel_jobs: [1, 2]\n");
        let msg = env.load().expect_err("must fail").to_string();
        assert_eq!(
            msg,
            format!(
                "wrong type for repos.max_parallel_jobs ({}:2): \
                 expected a whole number from 1 to 256, found a list",
                env.file_path().display()
            )
        );
        assert!(
            msg.contains(&format!("{}:2", env.file_path().display())),
            "{msg}"
        );
        // A section that is not a mapping.
        let env = Env::new().file("claude: 5\n");
        let msg = env.load().expect_err("must fail").to_string();
        assert!(
            msg.contains(&format!("{}:1", env.file_path().display())),
            "{msg}"
        );
    }

    #[test]
    fn unknown_key_with_suggestion() {
        let env = Env::new().file("server:\n  port: 1\nclaude:\n  timout: 5\n");
        let err = env.load().expect_err("must fail");
        assert_eq!(
            err.to_string(),
            format!(
                "unknown key \"claude.timout\" in {}:4 (did you mean claude.timeout?)",
                env.file_path().display()
            )
        );
        let env = Env::new().file("port: 8200\n");
        let msg = env.load().expect_err("must fail").to_string();
        assert!(msg.contains("did you mean server.port?"), "{msg}");
        let env = Env::new().file("sever:\n  port: 1\n");
        let msg = env.load().expect_err("must fail").to_string();
        assert!(msg.contains("did you mean server?"), "{msg}");
    }

    #[test]
    fn yaml_syntax_error_has_line() {
        let env = Env::new().file("server:\n  port: 1\n  host: [oops\nclaude:\n  timeout: 5\n");
        let err = env.load().expect_err("must fail");
        let ConfigError::Syntax { line, .. } = &err else {
            panic!("{err:?}");
        };
        assert!(line.is_some_and(|l| l >= 3), "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("{}:", env.file_path().display())),
            "{err}"
        );
    }

    #[test]
    fn unreadable_file_is_an_error() {
        let env = Env::new();
        std::fs::create_dir_all(env.file_path()).expect("mkdir");
        let err = env.load().expect_err("a directory is not a file");
        assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    }

    #[test]
    fn secrets_are_masked() {
        let env = Env::new()
            .file(FILE)
            .set("AGENTICORE_API_KEYS", "key-one,key-two,key-three");
        let c = env.load().expect("load");
        let entries = c.entries();
        let value = |k: &str| {
            entries
                .iter()
                .find(|e| e.key == k)
                .map(|e| e.value.clone())
                .unwrap_or_default()
        };
        assert_eq!(value("server.api_keys"), "(3 keys)");
        assert_eq!(value("github.token"), "****");
        assert_eq!(value("redis.url"), "redis://:****@redis:6379/0");
        assert_eq!(value("postgres.url"), "postgres://u:****@db/x");
        let entry = entries.iter().find(|e| e.key == "server.api_keys");
        assert_eq!(
            entry.map(|e| (e.env, e.source.clone())),
            Some(("AGENTICORE_API_KEYS", Source::Env("AGENTICORE_API_KEYS")))
        );

        let debug = format!("{c:?}");
        for secret in ["key-one", "key-two", "ghp_secret", "pgpass", ":pw@"] {
            assert!(!debug.contains(secret), "{secret} leaked: {debug}");
        }
        assert!(debug.contains("redis://:****@redis"), "{debug}");
        let all: String = entries.iter().map(|e| e.value.clone()).collect();
        for secret in ["key-one", "ghp_secret", "pgpass", ":pw@"] {
            assert!(!all.contains(secret), "{secret} leaked");
        }
    }

    #[test]
    fn traces_endpoint() {
        let c = Env::new().set("AGENTICORE_OTEL_TRACES_ENDPOINT", " http://127.0.0.1:4318 ");
        let c = c.load().expect("load");
        assert_eq!(
            c.otel.traces_endpoint.as_deref(),
            Some("http://127.0.0.1:4318")
        );
        assert_eq!(
            c.source_of("otel.traces_endpoint"),
            Source::Env("AGENTICORE_OTEL_TRACES_ENDPOINT")
        );
        // Credentials in it are masked wherever it is shown.
        for (url, secret) in [
            ("https://u:tracepw@collector:4318", "tracepw"),
            ("https://tracetok@collector:4318", "tracetok"),
        ] {
            let c = Env::new().set("AGENTICORE_OTEL_TRACES_ENDPOINT", url);
            let c = c.load().expect("load");
            let shown: String = c.entries().iter().map(|e| e.value.clone()).collect();
            assert!(!shown.contains(secret), "{shown}");
            assert!(shown.contains("****@collector:4318"), "{shown}");
            let debug = format!("{c:?}");
            assert!(!debug.contains(secret), "{debug}");
        }
        // Only http:// and https://, with a message that says so (and hides the token).
        let err = Env::new()
            .set(
                "AGENTICORE_OTEL_TRACES_ENDPOINT",
                "grpc://tok@collector:4317",
            )
            .load()
            .expect_err("not http");
        let msg = err.to_string();
        assert!(msg.contains("otel.traces_endpoint"), "{msg}");
        assert!(msg.contains("AGENTICORE_OTEL_TRACES_ENDPOINT"), "{msg}");
        assert!(msg.contains("an http:// or https:// URL"), "{msg}");
    }

    #[test]
    fn bad_url_error_masks_password() {
        let env = Env::new().set("POSTGRES_URL", "mysql://root:hunter2@db/x");
        let msg = env.load().expect_err("must fail").to_string();
        assert!(!msg.contains("hunter2"), "{msg}");
        assert!(msg.contains("root:****@db"), "{msg}");
    }

    #[test]
    fn mask_url_cases() {
        assert_eq!(mask_url("redis://redis:6379"), "redis://redis:6379");
        assert_eq!(mask_url("redis://user@h"), "redis://user@h");
        assert_eq!(
            mask_url("ssh://git@github.com/o/r"),
            "ssh://git@github.com/o/r"
        );
        // A bare user of an http(s) URL is usually a token.
        assert_eq!(mask_url("https://tok@host/v1"), "https://****@host/v1");
        assert_eq!(mask_url("HTTP://tok@host"), "HTTP://****@host");
        assert_eq!(mask_url("https://host/p@q"), "https://host/p@q");
        assert_eq!(mask_url("https://a:b@h/p@q"), "https://a:****@h/p@q");
        assert_eq!(mask_url("not a url"), "not a url");
    }

    #[test]
    fn never_panics_on_odd_input() {
        for text in [
            "- a\n- b\n",
            "42",
            "server: [1, 2]\n",
            "server:\n  port: {a: 1}\n",
            "server:\n  api_keys: [{a: 1}]\n",
            "? [a, b]\n: c\n",
            "server:\n  port: !!binary aGVsbG8=\n",
            "\u{feff}server:\n  port: 5\n",
            "{{{{",
            "server:\n  port: 1\nserver:\n  port: 2\n",
        ] {
            let _ = Env::new().file(text).load();
        }
    }
}
