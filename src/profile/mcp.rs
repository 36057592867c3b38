//! `mcp_servers:` of a profile: MCP servers that a job's claude gets through `--mcp-config`.
//! Entries use Claude Code's own format (`{"type":"stdio","command","args","env"}` or
//! `{"type":"http","url","headers"}`).

use std::collections::BTreeMap;

use serde_json::Value;

const TYPES: &[&str] = &["stdio", "http", "sse", "streamable-http"];

/// Check every entry; the error names the server and what is wrong.
pub(super) fn validate(servers: &BTreeMap<String, Value>) -> Result<(), (String, String)> {
    for (name, v) in servers {
        let bad = |m: &str| Err((name.clone(), format!("mcp_servers.{name}: {m}")));
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return bad("server names may only use letters, digits, '_' and '-'");
        }
        let Some(obj) = v.as_object() else {
            return bad("expected a mapping with `command` (stdio) or `url` (http)");
        };
        let command = obj.get("command");
        let url = obj.get("url");
        match (command, url) {
            (Some(Value::String(c)), None) if !c.trim().is_empty() => {}
            (None, Some(Value::String(u)))
                if u.starts_with("http://") || u.starts_with("https://") => {}
            (Some(_), Some(_)) => return bad("give either `command` or `url`, not both"),
            (None, Some(_)) => return bad("`url` must be an http:// or https:// URL"),
            _ => return bad("needs a `command` (stdio server) or a `url` (http server)"),
        }
        if let Some(t) = obj.get("type") {
            match t.as_str() {
                Some(t) if TYPES.contains(&t) => {}
                _ => return bad(&format!("`type` must be one of {}", TYPES.join(", "))),
            }
        }
        if let Some(args) = obj.get("args")
            && !args
                .as_array()
                .is_some_and(|a| a.iter().all(Value::is_string))
        {
            return bad("`args` must be a list of strings");
        }
        for key in ["env", "headers"] {
            if let Some(m) = obj.get(key)
                && !m
                    .as_object()
                    .is_some_and(|m| m.values().all(Value::is_string))
            {
                return bad(&format!("`{key}` must map names to strings"));
            }
        }
    }
    Ok(())
}

/// Add the `type` Claude Code needs: without it a url-only entry is silently skipped.
pub(super) fn normalize(mut v: Value) -> Value {
    if let Some(obj) = v.as_object_mut()
        && !obj.contains_key("type")
    {
        let t = if obj.contains_key("url") {
            "http"
        } else {
            "stdio"
        };
        obj.insert("type".into(), Value::String(t.into()));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(v: Value) -> BTreeMap<String, Value> {
        BTreeMap::from([("srv".to_string(), v)])
    }

    #[test]
    fn accepts_stdio_and_http_entries_and_adds_their_type() {
        assert!(
            validate(&one(
                json!({"command": "x", "args": ["a"], "env": {"K": "v"}})
            ))
            .is_ok()
        );
        assert!(validate(&one(json!({"url": "http://h/mcp", "headers": {"X": "y"}}))).is_ok());
        assert_eq!(normalize(json!({"url": "http://h/mcp"}))["type"], "http");
        assert_eq!(normalize(json!({"command": "x"}))["type"], "stdio");
        assert_eq!(
            normalize(json!({"type": "sse", "url": "http://h"}))["type"],
            "sse"
        );
    }

    #[test]
    fn refuses_what_claude_would_silently_skip_or_misread() {
        for bad in [
            json!("x"),
            json!({}),
            json!({"command": ""}),
            json!({"url": "ftp://x"}),
            json!({"command": "x", "url": "http://h"}),
            json!({"command": "x", "type": "grpc"}),
            json!({"command": "x", "args": "a b"}),
            json!({"url": "http://h", "headers": {"X": 1}}),
        ] {
            assert!(validate(&one(bad.clone())).is_err(), "{bad}");
        }
        let bad_name = BTreeMap::from([("a b".to_string(), json!({"command": "x"}))]);
        assert!(validate(&bad_name).is_err());
    }
}
