//! Everything specific to Claude Code's command line: the environment it gets (an allow-list),
//! and the live parsing of its `--output-format stream-json --verbose` output.

use std::collections::BTreeMap;

use serde_json::Value;

use super::events::{EventKind, one_line, tail_chars, truncate_chars};
use crate::job::OUTPUT_LIMIT_CHARS;
use crate::job::{PermissionDenial, Tokens};

/// Flags the runner always passes, whatever the profile says: live events on stdout.
pub const STREAM_ARGS: [&str; 4] = ["-p", "--output-format", "stream-json", "--verbose"];

/// Names passed through from agenticore's environment to claude: what Claude Code itself and
/// the tools it runs need. Everything else (REDIS_URL, POSTGRES_URL, AGENTICORE_API_KEYS,
/// GITHUB_TOKEN, cloud credentials, ...) stays out unless a profile's `env` sets it.
const PASS_EXACT: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TERM",
    "TZ",
    "TMPDIR",
    "IS_SANDBOX",
    "API_TIMEOUT_MS",
    "BASH_DEFAULT_TIMEOUT_MS",
    "BASH_MAX_TIMEOUT_MS",
    "MAX_THINKING_TOKENS",
    "MAX_MCP_OUTPUT_TOKENS",
    "USE_BUILTIN_RIPGREP",
    "NODE_EXTRA_CA_CERTS",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "XDG_DATA_HOME",
    "XDG_STATE_HOME",
];
const PASS_PREFIX: &[&str] = &["ANTHROPIC_", "CLAUDE_", "DISABLE_", "MCP_", "LC_"];
/// Never passed through, even when a prefix above matches.
const NEVER: &[&str] = &[
    "AGENTICORE_API_KEYS",
    "AGENTICORE_API_KEY",
    "REDIS_URL",
    "POSTGRES_URL",
    "GITHUB_TOKEN",
    "GH_TOKEN",
];

/// What the runner adds on top of the passed-through variables.
#[derive(Debug, Clone, Default)]
pub struct ChildEnv {
    pub job_id: String,
    pub profile: String,
    /// The job's repository URL (credentials masked), for `OTEL_RESOURCE_ATTRIBUTES`.
    pub repo: Option<String>,
    /// `CLAUDE_CONFIG_DIR` from agenticore's config.
    pub claude_config_dir: Option<String>,
    /// OTEL settings, when telemetry is enabled.
    pub otel: Option<OtelEnv>,
    /// The profile's `env` (wins over everything but the job id).
    pub profile_env: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct OtelEnv {
    pub endpoint: String,
    pub protocol: String,
    pub log_prompts: bool,
    pub log_tool_details: bool,
    /// agenticore's own OTLP receiver (`serve`'s `/v1/*`), to recognise an endpoint that
    /// points at it.
    pub receiver: Option<OwnReceiver>,
}

/// Where agenticore's own OTLP receiver listens, and the job's ingest token for it.
#[derive(Clone)]
pub struct OwnReceiver {
    /// Host names that reach it besides loopback ones (the bind host, this host's name).
    pub hosts: Vec<String>,
    pub port: u16,
    /// Sent as `x-agenticore-job-token` (only to this receiver), when API keys are on.
    pub job_token: Option<String>,
}

impl std::fmt::Debug for OwnReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnReceiver")
            .field("hosts", &self.hosts)
            .field("port", &self.port)
            .field("job_token", &self.job_token.as_ref().map(|_| "****"))
            .finish()
    }
}

impl OwnReceiver {
    /// agenticore's own receiver as `cfg` describes it (`serve` puts the address it really
    /// listens on there), without a token.
    pub fn of(cfg: &crate::config::Config) -> OwnReceiver {
        let mut hosts = vec![cfg.server.host.clone()];
        if let Ok(h) = nix::unistd::gethostname() {
            hosts.extend(h.into_string().ok());
        }
        OwnReceiver {
            hosts,
            port: cfg.server.port,
            job_token: None,
        }
    }

    /// Does `endpoint` (an OTLP base URL, `http` or `https`) point at this receiver?
    pub fn is(&self, endpoint: &str) -> bool {
        let Ok(url) = reqwest::Url::parse(endpoint.trim()) else {
            return false;
        };
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return false;
        };
        matches!(url.scheme(), "http" | "https")
            && port == self.port
            && (crate::server::auth::is_loopback(host)
                || self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)))
    }
}

/// The OTLP headers variable: ours first, then any the profile set.
const OTLP_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";

/// A value of `OTEL_RESOURCE_ATTRIBUTES` (W3C baggage syntax): percent-encode what is not a
/// plain printable character, and the separators `,` `;` `=` `%` and quotes.
fn resource_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'!' | b'#'..=b'$' | b'&'..=b'+' | b'-'..=b':' | b'<' | b'>'..=b'[' | b']'..=b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The full environment of the claude child, from `parent` (agenticore's own environment).
pub fn child_env(
    parent: impl IntoIterator<Item = (String, String)>,
    extra: &ChildEnv,
) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = parent
        .into_iter()
        .filter(|(k, _)| {
            !NEVER.contains(&k.as_str())
                && (PASS_EXACT.contains(&k.as_str())
                    || PASS_PREFIX.iter().any(|p| k.starts_with(p)))
        })
        .collect();
    if let Some(dir) = &extra.claude_config_dir {
        env.insert("CLAUDE_CONFIG_DIR".into(), dir.clone());
    }
    if let Some(o) = &extra.otel {
        let protocol = match o.protocol.as_str() {
            "http" => "http/protobuf",
            p => p,
        };
        for (k, v) in [
            ("CLAUDE_CODE_ENABLE_TELEMETRY", "1"),
            ("OTEL_METRICS_EXPORTER", "otlp"),
            ("OTEL_LOGS_EXPORTER", "otlp"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", o.endpoint.as_str()),
        ] {
            env.insert(k.into(), v.into());
        }
        if o.log_prompts {
            env.insert("OTEL_LOG_USER_PROMPTS".into(), "1".into());
        }
        if o.log_tool_details {
            env.insert("OTEL_LOG_TOOL_DETAILS".into(), "1".into());
        }
    }
    for (k, v) in &extra.profile_env {
        env.insert(k.clone(), v.clone());
    }
    if let Some(receiver) = extra.otel.as_ref().and_then(|o| o.receiver.as_ref()) {
        aim_at_own_receiver(&mut env, receiver);
    }
    if extra.otel.is_some() {
        // Every data point joins to its job: ours first, then what the profile adds (its
        // values win for keys it repeats, as OTEL reads the list left to right).
        let mut attrs = vec![
            format!("agenticore.job_id={}", resource_value(&extra.job_id)),
            format!("agenticore.profile={}", resource_value(&extra.profile)),
        ];
        if let Some(repo) = &extra.repo {
            attrs.push(format!("agenticore.repo={}", resource_value(repo)));
        }
        if let Some(more) = env
            .get("OTEL_RESOURCE_ATTRIBUTES")
            .filter(|v| !v.trim().is_empty())
        {
            attrs.push(more.clone());
        }
        env.insert("OTEL_RESOURCE_ATTRIBUTES".into(), attrs.join(","));
    }
    env.insert(super::proctree::JOB_ENV.to_string(), extra.job_id.clone());
    env
}

/// When the final endpoint (after the profile's `env`) is agenticore's own receiver: it speaks
/// OTLP/HTTP only, so gRPC becomes `http/protobuf`; and the job's ingest token goes in the
/// headers. An endpoint elsewhere never gets the token.
fn aim_at_own_receiver(env: &mut BTreeMap<String, String>, receiver: &OwnReceiver) {
    let own = env
        .get("OTEL_EXPORTER_OTLP_ENDPOINT")
        .is_some_and(|e| receiver.is(e));
    if !own {
        return;
    }
    if env.get("OTEL_EXPORTER_OTLP_PROTOCOL").map(String::as_str) == Some("grpc") {
        env.insert("OTEL_EXPORTER_OTLP_PROTOCOL".into(), "http/protobuf".into());
    }
    if let Some(token) = &receiver.job_token {
        let ours = format!("{}={token}", crate::telemetry::job_token::HEADER);
        let value = match env.get(OTLP_HEADERS).filter(|v| !v.trim().is_empty()) {
            Some(theirs) => format!("{ours},{theirs}"),
            None => ours,
        };
        env.insert(OTLP_HEADERS.into(), value);
    }
}

/// Claude's final `result` event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultEvent {
    pub subtype: String,
    pub is_error: bool,
    pub result: Option<String>,
    pub num_turns: Option<u64>,
    pub cost_usd: Option<f64>,
    pub tokens: Option<Tokens>,
    pub api_error_status: Option<u16>,
    pub errors: Vec<String>,
    pub permission_denials: Vec<PermissionDenial>,
    /// The raw JSON line (for profiles whose output_format is `json`).
    pub raw: String,
}

/// The live state of one claude run, fed line by line.
#[derive(Debug, Default)]
pub struct StreamState {
    pub session_id: Option<String>,
    pub model: Option<String>,
    pub turns: u64,
    pub last_message: Option<String>,
    pub mcp_failures: Vec<String>,
    pub result: Option<ResultEvent>,
    /// The last lines of the stream (bounded), for `output_format: stream-json`.
    pub tail: String,
    last_message_id: Option<String>,
    /// Lines that were not JSON (claude should print none; kept for the error message).
    pub non_json_lines: u64,
}

const TAIL_KEEP: usize = OUTPUT_LIMIT_CHARS;
const MESSAGE_KEEP: usize = 2_000;

impl StreamState {
    /// Parse one stdout line; returns the events it produced.
    pub fn feed(&mut self, line: &str) -> Vec<EventKind> {
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            return Vec::new();
        }
        self.tail.push_str(line);
        self.tail.push('\n');
        if self.tail.len() > 2 * TAIL_KEEP {
            self.tail = tail_chars(&self.tail, TAIL_KEEP).to_string();
        }
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            self.non_json_lines += 1;
            return Vec::new();
        };
        let mut out = Vec::new();
        match v.get("type").and_then(Value::as_str) {
            Some("system") if v.get("subtype").and_then(Value::as_str) == Some("init") => {
                self.on_init(&v, &mut out)
            }
            Some("assistant") => self.on_assistant(&v, &mut out),
            Some("result") => self.on_result(&v, line, &mut out),
            _ => {}
        }
        out
    }

    fn on_init(&mut self, v: &Value, out: &mut Vec<EventKind>) {
        self.session_id = str_of(v, "session_id").or(self.session_id.take());
        self.model = str_of(v, "model");
        if let Some(servers) = v.get("mcp_servers").and_then(Value::as_array) {
            self.mcp_failures = servers
                .iter()
                .filter_map(|s| {
                    let name = s.get("name")?.as_str()?;
                    let status = s.get("status")?.as_str()?;
                    (status != "connected").then(|| format!("{name}: {status}"))
                })
                .collect();
        }
        if let Some(sid) = &self.session_id {
            out.push(EventKind::Init {
                session_id: sid.clone(),
                model: self.model.clone(),
            });
        }
    }

    fn on_assistant(&mut self, v: &Value, out: &mut Vec<EventKind>) {
        let Some(msg) = v.get("message") else { return };
        if self.session_id.is_none() {
            self.session_id = str_of(v, "session_id");
        }
        // One API response may come as several assistant lines sharing a message id.
        let id = str_of(msg, "id");
        if id.is_none() || id != self.last_message_id {
            self.turns += 1;
            self.last_message_id = id;
            out.push(EventKind::Turn { turns: self.turns });
        }
        let Some(blocks) = msg.get("content").and_then(Value::as_array) else {
            return;
        };
        for b in blocks {
            match b.get("type").and_then(Value::as_str) {
                Some("text") => {
                    if let Some(t) = b.get("text").and_then(Value::as_str)
                        && !t.trim().is_empty()
                    {
                        self.last_message = Some(truncate_chars(t, MESSAGE_KEEP));
                        out.push(EventKind::Assistant {
                            text: truncate_chars(t, MESSAGE_KEEP),
                        });
                    }
                }
                Some("tool_use") => {
                    let name = str_of(b, "name").unwrap_or_else(|| "?".into());
                    let summary = summarize_tool_input(b.get("input"));
                    out.push(EventKind::ToolUse { name, summary });
                }
                _ => {}
            }
        }
    }

    fn on_result(&mut self, v: &Value, line: &str, out: &mut Vec<EventKind>) {
        let usage = v.get("usage");
        let num = |k: &str| usage.and_then(|u| u.get(k)).and_then(Value::as_u64);
        let tokens = usage.map(|_| Tokens {
            input: num("input_tokens").unwrap_or(0),
            output: num("output_tokens").unwrap_or(0),
            cache_read: num("cache_read_input_tokens").unwrap_or(0),
            cache_creation: num("cache_creation_input_tokens").unwrap_or(0),
        });
        let denials = v
            .get("permission_denials")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|d| serde_json::from_value::<PermissionDenial>(d.clone()).ok())
                    .collect()
            })
            .unwrap_or_default();
        let r = ResultEvent {
            subtype: str_of(v, "subtype").unwrap_or_else(|| "unknown".into()),
            is_error: v.get("is_error").and_then(Value::as_bool).unwrap_or(false),
            result: str_of(v, "result"),
            num_turns: v.get("num_turns").and_then(Value::as_u64),
            cost_usd: v.get("total_cost_usd").and_then(Value::as_f64),
            tokens,
            api_error_status: v
                .get("api_error_status")
                .and_then(Value::as_u64)
                .and_then(|s| u16::try_from(s).ok()),
            errors: v
                .get("errors")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|e| e.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            permission_denials: denials,
            raw: line.to_string(),
        };
        if let Some(sid) = str_of(v, "session_id") {
            self.session_id = Some(sid);
        }
        out.push(EventKind::Result {
            subtype: r.subtype.clone(),
            is_error: r.is_error,
            cost_usd: r.cost_usd,
            num_turns: r.num_turns,
        });
        self.result = Some(r);
    }
}

fn str_of(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// A one-line summary of a tool call's input: the command, the path, or the first string.
pub fn summarize_tool_input(input: Option<&Value>) -> String {
    let Some(obj) = input.and_then(Value::as_object) else {
        return String::new();
    };
    for key in [
        "command",
        "file_path",
        "path",
        "pattern",
        "url",
        "description",
        "prompt",
    ] {
        if let Some(s) = obj.get(key).and_then(Value::as_str) {
            return one_line(s, 120);
        }
    }
    obj.values()
        .find_map(Value::as_str)
        .map(|s| one_line(s, 120))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL_STREAM: &str = include_str!("../../tests/fixtures/claude-stream.jsonl");

    #[test]
    fn parses_the_real_commit_a_file_stream() {
        let mut st = StreamState::default();
        let mut events = Vec::new();
        for line in REAL_STREAM.lines() {
            events.extend(st.feed(line));
        }
        assert_eq!(
            st.session_id.as_deref(),
            Some("1bb6633b-c0ae-43a6-a963-22540705f14a")
        );
        assert_eq!(st.turns, 3);
        let r = st.result.as_ref().expect("result");
        assert_eq!(r.subtype, "success");
        assert!(!r.is_error);
        assert_eq!(r.num_turns, Some(3));
        assert_eq!(r.cost_usd, Some(0.05365));
        assert_eq!(
            r.result.as_deref(),
            Some("Created hello.txt and committed it.")
        );
        assert_eq!(r.tokens.as_ref().map(|t| t.output), Some(108));
        assert!(events.iter().any(
            |e| matches!(e, EventKind::ToolUse { name, summary } if name == "Bash" && summary.contains("git commit"))
        ));
        assert_eq!(
            st.last_message.as_deref(),
            Some("Created hello.txt and committed it.")
        );
    }

    #[test]
    fn garbage_lines_are_counted_not_fatal() {
        let mut st = StreamState::default();
        assert!(st.feed("not json").is_empty());
        assert!(st.feed("{\"type\":\"result\"").is_empty());
        assert_eq!(st.non_json_lines, 2);
        assert!(st.result.is_none());
    }

    #[test]
    fn denials_and_api_errors_are_read() {
        let mut st = StreamState::default();
        st.feed(r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":401,"result":"Invalid API key","permission_denials":[{"tool_name":"Write","tool_use_id":"t1","tool_input":{"file_path":"x"}}]}"#);
        let r = st.result.expect("result");
        assert!(r.is_error);
        assert_eq!(r.api_error_status, Some(401));
        assert_eq!(r.permission_denials.len(), 1);
        assert_eq!(r.permission_denials[0].tool_name, "Write");
    }

    #[test]
    fn child_env_is_an_allow_list() {
        let parent = [
            ("PATH", "/bin"),
            ("HOME", "/h"),
            ("ANTHROPIC_API_KEY", "sk"),
            ("CLAUDE_CODE_MAX_RETRIES", "0"),
            ("REDIS_URL", "redis://secret"),
            ("POSTGRES_URL", "postgres://u:p@h"),
            ("AGENTICORE_API_KEYS", "k1"),
            ("GITHUB_TOKEN", "ghp_x"),
            ("AWS_SECRET_ACCESS_KEY", "x"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://parent"),
            ("RANDOM", "x"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let env = child_env(
            parent,
            &ChildEnv {
                job_id: "j1".into(),
                profile: "code".into(),
                ..Default::default()
            },
        );
        let keys: Vec<&str> = env.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "AGENTICORE_JOB_ID",
                "ANTHROPIC_API_KEY",
                "CLAUDE_CODE_MAX_RETRIES",
                "HOME",
                "PATH"
            ]
        );
    }

    #[test]
    fn otel_env_is_set_when_enabled() {
        let env = child_env(
            Vec::new(),
            &ChildEnv {
                job_id: "j1".into(),
                profile: "code".into(),
                otel: Some(OtelEnv {
                    endpoint: "http://c:4317".into(),
                    protocol: "grpc".into(),
                    log_prompts: false,
                    log_tool_details: true,
                    receiver: None,
                }),
                ..Default::default()
            },
        );
        assert_eq!(env["CLAUDE_CODE_ENABLE_TELEMETRY"], "1");
        assert_eq!(env["OTEL_EXPORTER_OTLP_ENDPOINT"], "http://c:4317");
        assert_eq!(env["OTEL_LOG_TOOL_DETAILS"], "1");
        assert!(!env.contains_key("OTEL_LOG_USER_PROMPTS"));
        assert_eq!(
            env["OTEL_RESOURCE_ATTRIBUTES"],
            "agenticore.job_id=j1,agenticore.profile=code"
        );
    }

    #[test]
    fn resource_attributes_name_the_repo_encoded_and_keep_the_profiles_own() {
        let mut profile_env = BTreeMap::new();
        profile_env.insert(
            "OTEL_RESOURCE_ATTRIBUTES".to_string(),
            "team=infra".to_string(),
        );
        let env = child_env(
            Vec::new(),
            &ChildEnv {
                job_id: "j1".into(),
                profile: "my profile".into(),
                repo: Some("https://github.com/o/r,x.git".into()),
                otel: Some(OtelEnv {
                    endpoint: "http://c:4318".into(),
                    protocol: "http/json".into(),
                    log_prompts: false,
                    log_tool_details: false,
                    receiver: None,
                }),
                profile_env,
                ..Default::default()
            },
        );
        assert_eq!(
            env["OTEL_RESOURCE_ATTRIBUTES"],
            "agenticore.job_id=j1,agenticore.profile=my%20profile,\
             agenticore.repo=https://github.com/o/r%2Cx.git,team=infra"
        );
        // Telemetry off: none of it.
        let off = child_env(
            Vec::new(),
            &ChildEnv {
                job_id: "j1".into(),
                profile: "code".into(),
                repo: Some("https://x/y".into()),
                ..Default::default()
            },
        );
        assert!(!off.contains_key("OTEL_RESOURCE_ATTRIBUTES"));
        assert!(!off.contains_key("CLAUDE_CODE_ENABLE_TELEMETRY"));
    }

    fn with_receiver(
        endpoint: &str,
        protocol: &str,
        profile_env: &[(&str, &str)],
    ) -> BTreeMap<String, String> {
        child_env(
            Vec::new(),
            &ChildEnv {
                job_id: "j1".into(),
                profile: "code".into(),
                otel: Some(OtelEnv {
                    endpoint: endpoint.into(),
                    protocol: protocol.into(),
                    log_prompts: false,
                    log_tool_details: false,
                    receiver: Some(OwnReceiver {
                        hosts: vec!["agenticore".into()],
                        port: 8200,
                        job_token: Some("tok.abc".into()),
                    }),
                }),
                profile_env: profile_env
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                ..Default::default()
            },
        )
    }

    #[test]
    fn only_agenticores_own_receiver_gets_the_job_token_and_http() {
        let own = with_receiver("http://127.0.0.1:8200", "grpc", &[]);
        assert_eq!(own["OTEL_EXPORTER_OTLP_PROTOCOL"], "http/protobuf");
        assert_eq!(own[OTLP_HEADERS], "x-agenticore-job-token=tok.abc");
        let named = with_receiver(
            "http://agenticore:8200/",
            "http/json",
            &[(OTLP_HEADERS, "a=b")],
        );
        assert_eq!(named["OTEL_EXPORTER_OTLP_PROTOCOL"], "http/json");
        assert_eq!(named[OTLP_HEADERS], "x-agenticore-job-token=tok.abc,a=b");
        // A collector, another port, or a profile that points elsewhere: no token, protocol kept.
        for (endpoint, env) in [
            ("http://otel-collector:4317", vec![]),
            ("http://127.0.0.1:4318", vec![]),
            (
                "http://127.0.0.1:8200",
                vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "https://vendor.example")],
            ),
        ] {
            let e = with_receiver(endpoint, "grpc", &env);
            assert_eq!(e["OTEL_EXPORTER_OTLP_PROTOCOL"], "grpc", "{endpoint}");
            assert!(!e.contains_key(OTLP_HEADERS), "{endpoint}");
        }
        let r = OwnReceiver {
            hosts: vec![],
            port: 80,
            job_token: Some("secret".into()),
        };
        assert!(
            r.is("http://[::1]") && r.is("http://u:p@localhost/x") && !r.is("https://localhost")
        );
        assert!(!r.is("localhost:80") && !r.is("http://localhost:x"));
        assert!(!format!("{r:?}").contains("secret"));
    }
}
