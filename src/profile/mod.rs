//! Profiles: how Claude Code runs for a job (model, turns, permissions, prompt template, env,
//! auto-PR). Bundled profiles (`defaults/profiles/<name>/profile.yml`, compiled in) are overridden
//! by user profiles of the same name in `~/.agenticore/profiles/` (`<name>/profile.yml` or
//! `<name>.yml`). `extends: <name>` inherits from another profile with a deep merge of `claude`,
//! `settings` and `env`.
//!
//! Loading never fails as a whole: a broken user profile is recorded with its error (file and
//! line) and every other profile still works.

mod argv;
mod load;
mod mcp;
mod template;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use template::VARIABLES as TEMPLATE_VARIABLES;

/// Values for `{{VAR}}` placeholders in `append_prompt`.
#[derive(Debug, Clone, Copy)]
pub struct TemplateVars<'a> {
    pub task: &'a str,
    pub repo_url: &'a str,
    pub base_ref: &'a str,
    pub job_id: &'a str,
    pub profile: &'a str,
}

/// `claude.output_format`: what the user wants as the job's `output`. The runner always runs
/// Claude Code with `stream-json` and derives this from the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum OutputFormat {
    #[default]
    #[serde(rename = "json")]
    Json,
    #[serde(rename = "text")]
    Text,
    #[serde(rename = "stream-json")]
    StreamJson,
}

impl OutputFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Json => "json",
            OutputFormat::Text => "text",
            OutputFormat::StreamJson => "stream-json",
        }
    }
}

/// `claude.effort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effort {
    Low,
    Medium,
    High,
    Xhigh,
    Max,
}

impl Effort {
    pub fn as_str(self) -> &'static str {
        match self {
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
            Effort::Xhigh => "xhigh",
            Effort::Max => "max",
        }
    }
}

/// The `claude:` section of a resolved profile.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClaudeOptions {
    pub model: Option<String>,
    pub max_turns: Option<u32>,
    pub permission_mode: Option<String>,
    pub no_session_persistence: bool,
    pub output_format: OutputFormat,
    /// Informational: agenticore always runs a job in its own git worktree.
    pub worktree: bool,
    pub effort: Option<Effort>,
    pub timeout_seconds: Option<u64>,
    pub max_budget_usd: Option<f64>,
    pub fallback_model: Option<String>,
}

/// `settings.permissions`: Claude Code tool permission rules.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Permissions {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

/// Where a profile was defined (for a profile with `extends`, the leaf's file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileSource {
    Bundled,
    File(PathBuf),
}

impl fmt::Display for ProfileSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProfileSource::Bundled => f.write_str("bundled"),
            ProfileSource::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A resolved, validated profile (its `extends` chain already merged in).
#[derive(Clone, PartialEq)]
pub struct Profile {
    name: String,
    description: String,
    extends: Option<String>,
    claude: ClaudeOptions,
    append_prompt: Option<String>,
    auto_pr: bool,
    /// Auto-PR: commit what claude left uncommitted on the job's branch first.
    commit_leftovers: bool,
    /// Auto-PR: open the pull request as a draft.
    draft_pr: bool,
    permissions: Permissions,
    env: BTreeMap<String, String>,
    allow_permission_denials: bool,
    /// MCP servers for the job, in Claude Code's `mcpServers` format (may hold credentials).
    mcp_servers: BTreeMap<String, serde_json::Value>,
    source: ProfileSource,
}

impl fmt::Debug for Profile {
    // Written by hand: profile env values may be credentials, so only their names are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profile")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("extends", &self.extends)
            .field("claude", &self.claude)
            .field("append_prompt", &self.append_prompt)
            .field("auto_pr", &self.auto_pr)
            .field("commit_leftovers", &self.commit_leftovers)
            .field("draft_pr", &self.draft_pr)
            .field("permissions", &self.permissions)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("allow_permission_denials", &self.allow_permission_denials)
            .field("mcp_servers", &self.mcp_servers.keys().collect::<Vec<_>>())
            .field("source", &self.source)
            .finish()
    }
}

impl Profile {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    /// The profile this one extends (as written in its own file).
    pub fn extends(&self) -> Option<&str> {
        self.extends.as_deref()
    }

    pub fn claude(&self) -> &ClaudeOptions {
        &self.claude
    }

    pub fn timeout_seconds(&self) -> Option<u64> {
        self.claude.timeout_seconds
    }

    /// After a successful job: push its branch and open (or reuse) a pull request.
    pub fn auto_pr(&self) -> bool {
        self.auto_pr
    }

    /// Auto-PR commits what claude left uncommitted before pushing.
    pub fn commit_leftovers(&self) -> bool {
        self.commit_leftovers
    }

    /// Auto-PR opens the pull request as a draft.
    pub fn draft_pr(&self) -> bool {
        self.draft_pr
    }

    pub fn append_prompt(&self) -> Option<&str> {
        self.append_prompt.as_deref()
    }

    pub fn permissions(&self) -> &Permissions {
        &self.permissions
    }

    /// Extra environment for the `claude` process.
    pub fn env(&self) -> &BTreeMap<String, String> {
        &self.env
    }

    pub fn output_format(&self) -> OutputFormat {
        self.claude.output_format
    }

    /// When false (the default), a run in which tool calls were denied fails.
    pub fn allow_permission_denials(&self) -> bool {
        self.allow_permission_denials
    }

    pub fn source(&self) -> &ProfileSource {
        &self.source
    }

    /// MCP servers the job's claude gets (`--mcp-config`), by name.
    pub fn mcp_servers(&self) -> &BTreeMap<String, serde_json::Value> {
        &self.mcp_servers
    }

    /// The prompt for Claude Code: the task, then a blank line and the rendered `append_prompt`
    /// when the profile has one.
    pub fn render_prompt(&self, vars: &TemplateVars<'_>) -> String {
        match &self.append_prompt {
            Some(t) if !t.trim().is_empty() => {
                format!("{}\n\n{}", vars.task, template::render(t, vars))
            }
            _ => vars.task.to_string(),
        }
    }

    /// Claude Code flags for this profile, one argv element per flag and value. Never `-p`,
    /// `--output-format`, `--verbose`, `--worktree` or the prompt: the runner adds those.
    pub fn claude_args(&self, resume_session: Option<&str>) -> Vec<String> {
        argv::claude_args(self, resume_session)
    }

    /// The profile as listed by `GET /profiles` and `list_profiles`.
    pub fn summary_json(&self) -> serde_json::Value {
        argv::summary_json(self)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("profile {name:?} not found (available: {})", list(.available))]
    NotFound {
        name: String,
        available: Vec<String>,
    },
    #[error("cannot read profile {}: {message}", .path.display())]
    Read { path: PathBuf, message: String },
    /// A syntax, type or value error in a profile file; `location` is `file:line` when known.
    #[error("{location}: {message}")]
    Invalid { location: String, message: String },
    #[error("profile {name:?} is defined twice: {} and {}", .first.display(), .second.display())]
    Duplicate {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("profile {name:?} has an `extends` cycle: {}", .chain.join(" -> "))]
    Cycle { name: String, chain: Vec<String> },
    #[error("profile {name:?} extends {parent:?}, which does not exist")]
    ExtendsMissing { name: String, parent: String },
    #[error("profile {name:?} extends {parent:?}, which is broken: {message}")]
    ExtendsBroken {
        name: String,
        parent: String,
        message: String,
    },
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// A profile name: 1 to 64 of ASCII letters, digits, `.`, `_`, `-`, starting with a letter or
/// digit. Names come from file names and API requests, so they are kept path- and argv-safe.
pub fn is_valid_name(name: &str) -> bool {
    name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Every profile that could be loaded, and every one that could not, by name.
#[derive(Debug)]
pub struct Profiles {
    profiles: BTreeMap<String, Result<Profile, ProfileError>>,
    /// Set when the profiles directory exists but could not be listed.
    dir_error: Option<String>,
}

impl Profiles {
    /// Bundled profiles overridden by those in `profiles_dir` (which need not exist).
    pub fn load(profiles_dir: &Path) -> Profiles {
        load::load(Some(profiles_dir))
    }

    /// The bundled profiles only.
    pub fn bundled() -> Profiles {
        load::load(None)
    }

    /// The profile `name`, or why it cannot be used.
    pub fn get(&self, name: &str) -> Result<&Profile, ProfileError> {
        match self.profiles.get(name) {
            Some(Ok(p)) => Ok(p),
            Some(Err(e)) => Err(e.clone()),
            None => Err(ProfileError::NotFound {
                name: name.to_string(),
                available: self.valid().map(|p| p.name.clone()).collect(),
            }),
        }
    }

    /// Valid profiles, sorted by name.
    pub fn valid(&self) -> impl Iterator<Item = &Profile> {
        self.profiles.values().filter_map(|r| r.as_ref().ok())
    }

    /// Broken profiles with their errors, sorted by name.
    pub fn broken(&self) -> impl Iterator<Item = (&str, &ProfileError)> {
        self.profiles
            .iter()
            .filter_map(|(n, r)| r.as_ref().err().map(|e| (n.as_str(), e)))
    }

    /// Why the profiles directory could not be listed, if it could not.
    pub fn dir_error(&self) -> Option<&str> {
        self.dir_error.as_deref()
    }
}

#[cfg(test)]
mod tests;
