//! `agenticore logs ID [-f]`: the job's log (claude's stream-json plus agenticore's own
//! lines), rendered readably or raw; `-f` follows it until the job ends.

use agenticore::client::Backend;
use serde_json::Value;

use super::args::LogsArgs;
use super::context::parse_id;
use super::{CliResult, exit};

pub async fn run(backend: &Backend, a: LogsArgs) -> CliResult {
    let id = parse_id(&a.id)?;
    if a.follow {
        let mut follow = backend.follow_logs(id).await?;
        while let Some(line) = follow.next().await {
            emit(&line?, a.raw);
        }
        return Ok(exit::OK);
    }
    match backend.logs(id).await? {
        Some(text) => {
            for line in text.lines() {
                emit(line, a.raw);
            }
        }
        None => eprintln!("No log for job {id} yet (it has not started)."),
    }
    Ok(exit::OK)
}

fn emit(line: &str, raw: bool) {
    let line = line.trim_end();
    if line.is_empty() {
        return;
    }
    if raw {
        println!("{line}");
    } else if let Some(text) = render(line) {
        println!("{text}");
    }
}

/// One log line for humans, or `None` for lines not worth showing.
pub fn render(line: &str) -> Option<String> {
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        return Some(line.to_string());
    };
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    match v.get("type").and_then(Value::as_str) {
        Some("agenticore") => {
            if v.get("stream").and_then(Value::as_str) == Some("stderr") {
                Some(format!("stderr | {}", s(&v, "line")))
            } else {
                let mut fields = v.as_object()?.clone();
                fields.remove("type");
                let at = fields.remove("at");
                let event = fields
                    .remove("event")
                    .and_then(|e| e.as_str().map(str::to_string));
                let _ = at;
                Some(format!(
                    "[agenticore] {} {}",
                    event.unwrap_or_default(),
                    Value::Object(fields)
                ))
            }
        }
        Some("system") => Some(format!(
            "[session {}] model {}",
            s(&v, "session_id"),
            s(&v, "model")
        )),
        Some("assistant") => {
            let blocks = v.pointer("/message/content")?.as_array()?;
            let parts: Vec<String> = blocks
                .iter()
                .filter_map(|b| match b.get("type").and_then(Value::as_str) {
                    Some("text") => Some(format!("claude | {}", s(b, "text").trim_end())),
                    Some("tool_use") => Some(format!(
                        "tool   | {} {}",
                        s(b, "name"),
                        b.get("input").map(Value::to_string).unwrap_or_default()
                    )),
                    _ => None,
                })
                .collect();
            (!parts.is_empty()).then(|| parts.join("\n"))
        }
        Some("user") => {
            let blocks = v.pointer("/message/content")?.as_array()?;
            let parts: Vec<String> = blocks
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
                .map(|b| {
                    let content = match b.get("content") {
                        Some(Value::String(t)) => t.clone(),
                        Some(other) => other.to_string(),
                        None => String::new(),
                    };
                    let err = if b.get("is_error").and_then(Value::as_bool) == Some(true) {
                        " (error)"
                    } else {
                        ""
                    };
                    format!(
                        "result{err} | {}",
                        agenticore::engine::events::truncate_chars(content.trim(), 400)
                    )
                })
                .collect();
            (!parts.is_empty()).then(|| parts.join("\n"))
        }
        Some("result") => Some(format!(
            "[result] {}{} turns={} cost=${} | {}",
            s(&v, "subtype"),
            if v.get("is_error").and_then(Value::as_bool) == Some(true) {
                " (error)"
            } else {
                ""
            },
            v.get("num_turns").map(Value::to_string).unwrap_or_default(),
            v.get("total_cost_usd")
                .map(Value::to_string)
                .unwrap_or_default(),
            s(&v, "result")
        )),
        _ => None,
    }
}
