//! How a line of a job's log (Claude Code's stream-json plus agenticore's own lines) reads for
//! people: `agenticore logs` prints these entries with a text prefix, the dashboard colours them.

use serde_json::Value;

use crate::engine::claude::summarize_tool_input;
use crate::engine::events::truncate_chars;

/// What a log entry is, which decides its prefix (CLI) or colour (dashboard).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    /// Claude's text.
    Claude,
    /// A tool call.
    Tool,
    /// A tool's result.
    ToolResult,
    /// A tool's result that is an error.
    ToolError,
    /// A line claude wrote on stderr.
    Stderr,
    /// agenticore's own event (status, cancel, ...).
    Agenticore,
    /// The session's start (id, model).
    Session,
    /// The final result.
    Result,
    /// The final result, failed.
    ResultError,
    /// A line that is not JSON, shown as is.
    Raw,
}

impl LogKind {
    /// Whether the entry reports a failure.
    pub fn is_error(self) -> bool {
        matches!(
            self,
            LogKind::ToolError | LogKind::ResultError | LogKind::Stderr
        )
    }
}

/// One readable piece of a log line.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub kind: LogKind,
    /// The full text, as `agenticore logs` prints it after its prefix.
    pub text: String,
    /// A shorter form for narrow displays: a tool call as its name and key argument.
    pub short: Option<String>,
}

impl LogEntry {
    fn new(kind: LogKind, text: String) -> LogEntry {
        LogEntry {
            kind,
            text,
            short: None,
        }
    }

    /// The text the dashboard shows.
    pub fn brief(&self) -> &str {
        self.short.as_deref().unwrap_or(&self.text)
    }

    /// The line `agenticore logs` prints.
    pub fn cli_line(&self) -> String {
        match self.kind {
            LogKind::Claude => format!("claude | {}", self.text),
            LogKind::Tool => format!("tool   | {}", self.text),
            LogKind::ToolResult => format!("result | {}", self.text),
            LogKind::ToolError => format!("result (error) | {}", self.text),
            LogKind::Stderr => format!("stderr | {}", self.text),
            LogKind::Agenticore => format!("[agenticore] {}", self.text),
            LogKind::Result | LogKind::ResultError => format!("[result] {}", self.text),
            LogKind::Raw | LogKind::Session => self.text.clone(),
        }
    }
}

/// The readable entries of one log line (none for lines not worth showing).
pub fn entries(line: &str) -> Vec<LogEntry> {
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        return vec![LogEntry::new(LogKind::Raw, line.to_string())];
    };
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let is_error = |v: &Value| v.get("is_error").and_then(Value::as_bool) == Some(true);
    let blocks = |v: &Value| {
        v.pointer("/message/content")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    match v.get("type").and_then(Value::as_str) {
        Some("agenticore") => {
            if v.get("stream").and_then(Value::as_str) == Some("stderr") {
                return vec![LogEntry::new(LogKind::Stderr, s(&v, "line"))];
            }
            let Some(obj) = v.as_object() else {
                return Vec::new();
            };
            let mut fields = obj.clone();
            fields.remove("type");
            fields.remove("at");
            let event = fields
                .remove("event")
                .and_then(|e| e.as_str().map(str::to_string))
                .unwrap_or_default();
            let mut short = event.clone();
            for (k, val) in &fields {
                let val = match val {
                    Value::String(t) => t.clone(),
                    other => other.to_string(),
                };
                short.push_str(&format!(" {k}={val}"));
            }
            vec![LogEntry {
                kind: LogKind::Agenticore,
                text: format!("{event} {}", Value::Object(fields)),
                short: Some(short),
            }]
        }
        Some("system") => vec![LogEntry {
            kind: LogKind::Session,
            text: format!("[session {}] model {}", s(&v, "session_id"), s(&v, "model")),
            short: Some(format!("{} model {}", s(&v, "session_id"), s(&v, "model"))),
        }],
        Some("assistant") => blocks(&v)
            .iter()
            .filter_map(|b| match b.get("type").and_then(Value::as_str) {
                Some("text") => Some(LogEntry::new(
                    LogKind::Claude,
                    s(b, "text").trim_end().to_string(),
                )),
                Some("tool_use") => {
                    let name = s(b, "name");
                    let key = summarize_tool_input(b.get("input"));
                    Some(LogEntry {
                        kind: LogKind::Tool,
                        text: format!(
                            "{name} {}",
                            b.get("input").map(Value::to_string).unwrap_or_default()
                        ),
                        short: Some(format!("{name} {key}").trim_end().to_string()),
                    })
                }
                _ => None,
            })
            .collect(),
        Some("user") => blocks(&v)
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
            .map(|b| {
                let content = match b.get("content") {
                    Some(Value::String(t)) => t.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                let kind = if is_error(b) {
                    LogKind::ToolError
                } else {
                    LogKind::ToolResult
                };
                let content = content.trim();
                LogEntry {
                    kind,
                    text: truncate_chars(content, 400),
                    short: Some(truncate_chars(content, 200)),
                }
            })
            .collect(),
        Some("result") => {
            let failed = is_error(&v);
            vec![LogEntry::new(
                if failed {
                    LogKind::ResultError
                } else {
                    LogKind::Result
                },
                format!(
                    "{}{} turns={} cost=${} | {}",
                    s(&v, "subtype"),
                    if failed { " (error)" } else { "" },
                    v.get("num_turns").map(Value::to_string).unwrap_or_default(),
                    v.get("total_cost_usd")
                        .map(Value::to_string)
                        .unwrap_or_default(),
                    s(&v, "result")
                ),
            )]
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_calls_read_as_name_and_key_argument() {
        let e = entries(
            r#"{"type":"assistant","message":{"content":[{"type":"text","text":"Hi\n"},{"type":"tool_use","name":"Bash","input":{"command":"ls -la","description":"list"}}]}}"#,
        );
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].cli_line(), "claude | Hi");
        assert_eq!(e[1].brief(), "Bash ls -la");
        assert_eq!(
            e[1].cli_line(),
            r#"tool   | Bash {"command":"ls -la","description":"list"}"#
        );
    }

    #[test]
    fn errors_are_marked() {
        let e = entries(
            r#"{"type":"user","message":{"content":[{"type":"tool_result","content":"boom","is_error":true}]}}"#,
        );
        assert_eq!(e[0].kind, LogKind::ToolError);
        assert_eq!(e[0].cli_line(), "result (error) | boom");
        assert!(e[0].kind.is_error());
        let e = entries("not json");
        assert_eq!(e[0].kind, LogKind::Raw);
        let e = entries(r#"{"type":"agenticore","event":"status","status":"running","at":"x"}"#);
        assert_eq!(e[0].brief(), "status status=running");
        assert_eq!(
            e[0].cli_line(),
            r#"[agenticore] status {"status":"running"}"#
        );
    }
}
