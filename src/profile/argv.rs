//! A profile as Claude Code flags, and as the `/profiles` JSON entry.

use serde_json::{Map, Value, json};

use super::Profile;

pub(super) fn claude_args(p: &Profile, resume_session: Option<&str>) -> Vec<String> {
    let c = &p.claude;
    let mut args: Vec<String> = Vec::new();
    let a = &mut args;
    flag(a, "--model", c.model.clone());
    flag(a, "--max-turns", c.max_turns.map(|n| n.to_string()));
    flag(a, "--permission-mode", c.permission_mode.clone());
    if c.no_session_persistence {
        a.push("--no-session-persistence".into());
    }
    flag(a, "--effort", c.effort.map(|e| e.as_str().to_string()));
    flag(
        a,
        "--max-budget-usd",
        c.max_budget_usd.map(|b| b.to_string()),
    );
    flag(a, "--fallback-model", c.fallback_model.clone());
    let perms = &p.permissions;
    if !perms.allow.is_empty() || !perms.deny.is_empty() {
        let settings = json!({"permissions": {"allow": perms.allow, "deny": perms.deny}});
        flag(a, "--settings", Some(settings.to_string()));
    }
    flag(a, "--resume", resume_session.map(str::to_string));
    args
}

/// `name value` as two argv elements, when there is a value.
fn flag(args: &mut Vec<String>, name: &str, value: Option<String>) {
    if let Some(v) = value {
        args.push(name.to_string());
        args.push(v);
    }
}

pub(super) fn summary_json(p: &Profile) -> Value {
    let c = &p.claude;
    let mut m = Map::new();
    m.insert("name".into(), json!(p.name));
    m.insert("description".into(), json!(p.description));
    m.insert("model".into(), json!(c.model));
    m.insert("max_turns".into(), json!(c.max_turns));
    m.insert("worktree".into(), json!(c.worktree));
    m.insert("auto_pr".into(), json!(p.auto_pr));
    m.insert("permission_mode".into(), json!(c.permission_mode));
    if let Some(e) = &p.extends {
        m.insert("extends".into(), json!(e));
    }
    if let Some(e) = c.effort {
        m.insert("effort".into(), json!(e.as_str()));
    }
    if !p.mcp_servers.is_empty() {
        m.insert(
            "mcp_servers".into(),
            json!(p.mcp_servers.keys().collect::<Vec<_>>()),
        );
    }
    Value::Object(m)
}
