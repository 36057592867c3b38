//! Every environment variable agenticore reads, with its default and meaning: the one list the
//! man page's ENVIRONMENT section is rendered from, and that tests hold the README's table and
//! `.env.example` to. The config-file keys and their parsing live in `config.rs`; a test there
//! checks that each of its variables is listed here.

/// One environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvVar {
    pub name: &'static str,
    /// The group it belongs to in the README and `.env.example` (the seed's grouping).
    pub group: &'static str,
    /// The default, as a user would write it; empty when unset by default.
    pub default: &'static str,
    /// One sentence: what it does.
    pub help: &'static str,
    /// A secret: shown masked by `agenticore config`, never logged, never passed to `claude`.
    pub secret: bool,
}

const fn var(
    name: &'static str,
    group: &'static str,
    default: &'static str,
    help: &'static str,
) -> EnvVar {
    EnvVar {
        name,
        group,
        default,
        help,
        secret: false,
    }
}

const fn secret(name: &'static str, group: &'static str, help: &'static str) -> EnvVar {
    EnvVar {
        name,
        group,
        default: "",
        help,
        secret: true,
    }
}

/// In the seed's order, then ours.
pub const VARIABLES: &[EnvVar] = &[
    var(
        "AGENTICORE_TRANSPORT",
        "Server",
        "sse",
        "`sse` or `http`: serve REST and MCP over HTTP; `stdio`: MCP on stdin/stdout.",
    ),
    var(
        "AGENTICORE_HOST",
        "Server",
        "127.0.0.1",
        "Address `serve` binds; a non-loopback address needs AGENTICORE_API_KEYS.",
    ),
    var(
        "AGENTICORE_PORT",
        "Server",
        "8200",
        "Port `serve` listens on.",
    ),
    secret(
        "AGENTICORE_API_KEYS",
        "Server",
        "Comma-separated API keys the daemon accepts (X-API-Key, Bearer or ?api_key=).",
    ),
    var(
        "AGENTICORE_URL",
        "Server",
        "",
        "The daemon the CLI talks to; unset: the daemon on HOST:PORT if one answers, else the local engine.",
    ),
    secret(
        "AGENTICORE_API_KEY",
        "Server",
        "The key the CLI sends to the daemon (default: the first of AGENTICORE_API_KEYS).",
    ),
    var(
        "AGENTICORE_REQUEUE_INTERRUPTED",
        "Server",
        "false",
        "On start, run jobs a crashed daemon left running again, as new jobs.",
    ),
    var(
        "AGENTICORE_METRICS_PUBLIC",
        "Server",
        "false",
        "GET /metrics (Prometheus) answers without an API key.",
    ),
    var(
        "AGENTICORE_MCP_ALLOWED_HOSTS",
        "Server",
        "",
        "Host names /mcp accepts besides loopback (comma list, `*` = any).",
    ),
    var(
        "AGENTICORE_POD_NAME",
        "Server",
        "",
        "Names this node `{name}:{pid}` in job records and the shared queue; unset: the host name.",
    ),
    var(
        "REDIS_URL",
        "Redis",
        "",
        "Redis job store URL (redis:// or unix://; rediss:// is not supported yet); empty: the SQLite file.",
    ),
    var(
        "REDIS_KEY_PREFIX",
        "Redis",
        "agenticore",
        "Key namespace in Redis (`{prefix}:job:{id}`).",
    ),
    var(
        "AGENTICORE_REDIS_REQUIRED",
        "Redis",
        "false",
        "Refuse to start (exit 5) when REDIS_URL is set but Redis cannot be reached, instead of falling back to SQLite.",
    ),
    var(
        "AGENTICORE_CLAUDE_BINARY",
        "Claude Code",
        "claude",
        "The Claude Code program (a name on PATH or a path).",
    ),
    var(
        "AGENTICORE_CLAUDE_TIMEOUT",
        "Claude Code",
        "3600",
        "Default wall-clock limit of a job, in seconds (a profile or --timeout overrides it).",
    ),
    var(
        "AGENTICORE_DEFAULT_PROFILE",
        "Claude Code",
        "code",
        "Profile used when a job names none.",
    ),
    var(
        "AGENTICORE_CLAUDE_CONFIG_DIR",
        "Claude Code",
        "",
        "CLAUDE_CONFIG_DIR given to claude (its settings, login and transcripts).",
    ),
    var(
        "AGENTICORE_STALL_TIMEOUT",
        "Claude Code",
        "900",
        "Fail a job whose claude prints nothing for this many seconds (0 = off).",
    ),
    var(
        "AGENTICORE_KILL_GRACE",
        "Claude Code",
        "5",
        "Seconds between SIGTERM and SIGKILL when a job is cancelled or times out.",
    ),
    secret(
        "ANTHROPIC_API_KEY",
        "Claude Code",
        "Passed to claude (as are the other ANTHROPIC_* and CLAUDE_* variables); or log in with `claude login`.",
    ),
    var(
        "AGENTICORE_REPOS_ROOT",
        "Repos",
        "~/agenticore-repos",
        "Clone cache and job worktrees.",
    ),
    var(
        "AGENTICORE_MAX_PARALLEL_JOBS",
        "Repos",
        "3",
        "Jobs running at once (1-256); more wait in the queue.",
    ),
    var(
        "AGENTICORE_JOB_TTL",
        "Repos",
        "86400",
        "Seconds a finished job is kept in the store.",
    ),
    var(
        "AGENTICORE_OTEL_ENABLED",
        "OTEL",
        "true",
        "Give claude the OTEL environment (and OTEL_RESOURCE_ATTRIBUTES naming its job) so its telemetry reaches the collector or agenticore.",
    ),
    var(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL",
        "http://otel-collector:4317",
        "OTLP endpoint claude exports to: a collector, or agenticore's own serve address (then OTLP/HTTP, with a per-job ingest token).",
    ),
    var(
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL",
        "grpc",
        "OTLP protocol: grpc, http, http/protobuf or http/json.",
    ),
    var(
        "AGENTICORE_OTEL_LOG_PROMPTS",
        "OTEL",
        "false",
        "Include user prompts in claude's telemetry.",
    ),
    var(
        "AGENTICORE_OTEL_LOG_TOOL_DETAILS",
        "OTEL",
        "true",
        "Include tool details in claude's telemetry.",
    ),
    var(
        "AGENTICORE_OTEL_TRACES_ENDPOINT",
        "OTEL",
        "",
        "OTLP/HTTP endpoint (http:// or https://) that agenticore's own job lifecycle spans go to, as protobuf to {endpoint}/v1/traces. Unset: no spans.",
    ),
    secret(
        "GITHUB_TOKEN",
        "GitHub",
        "Token for cloning private repos and auto-PR (`gh`); never passed to claude.",
    ),
    var(
        "AGENTICORE_GH_BINARY",
        "GitHub",
        "gh",
        "The GitHub CLI that auto-PR runs to open pull requests (a name on PATH or a path).",
    ),
    var(
        "AGENTICORE_GITHUB_HOSTS",
        "GitHub",
        "",
        "GitHub Enterprise hosts whose repos get auto-PR pull requests, besides github.com (comma list).",
    ),
    secret(
        "POSTGRES_URL",
        "PostgreSQL",
        "PostgreSQL URL of the telemetry sink: every finished job becomes a row of agenticore_jobs, and the OTLP serve receives on /v1/* rows of agenticore_otel_metrics, _events and _spans (options=-c search_path=SCHEMA picks the schema). Unset: no sink.",
    ),
    var(
        "AGENTICORE_HOME",
        "Files",
        "~/.agenticore",
        "agenticore's own directory: config.yml, jobs.db, logs/, profiles/.",
    ),
    var(
        "RUST_LOG",
        "Files",
        "",
        "Log filter for stderr (e.g. `agenticore=debug`); overrides -v/-q.",
    ),
];

/// The variable `name`, if agenticore reads it.
pub fn find(name: &str) -> Option<&'static EnvVar> {
    VARIABLES.iter().find(|v| v.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_documented() {
        for (i, v) in VARIABLES.iter().enumerate() {
            assert!(
                !VARIABLES[..i].iter().any(|o| o.name == v.name),
                "{} twice",
                v.name
            );
            assert!(!v.help.is_empty() && !v.group.is_empty(), "{}", v.name);
            assert!(!v.secret || v.default.is_empty(), "{}", v.name);
        }
        assert_eq!(find("REDIS_URL").map(|v| v.group), Some("Redis"));
        assert!(find("PATH").is_none());
    }
}
