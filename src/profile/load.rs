//! Reading, validating and resolving profiles: bundled < user directory, then `extends`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{
    ClaudeOptions, Effort, OutputFormat, Permissions, Profile, ProfileError, ProfileSource,
    Profiles, is_valid_name, mcp, template,
};
use crate::yaml_loc;

/// The bundled profiles, compiled in.
const BUNDLED: &[(&str, &str)] = &[
    (
        "code",
        include_str!("../../defaults/profiles/code/profile.yml"),
    ),
    (
        "review",
        include_str!("../../defaults/profiles/review/profile.yml"),
    ),
];

/// Claude Code's permission modes. Others are accepted (newer Claude Code versions may add
/// some) unless they look like a typo of one of these.
const PERMISSION_MODES: &[&str] = &[
    "acceptEdits",
    "bypassPermissions",
    "default",
    "dontAsk",
    "plan",
];

// A profile file as written. Every field is optional so that `extends` can fill the gaps.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of profile fields")]
struct RawProfile {
    name: Option<String>,
    description: Option<String>,
    extends: Option<String>,
    claude: Option<RawClaude>,
    append_prompt: Option<String>,
    auto_pr: Option<bool>,
    /// Auto-PR: commit what claude left uncommitted before pushing.
    commit_leftovers: Option<bool>,
    /// Auto-PR: open the pull request as a draft.
    draft_pr: Option<bool>,
    settings: Option<RawSettings>,
    env: Option<BTreeMap<String, String>>,
    allow_permission_denials: Option<bool>,
    /// MCP servers for the job's claude (`--mcp-config`), by name.
    mcp_servers: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of claude.* fields")]
struct RawClaude {
    model: Option<String>,
    max_turns: Option<u32>,
    permission_mode: Option<String>,
    no_session_persistence: Option<bool>,
    output_format: Option<OutputFormat>,
    worktree: Option<bool>,
    effort: Option<Effort>,
    timeout: Option<u64>,
    max_budget_usd: Option<f64>,
    fallback_model: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with `permissions`")]
struct RawSettings {
    permissions: Option<RawPermissions>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with `allow` and `deny` lists"
)]
struct RawPermissions {
    allow: Option<Vec<String>>,
    deny: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layer {
    Bundled,
    User,
}

struct Entry {
    raw: RawProfile,
    source: ProfileSource,
}

type Table = BTreeMap<String, Result<Entry, ProfileError>>;

pub(super) fn load(dir: Option<&Path>) -> Profiles {
    let mut bundled = Table::new();
    for (name, text) in BUNDLED {
        let source = ProfileSource::Bundled;
        let entry = parse(name, text, &source).map(|raw| Entry { raw, source });
        bundled.insert((*name).to_string(), entry);
    }
    let (user, dir_error) = match dir {
        Some(d) => scan(d),
        None => (Table::new(), None),
    };

    let mut profiles = BTreeMap::new();
    for name in bundled.keys().chain(user.keys()) {
        if profiles.contains_key(name) {
            continue;
        }
        let layer = if user.contains_key(name) {
            Layer::User
        } else {
            Layer::Bundled
        };
        let result = resolve(&bundled, &user, layer, name, &mut Vec::new());
        profiles.insert(name.clone(), result);
    }
    Profiles {
        profiles,
        dir_error,
    }
}

/// The user's profiles in `dir`: `<name>/profile.yml` and `<name>.yml`.
fn scan(dir: &Path) -> (Table, Option<String>) {
    let mut table = Table::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (table, None),
        Err(e) => {
            let msg = format!("cannot list profiles in {}: {e}", dir.display());
            tracing::warn!("{msg}");
            return (table, Some(msg));
        }
    };
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        if file_name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            let file = path.join("profile.yml");
            if file.is_file() {
                found.push((file_name.to_string(), file));
            }
        } else if let Some(stem) = file_name.strip_suffix(".yml")
            && path.is_file()
        {
            found.push((stem.to_string(), path));
        }
    }
    found.sort();

    let mut first_seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for (name, path) in found {
        if let Some(first) = first_seen.get(&name) {
            let err = ProfileError::Duplicate {
                name: name.clone(),
                first: first.clone(),
                second: path,
            };
            table.insert(name, Err(err));
            continue;
        }
        first_seen.insert(name.clone(), path.clone());
        let source = ProfileSource::File(path.clone());
        let entry = read(&path)
            .and_then(|text| parse(&name, &text, &source))
            .and_then(|raw| with_dot_mcp_json(raw, &path))
            .map(|raw| Entry { raw, source });
        table.insert(name, entry);
    }
    (table, None)
}

fn read(path: &Path) -> Result<String, ProfileError> {
    let err = |e: std::io::Error| ProfileError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(err)?
        .take(yaml_loc::MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(err)?;
    if text.len() as u64 > yaml_loc::MAX_FILE_BYTES {
        return Err(err(std::io::Error::other("the file is larger than 1 MiB")));
    }
    Ok(text)
}

fn location(name: &str, source: &ProfileSource, line: Option<usize>) -> String {
    let file = match source {
        ProfileSource::File(p) => p.display().to_string(),
        ProfileSource::Bundled => format!("bundled defaults/profiles/{name}/profile.yml"),
    };
    match line {
        Some(l) => format!("{file}:{l}"),
        None => file,
    }
}

/// Parse and validate one profile file (before `extends` is applied).
fn parse(name: &str, text: &str, source: &ProfileSource) -> Result<RawProfile, ProfileError> {
    let invalid = |keys: &[&str], message: String| ProfileError::Invalid {
        location: location(name, source, yaml_loc::key_line(text, keys)),
        message,
    };
    if !is_valid_name(name) {
        return Err(ProfileError::Invalid {
            location: location(name, source, None),
            message: format!(
                "{name:?} is not a valid profile name \
                 (use letters, digits, '.', '_' or '-', starting with a letter or digit)"
            ),
        });
    }
    if text.trim().is_empty() {
        return Err(invalid(&[], "the profile file is empty".into()));
    }
    let raw: RawProfile = serde_yaml::from_str(text).map_err(|e| ProfileError::Invalid {
        location: location(name, source, yaml_loc::error_line(&e)),
        message: yaml_loc::error_message(&e),
    })?;

    if let Some(n) = &raw.name
        && n != name
    {
        return Err(invalid(
            &["name"],
            format!("name {n:?} does not match the file name {name:?}"),
        ));
    }
    if let Some(parent) = &raw.extends
        && !is_valid_name(parent)
    {
        return Err(invalid(
            &["extends"],
            format!("extends: {parent:?} is not a valid profile name"),
        ));
    }
    if let Some(c) = &raw.claude {
        for (key, value) in [("model", &c.model), ("fallback_model", &c.fallback_model)] {
            if let Some(v) = value
                && !is_flag_value(v)
            {
                return Err(invalid(
                    &["claude", key],
                    format!("claude.{key}: {v:?} is not a model name"),
                ));
            }
        }
        if c.max_turns == Some(0) {
            return Err(invalid(
                &["claude", "max_turns"],
                "claude.max_turns must be at least 1".into(),
            ));
        }
        if c.timeout == Some(0) {
            return Err(invalid(
                &["claude", "timeout"],
                "claude.timeout must be at least 1 second".into(),
            ));
        }
        if let Some(b) = c.max_budget_usd
            && !(b.is_finite() && b > 0.0)
        {
            return Err(invalid(
                &["claude", "max_budget_usd"],
                format!("claude.max_budget_usd: {b} is not a positive amount of dollars"),
            ));
        }
        if let Some(mode) = &c.permission_mode {
            let typo = !PERMISSION_MODES.contains(&mode.as_str())
                && yaml_loc::closest(mode, PERMISSION_MODES.iter().copied()).is_some();
            if typo || !mode.chars().all(|ch| ch.is_ascii_alphanumeric()) || mode.is_empty() {
                return Err(invalid(
                    &["claude", "permission_mode"],
                    format!(
                        "claude.permission_mode: unknown mode {mode:?}, expected one of {}",
                        PERMISSION_MODES.join(", ")
                    ),
                ));
            }
        }
    }
    if let Some(perms) = raw.settings.as_ref().and_then(|s| s.permissions.as_ref()) {
        for (key, rules) in [("allow", &perms.allow), ("deny", &perms.deny)] {
            if rules.iter().flatten().any(|r| r.trim().is_empty()) {
                return Err(invalid(
                    &["settings", "permissions", key],
                    format!("settings.permissions.{key}: rules must not be empty"),
                ));
            }
        }
    }
    for (var, value) in raw.env.iter().flatten() {
        if !is_env_name(var) {
            return Err(invalid(
                &["env", var],
                format!("env: {var:?} is not a valid environment variable name"),
            ));
        }
        if var.starts_with("AGENTICORE_") {
            return Err(invalid(
                &["env", var],
                format!("env: {var} is reserved (AGENTICORE_* variables are set by agenticore)"),
            ));
        }
        if value.contains('\0') {
            return Err(invalid(
                &["env", var],
                format!("env: the value of {var} contains a NUL byte"),
            ));
        }
    }
    if let Some(servers) = &raw.mcp_servers
        && let Err((server, message)) = mcp::validate(servers)
    {
        return Err(invalid(&["mcp_servers", &server], message));
    }
    if let Some(t) = &raw.append_prompt
        && let Some(var) = template::unknown_variable(t)
    {
        return Err(invalid(
            &["append_prompt"],
            format!(
                "append_prompt: unknown template variable {{{{{var}}}}} (known: {})",
                template::VARIABLES
                    .iter()
                    .map(|v| format!("{{{{{v}}}}}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        ));
    }
    Ok(raw)
}

/// A value that is safe and sensible as a single flag value: non-empty, no whitespace, and not
/// starting with `-` (which Claude Code could read as another flag).
fn is_flag_value(v: &str) -> bool {
    !v.is_empty() && !v.starts_with('-') && !v.contains(char::is_whitespace)
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Resolve `name` in `layer`, following `extends`. A user profile that extends its own name
/// extends the bundled profile it overrides; otherwise `extends` prefers a user profile.
fn resolve(
    bundled: &Table,
    user: &Table,
    layer: Layer,
    name: &str,
    chain: &mut Vec<(Layer, String)>,
) -> Result<Profile, ProfileError> {
    let raw = resolve_raw(bundled, user, layer, name, chain)?;
    let source = match (layer, user.get(name), bundled.get(name)) {
        (Layer::User, Some(Ok(e)), _) | (Layer::Bundled, _, Some(Ok(e))) => e.source.clone(),
        _ => ProfileSource::Bundled,
    };
    Ok(build(name, raw, source))
}

fn resolve_raw(
    bundled: &Table,
    user: &Table,
    layer: Layer,
    name: &str,
    chain: &mut Vec<(Layer, String)>,
) -> Result<RawProfile, ProfileError> {
    let table = match layer {
        Layer::Bundled => bundled,
        Layer::User => user,
    };
    let entry = match table.get(name) {
        Some(Ok(e)) => e,
        Some(Err(e)) => return Err(e.clone()),
        None => {
            return Err(ProfileError::NotFound {
                name: name.to_string(),
                available: Vec::new(),
            });
        }
    };
    if chain.iter().any(|(l, n)| *l == layer && n == name) {
        chain.push((layer, name.to_string()));
        let label = |(l, n): &(Layer, String)| match l {
            Layer::Bundled if user.contains_key(n) => format!("{n} (bundled)"),
            _ => n.clone(),
        };
        return Err(ProfileError::Cycle {
            name: chain.first().map(|(_, n)| n.clone()).unwrap_or_default(),
            chain: chain.iter().map(label).collect(),
        });
    }
    chain.push((layer, name.to_string()));
    let Some(parent) = &entry.raw.extends else {
        return Ok(entry.raw.clone());
    };
    let parent_layer = if layer == Layer::User && parent != name && user.contains_key(parent) {
        Layer::User
    } else {
        Layer::Bundled
    };
    let parent_exists = match parent_layer {
        Layer::Bundled => bundled.contains_key(parent),
        Layer::User => true,
    };
    if !parent_exists {
        return Err(ProfileError::ExtendsMissing {
            name: name.to_string(),
            parent: parent.clone(),
        });
    }
    match resolve_raw(bundled, user, parent_layer, parent, chain) {
        Ok(base) => Ok(merge(base, entry.raw.clone())),
        Err(e @ ProfileError::Cycle { .. }) => Err(e),
        Err(e) => Err(ProfileError::ExtendsBroken {
            name: name.to_string(),
            parent: parent.clone(),
            message: e.to_string(),
        }),
    }
}

/// `child` over `base`: scalars replace, `claude`, `settings` and `env` merge key by key;
/// permission lists replace the parent's list when the child has one.
fn merge(base: RawProfile, child: RawProfile) -> RawProfile {
    let claude = match (base.claude, child.claude) {
        (Some(b), Some(c)) => Some(RawClaude {
            model: c.model.or(b.model),
            max_turns: c.max_turns.or(b.max_turns),
            permission_mode: c.permission_mode.or(b.permission_mode),
            no_session_persistence: c.no_session_persistence.or(b.no_session_persistence),
            output_format: c.output_format.or(b.output_format),
            worktree: c.worktree.or(b.worktree),
            effort: c.effort.or(b.effort),
            timeout: c.timeout.or(b.timeout),
            max_budget_usd: c.max_budget_usd.or(b.max_budget_usd),
            fallback_model: c.fallback_model.or(b.fallback_model),
        }),
        (b, c) => c.or(b),
    };
    let base_perms = base.settings.and_then(|s| s.permissions);
    let child_perms = child.settings.and_then(|s| s.permissions);
    let permissions = match (base_perms, child_perms) {
        (Some(b), Some(c)) => Some(RawPermissions {
            allow: c.allow.or(b.allow),
            deny: c.deny.or(b.deny),
        }),
        (b, c) => c.or(b),
    };
    let env = match (base.env, child.env) {
        (Some(mut b), Some(c)) => {
            b.extend(c);
            Some(b)
        }
        (b, c) => c.or(b),
    };
    let mcp_servers = match (base.mcp_servers, child.mcp_servers) {
        (Some(mut b), Some(c)) => {
            b.extend(c);
            Some(b)
        }
        (b, c) => c.or(b),
    };
    RawProfile {
        name: child.name,
        mcp_servers,
        description: child.description.or(base.description),
        extends: child.extends,
        claude,
        append_prompt: child.append_prompt.or(base.append_prompt),
        auto_pr: child.auto_pr.or(base.auto_pr),
        commit_leftovers: child.commit_leftovers.or(base.commit_leftovers),
        draft_pr: child.draft_pr.or(base.draft_pr),
        settings: Some(RawSettings { permissions }),
        env,
        allow_permission_denials: child
            .allow_permission_denials
            .or(base.allow_permission_denials),
    }
}

fn build(name: &str, raw: RawProfile, source: ProfileSource) -> Profile {
    let c = raw.claude.unwrap_or_default();
    let perms = raw.settings.and_then(|s| s.permissions).unwrap_or_default();
    Profile {
        name: name.to_string(),
        description: raw.description.unwrap_or_default(),
        extends: raw.extends,
        claude: ClaudeOptions {
            model: c.model,
            max_turns: c.max_turns,
            permission_mode: c.permission_mode,
            no_session_persistence: c.no_session_persistence.unwrap_or(false),
            output_format: c.output_format.unwrap_or_default(),
            worktree: c.worktree.unwrap_or(true),
            effort: c.effort,
            timeout_seconds: c.timeout,
            max_budget_usd: c.max_budget_usd,
            fallback_model: c.fallback_model,
        },
        append_prompt: raw.append_prompt,
        auto_pr: raw.auto_pr.unwrap_or(false),
        commit_leftovers: raw.commit_leftovers.unwrap_or(false),
        draft_pr: raw.draft_pr.unwrap_or(false),
        permissions: Permissions {
            allow: perms.allow.unwrap_or_default(),
            deny: perms.deny.unwrap_or_default(),
        },
        env: raw.env.unwrap_or_default(),
        allow_permission_denials: raw.allow_permission_denials.unwrap_or(false),
        mcp_servers: raw
            .mcp_servers
            .unwrap_or_default()
            .into_iter()
            .map(|(n, v)| (n, mcp::normalize(v)))
            .collect(),
        source,
    }
}

/// A directory profile may keep its MCP servers in `.mcp.json` beside `profile.yml` (Claude
/// Code's own format, `{"mcpServers": {...}}`); servers named in `profile.yml` win.
fn with_dot_mcp_json(mut raw: RawProfile, profile_file: &Path) -> Result<RawProfile, ProfileError> {
    if profile_file.file_name().and_then(|n| n.to_str()) != Some("profile.yml") {
        return Ok(raw);
    }
    let Some(dir) = profile_file.parent() else {
        return Ok(raw);
    };
    let path = dir.join(".mcp.json");
    if !path.is_file() {
        return Ok(raw);
    }
    let text = read(&path)?;
    let invalid = |message: String| ProfileError::Invalid {
        location: path.display().to_string(),
        message,
    };
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| invalid(format!("not valid JSON: {e}")))?;
    let Some(servers) = v.get("mcpServers").and_then(serde_json::Value::as_object) else {
        return Err(invalid(
            "expected an object with an \"mcpServers\" object".into(),
        ));
    };
    let from_file: BTreeMap<String, serde_json::Value> = servers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    mcp::validate(&from_file).map_err(|(server, m)| invalid(format!("{server}: {m}")))?;
    let mut merged = from_file;
    merged.extend(raw.mcp_servers.take().unwrap_or_default());
    raw.mcp_servers = Some(merged);
    Ok(raw)
}
