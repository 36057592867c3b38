//! Every GitHub CLI (`gh`) call goes through [`Gh::run`]: async, with a time limit, in a given
//! directory, and with an environment of its own:
//!
//! - the token only as `GH_TOKEN` (and `GH_ENTERPRISE_TOKEN` for a GitHub Enterprise host) in
//!   gh's environment: never in argv, a file or a log line. Tokens the parent holds
//!   (`GITHUB_TOKEN`, `GH_TOKEN`...) and agenticore's other secrets are removed first.
//! - `GH_PROMPT_DISABLED=1`, `GH_PAGER=cat`, `PAGER=cat`, `NO_COLOR=1`, no update notifier, no
//!   spinner: gh never waits for a human and prints plain text.
//! - `GH_HOST` set to the repository's host, so gh never guesses from the checkout.
//! - `GIT_TERMINAL_PROMPT=0` and no inherited `GIT_DIR`/`GIT_WORK_TREE` for the git gh runs.

use std::ffi::OsStr;
use std::io;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::git::Secret;

/// How much of gh's stderr an error keeps.
const STDERR_TAIL: usize = 600;

/// Variables removed from gh's environment: tokens gh would pick up on its own, agenticore's
/// secrets, and what would point the git gh runs at another repository.
const REMOVED_ENV: &[&str] = &[
    "GH_TOKEN",
    "GITHUB_TOKEN",
    "GH_ENTERPRISE_TOKEN",
    "GITHUB_ENTERPRISE_TOKEN",
    "GH_HOST",
    "AGENTICORE_GIT_TOKEN",
    "AGENTICORE_API_KEYS",
    "AGENTICORE_API_KEY",
    "ANTHROPIC_API_KEY",
    "REDIS_URL",
    "POSTGRES_URL",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
];

/// A gh command failed.
#[derive(Debug, thiserror::Error)]
pub enum GhError {
    /// The gh binary is not installed (or not at the configured path).
    #[error(
        "the GitHub CLI {program:?} was not found: install gh (https://cli.github.com) or set \
         AGENTICORE_GH_BINARY"
    )]
    NotInstalled { program: String },
    #[error("could not run gh {subcommand}: {source}")]
    Spawn {
        subcommand: String,
        #[source]
        source: io::Error,
    },
    #[error("gh {subcommand} did not finish within {seconds} s (stopped)")]
    Timeout { subcommand: String, seconds: u64 },
    #[error("gh {subcommand} failed ({status}): {stderr}", status = super::git::exit_text(*.code))]
    Failed {
        subcommand: String,
        code: Option<i32>,
        stderr: String,
    },
}

/// How to run gh: which binary, the token, the time limit of one call. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Gh {
    program: Arc<OsStr>,
    token: Option<Secret>,
    timeout: Duration,
}

impl Gh {
    pub fn new(program: impl AsRef<OsStr>, token: Option<Secret>, timeout: Duration) -> Self {
        Gh {
            program: Arc::from(program.as_ref()),
            token,
            timeout,
        }
    }

    pub fn has_token(&self) -> bool {
        self.token.as_ref().is_some_and(|t| !t.expose().is_empty())
    }

    pub fn program(&self) -> &OsStr {
        &self.program
    }

    /// Run `gh <args>` in `cwd` against `host`, with `input` on stdin, and return its stdout.
    pub async fn run(
        &self,
        cwd: &Path,
        host: &str,
        args: &[&str],
        input: Option<&[u8]>,
    ) -> Result<String, GhError> {
        let subcommand = args
            .iter()
            .take_while(|a| !a.starts_with('-'))
            .take(2)
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        tracing::debug!(cwd = %cwd.display(), %host, args = %args.join(" "), "gh");
        let mut cmd = self.command(cwd, host);
        cmd.args(args).stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = cmd.spawn().map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                GhError::NotInstalled {
                    program: self.program.to_string_lossy().into_owned(),
                }
            } else {
                GhError::Spawn {
                    subcommand: subcommand.clone(),
                    source: e,
                }
            }
        })?;
        let work = async {
            if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
                // A gh that exits without reading its input gives EPIPE: its exit status tells.
                let _ = stdin.write_all(bytes).await;
                drop(stdin);
            }
            child.wait_with_output().await
        };
        // On timeout the future is dropped, and with it the child (kill_on_drop).
        let out = match tokio::time::timeout(self.timeout, work).await {
            Ok(r) => r.map_err(|e| GhError::Spawn {
                subcommand: subcommand.clone(),
                source: e,
            })?,
            Err(_) => {
                return Err(GhError::Timeout {
                    subcommand,
                    seconds: self.timeout.as_secs(),
                });
            }
        };
        let stdout = self.scrub(&String::from_utf8_lossy(&out.stdout));
        if out.status.success() {
            return Ok(stdout);
        }
        Err(GhError::Failed {
            subcommand,
            code: out.status.code(),
            stderr: tail(&self.scrub(&String::from_utf8_lossy(&out.stderr))),
        })
    }

    fn command(&self, cwd: &Path, host: &str) -> Command {
        let mut cmd = Command::new(&*self.program);
        cmd.current_dir(cwd)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for var in REMOVED_ENV {
            cmd.env_remove(var);
        }
        cmd.env("GH_PROMPT_DISABLED", "1")
            .env("GH_PAGER", "cat")
            .env("PAGER", "cat")
            .env("NO_COLOR", "1")
            .env("CLICOLOR", "0")
            .env("GH_NO_UPDATE_NOTIFIER", "1")
            .env("GH_NO_EXTENSION_UPDATE_NOTIFIER", "1")
            .env("GH_SPINNER_DISABLED", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GH_HOST", host);
        if let Some(t) = &self.token {
            cmd.env("GH_TOKEN", t.expose());
            if host != "github.com" {
                cmd.env("GH_ENTERPRISE_TOKEN", t.expose());
            }
        }
        cmd
    }

    /// A token never reaches an error message or a recorded URL, even if gh echoed it.
    fn scrub(&self, s: &str) -> String {
        match &self.token {
            Some(t) if !t.expose().is_empty() => s.replace(t.expose(), "****"),
            _ => s.to_string(),
        }
    }
}

/// The last lines of gh's stderr, as one capped line.
fn tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    super::git::last_lines(&lines, STDERR_TAIL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        p
    }

    #[tokio::test]
    async fn token_only_in_gh_token_and_prompts_off() {
        let d = tempfile::tempdir().expect("tempdir");
        let gh = script(
            d.path(),
            "gh",
            "echo \"argv=$*\"; echo \"GH_TOKEN=$GH_TOKEN\"; echo \"GITHUB_TOKEN=${GITHUB_TOKEN-unset}\"; \
             echo \"PROMPT=$GH_PROMPT_DISABLED PAGER=$GH_PAGER HOST=$GH_HOST\"; cat",
        );
        let gh = Gh::new(&gh, Some(Secret::new("tok_123")), Duration::from_secs(10));
        let out = gh
            .run(d.path(), "github.com", &["pr", "list"], Some(b"in"))
            .await
            .expect("run");
        // The token is scrubbed from what we read back, but it did reach gh's environment.
        assert!(out.contains("GH_TOKEN=****"), "{out}");
        assert!(out.contains("argv=pr list"), "{out}");
        assert!(out.contains("PROMPT=1 PAGER=cat HOST=github.com"), "{out}");
        assert!(out.ends_with("in"), "{out}");
    }

    #[tokio::test]
    async fn failure_missing_binary_and_timeout_are_errors() {
        let d = tempfile::tempdir().expect("tempdir");
        let gh = script(
            d.path(),
            "gh-fails",
            "echo 'GraphQL: no tok_123 here' >&2; exit 4",
        );
        let err = Gh::new(&gh, Some(Secret::new("tok_123")), Duration::from_secs(10))
            .run(
                d.path(),
                "github.com",
                &["pr", "create", "--title", "x"],
                None,
            )
            .await
            .expect_err("fails");
        let msg = err.to_string();
        assert!(
            msg.starts_with("gh pr create failed (exit 4): GraphQL"),
            "{msg}"
        );
        assert!(!msg.contains("tok_123"), "{msg}");

        let err = Gh::new("/nonexistent/gh", None, Duration::from_secs(10))
            .run(d.path(), "github.com", &["pr", "list"], None)
            .await
            .expect_err("missing");
        assert!(matches!(err, GhError::NotInstalled { .. }), "{err}");
        assert!(err.to_string().contains("AGENTICORE_GH_BINARY"), "{err}");

        let slow = script(d.path(), "gh-slow", "exec sleep 30");
        let t0 = std::time::Instant::now();
        let err = Gh::new(&slow, None, Duration::from_millis(300))
            .run(d.path(), "github.com", &["pr", "list"], None)
            .await
            .expect_err("timeout");
        assert!(matches!(err, GhError::Timeout { .. }), "{err}");
        assert!(t0.elapsed() < Duration::from_secs(5));
    }
}
