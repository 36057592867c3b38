//! `agenticore logs ID [-f]`: the job's log (claude's stream-json plus agenticore's own
//! lines), rendered readably or raw; `-f` follows it until the job ends.

use std::time::Duration;

use agenticore::engine::execute::log_path;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::args::LogsArgs;
use super::context::{Ctx, parse_id};
use super::{CliError, CliResult, exit};

pub async fn run(ctx: &Ctx, a: LogsArgs) -> CliResult {
    let id = parse_id(&a.id)?;
    let _ = ctx.engine.get(id).await?;
    let path = log_path(ctx.config(), id);
    // The log appears when the job starts; a queued job has none yet.
    let file = loop {
        match tokio::fs::File::open(&path).await {
            Ok(f) => break Some(f),
            Err(_) if a.follow => {
                if ctx.engine.get(id).await?.status().is_terminal() {
                    break tokio::fs::File::open(&path).await.ok();
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(_) => break None,
        }
    };
    let Some(file) = file else {
        eprintln!("No log for job {id} yet (it has not started).");
        return Ok(exit::OK);
    };
    let mut reader = BufReader::new(file);
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).await.map_err(|e| {
            CliError::new(
                exit::UNREACHABLE,
                format!("reading {}: {e}", path.display()),
            )
        })?;
        if n == 0 {
            if !a.follow || ctx.engine.get(id).await?.status().is_terminal() {
                // One more read: lines written just before the job ended.
                line.clear();
                if reader.read_line(&mut line).await.unwrap_or(0) > 0 {
                    emit(&line, a.raw);
                    continue;
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        if !line.ends_with('\n') {
            // A partial line being written: wait for the rest.
            let mut rest = String::new();
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = reader.read_line(&mut rest).await;
            line.push_str(&rest);
        }
        emit(&line, a.raw);
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
