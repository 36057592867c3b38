//! Every git call goes through [`Git::run`]: async (`tokio::process`), with a fixed, safe
//! environment, and errors that read as one sentence.
//!
//! Environment given to git:
//! - `GIT_TERMINAL_PROMPT=0`, `GIT_ASKPASS`/`SSH_ASKPASS` removed: git never waits for a human.
//! - `GIT_SSH_COMMAND=ssh -o BatchMode=yes` unless the user set `GIT_SSH_COMMAND` or `GIT_SSH`.
//! - `GIT_ALLOW_PROTOCOL=file:https:http:ssh` unless the user set one: even a URL that slipped past
//!   validation (or a submodule) cannot use `ext::` or other remote helpers.
//! - `LC_ALL=C`, so messages and output are parsable.
//! - `GIT_DIR`, `GIT_WORK_TREE` and friends are removed, so an inherited repository (agenticore
//!   started from a git hook) never redirects our commands.
//! - With a token: a credential helper passed through `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_n`/
//!   `GIT_CONFIG_VALUE_n`, reading the token from `AGENTICORE_GIT_TOKEN` in git's own environment.
//!   The token is never in argv, a URL, a log line or `.git/config`, and the helper answers only
//!   for `https` (never sends it in clear text over `http`).

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// The environment variable that carries the token to the credential helper (git's env only).
const TOKEN_ENV: &str = "AGENTICORE_GIT_TOKEN";

/// The credential helper: answers `get` for https only, with the token from [`TOKEN_ENV`].
/// `store`/`erase` are ignored, so the token is never written anywhere.
const CREDENTIAL_HELPER: &str = "!f() { test \"$1\" = get || exit 0; https=; \
while read -r line; do case \"$line\" in protocol=https) https=1;; esac; done; \
test -n \"$https\" || exit 0; echo username=x-access-token; \
echo \"password=$AGENTICORE_GIT_TOKEN\"; }; f";

/// Variables that would point git at another repository than the one we name.
const REPO_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
];

/// How much of git's stderr an error keeps.
const STDERR_TAIL: usize = 1000;

/// A secret string (an access token). `Debug` and `Display` print `****`; read it with
/// [`Secret::expose`].
#[derive(Clone)]
pub struct Secret(Arc<str>);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(Arc::from(s.into()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

/// A git command failed.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The git binary is not installed (or not at the configured path).
    #[error("git executable {program:?} not found: install git or configure the path to it")]
    NotInstalled { program: String },
    /// git could not be started for another reason.
    #[error("could not run git {subcommand}: {source}")]
    Spawn {
        subcommand: String,
        #[source]
        source: io::Error,
    },
    /// git ran and failed.
    #[error("git {subcommand} failed ({status}): {stderr}", status = exit_text(*.code))]
    Failed {
        /// The subcommand (`fetch`, `worktree`...), for the message.
        subcommand: String,
        /// The whole argv after `git` (never holds a secret: tokens go through the environment).
        command: String,
        /// The exit code; `None` when git was killed by a signal.
        code: Option<i32>,
        /// The meaningful tail of stderr (the `fatal:`/`error:` lines when there are any).
        stderr: String,
    },
}

impl GitError {
    /// The exit code of a git that ran and failed.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            GitError::Failed { code, .. } => *code,
            _ => None,
        }
    }

    /// Whether git ran and failed (as opposed to not running at all).
    pub fn is_failure(&self) -> bool {
        matches!(self, GitError::Failed { .. })
    }
}

/// "exit N", or how a child killed by a signal ended (for git's and gh's errors).
pub(crate) fn exit_text(code: Option<i32>) -> String {
    match code {
        Some(c) => format!("exit {c}"),
        None => "killed by a signal".to_string(),
    }
}

/// How to run git: which binary, and an optional token for HTTPS. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Git {
    program: Arc<OsStr>,
    token: Option<Secret>,
}

impl Default for Git {
    fn default() -> Self {
        Git::new()
    }
}

impl Git {
    /// `git` from PATH, no token.
    pub fn new() -> Self {
        Git {
            program: Arc::from(OsStr::new("git")),
            token: None,
        }
    }

    /// Use another git binary.
    pub fn with_program(mut self, program: impl AsRef<OsStr>) -> Self {
        self.program = Arc::from(program.as_ref());
        self
    }

    /// Authenticate HTTPS remotes with this token (username `x-access-token`, as GitHub wants).
    pub fn with_token(mut self, token: Option<Secret>) -> Self {
        self.token = token;
        self
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Run `git <args>` in `cwd` and return its stdout.
    pub async fn run<S: AsRef<OsStr>>(&self, cwd: &Path, args: &[S]) -> Result<String, GitError> {
        self.run_inner(cwd, args, None).await
    }

    /// Like [`Git::run`], with `input` written to git's stdin.
    pub async fn run_with_input<S: AsRef<OsStr>>(
        &self,
        cwd: &Path,
        args: &[S],
        input: &[u8],
    ) -> Result<String, GitError> {
        self.run_inner(cwd, args, Some(input)).await
    }

    async fn run_inner<S: AsRef<OsStr>>(
        &self,
        cwd: &Path,
        args: &[S],
        input: Option<&[u8]>,
    ) -> Result<String, GitError> {
        let argv: Vec<&OsStr> = args.iter().map(AsRef::as_ref).collect();
        let subcommand = subcommand_of(&argv);
        let command = argv
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ");
        tracing::debug!(cwd = %cwd.display(), %command, "git");

        let mut cmd = self.command(cwd);
        cmd.args(&argv);
        cmd.stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = cmd.spawn().map_err(|e| self.spawn_error(&subcommand, e))?;
        if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
            // A git that exits without reading its input gives EPIPE: its exit status tells.
            let _ = stdin.write_all(bytes).await;
            drop(stdin);
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| self.spawn_error(&subcommand, e))?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let stderr = self.scrub(&stderr_tail(&String::from_utf8_lossy(&out.stderr)));
        Err(GitError::Failed {
            subcommand,
            command,
            code: out.status.code(),
            stderr,
        })
    }

    fn command(&self, cwd: &Path) -> Command {
        let mut cmd = Command::new(&*self.program);
        cmd.current_dir(cwd)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .env_remove("GIT_ASKPASS")
            .env_remove("SSH_ASKPASS")
            .env_remove(TOKEN_ENV);
        for var in REPO_ENV {
            cmd.env_remove(var);
        }
        if std::env::var_os("GIT_SSH_COMMAND").is_none() && std::env::var_os("GIT_SSH").is_none() {
            cmd.env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes");
        }
        if std::env::var_os("GIT_ALLOW_PROTOCOL").is_none() {
            cmd.env("GIT_ALLOW_PROTOCOL", "file:https:http:ssh");
        }
        if let Some(token) = &self.token {
            // Append to the user's own GIT_CONFIG_* entries, if any. An empty credential.helper
            // first resets the helper list, so no configured helper (`store`...) sees the token.
            let base = std::env::var("GIT_CONFIG_COUNT")
                .ok()
                .and_then(|n| n.trim().parse::<u32>().ok())
                .unwrap_or(0);
            cmd.env("GIT_CONFIG_COUNT", (base + 2).to_string())
                .env(format!("GIT_CONFIG_KEY_{base}"), "credential.helper")
                .env(format!("GIT_CONFIG_VALUE_{base}"), "")
                .env(format!("GIT_CONFIG_KEY_{}", base + 1), "credential.helper")
                .env(format!("GIT_CONFIG_VALUE_{}", base + 1), CREDENTIAL_HELPER)
                .env(TOKEN_ENV, token.expose());
        }
        cmd
    }

    fn spawn_error(&self, subcommand: &str, e: io::Error) -> GitError {
        if e.kind() == io::ErrorKind::NotFound {
            GitError::NotInstalled {
                program: self.program.to_string_lossy().into_owned(),
            }
        } else {
            GitError::Spawn {
                subcommand: subcommand.to_string(),
                source: e,
            }
        }
    }

    /// Belt and braces: a token never reaches an error message, even if git echoed it.
    fn scrub(&self, s: &str) -> String {
        match &self.token {
            Some(t) if !t.expose().is_empty() => s.replace(t.expose(), "****"),
            _ => s.to_string(),
        }
    }
}

/// The git subcommand in an argv: the first word that is not a global option.
fn subcommand_of(argv: &[&OsStr]) -> String {
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        if a == "-c" || a == "-C" {
            it.next();
        } else if !a.starts_with('-') {
            return a.into_owned();
        }
    }
    String::from("(no subcommand)")
}

/// The part of git's stderr worth showing: its `fatal:`/`error:` lines if any, else the last
/// few lines; one line, capped.
fn stderr_tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let important: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| {
            l.starts_with("fatal:")
                || l.starts_with("error:")
                // A push's refused refs, and what the remote (a hook) said about them.
                || l.starts_with("! [")
                || (l.starts_with("remote:") && !is_remote_progress(l))
        })
        .collect();
    let chosen = if important.is_empty() {
        &lines
    } else {
        &important
    };
    last_lines(chosen, STDERR_TAIL)
}

/// The last three of `lines` as one line ("a / b / c"), cut from the front to at most `max`
/// bytes; "(no error output)" when there is none. For the error messages of child programs.
pub(crate) fn last_lines(lines: &[&str], max: usize) -> String {
    let mut text = lines[lines.len().saturating_sub(3)..].join(" / ");
    if text.is_empty() {
        text = String::from("(no error output)");
    }
    if text.len() > max {
        let mut cut = text.len() - max;
        while !text.is_char_boundary(cut) {
            cut += 1;
        }
        text = format!("...{}", &text[cut..]);
    }
    text
}

/// `remote: Counting objects: 10% ...` and the like: noise, not a reason.
fn is_remote_progress(line: &str) -> bool {
    let l = line.trim_start_matches("remote:").trim();
    l.is_empty()
        || [
            "Counting",
            "Compressing",
            "Enumerating",
            "Total",
            "Resolving",
            "Writing",
        ]
        .iter()
        .any(|p| l.starts_with(p))
}

/// A git argv of mixed `&str`, `String`, `&Path`, `OsString`...: `[&OsStr; N]`.
/// Use it inline (`git.run(dir, &os_args!["fetch", path])`): it borrows its operands.
macro_rules! os_args {
    ($($a:expr),* $(,)?) => {
        [$(::std::convert::AsRef::<::std::ffi::OsStr>::as_ref(&$a)),*]
    };
}
pub(crate) use os_args;

/// `--git-dir=<dir>` as one argument.
pub fn git_dir_arg(dir: &Path) -> OsString {
    let mut s = OsString::from("--git-dir=");
    s.push(dir.as_os_str());
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().expect("tempdir")
    }

    #[tokio::test]
    async fn runs_and_returns_stdout() {
        let git = Git::new();
        let out = git.run(Path::new("/"), &["--version"]).await.expect("git");
        assert!(out.starts_with("git version"), "{out}");
    }

    #[tokio::test]
    async fn failure_is_one_sentence_with_exit_code() {
        let dir = tmp();
        let git = Git::new();
        let err = git
            .run(dir.path(), &["fetch", "--", "file:///nonexistent/nope.git"])
            .await
            .expect_err("must fail");
        let msg = err.to_string();
        assert!(
            msg.starts_with("git fetch failed (exit 128): fatal:"),
            "{msg}"
        );
        assert_eq!(err.exit_code(), Some(128));
        assert!(!msg.contains('\n'));
    }

    #[tokio::test]
    async fn missing_binary_is_clear() {
        let git = Git::new().with_program("/nonexistent/bin/git");
        let err = git
            .run(Path::new("/"), &["--version"])
            .await
            .expect_err("must fail");
        assert!(matches!(err, GitError::NotInstalled { .. }));
        assert!(err.to_string().contains("not found"), "{err}");
    }

    #[test]
    fn subcommand_skips_global_options() {
        let a = [
            OsStr::new("--git-dir=/x"),
            OsStr::new("-c"),
            OsStr::new("a=b"),
            OsStr::new("worktree"),
            OsStr::new("add"),
        ];
        assert_eq!(subcommand_of(&a), "worktree");
    }

    #[test]
    fn stderr_tail_prefers_fatal_lines() {
        let s = "hint: one\nhint: two\nfatal: repository 'x' not found\n";
        assert_eq!(stderr_tail(s), "fatal: repository 'x' not found");
        assert_eq!(stderr_tail(""), "(no error output)");
        let push = "remote: Counting objects: 3\nremote: closed today\nTo file:///r\n \
                    ! [remote rejected] b -> b (pre-receive hook declined)\n\
                    error: failed to push some refs to 'file:///r'\n";
        assert_eq!(
            stderr_tail(push),
            "remote: closed today / ! [remote rejected] b -> b (pre-receive hook declined) / \
             error: failed to push some refs to 'file:///r'"
        );
        let long = "x".repeat(5000);
        assert!(stderr_tail(&long).len() <= STDERR_TAIL + 3);
    }

    #[test]
    fn token_never_debug_printed() {
        let git = Git::new().with_token(Some(Secret::new("ghp_supersecret")));
        let dbg = format!("{git:?}");
        assert!(!dbg.contains("supersecret"), "{dbg}");
        assert!(dbg.contains("****"));
    }

    #[tokio::test]
    async fn token_reaches_credential_helper_for_https_only() {
        let dir = tmp();
        let git = Git::new().with_token(Some(Secret::new("ghp_supersecret")));
        let out = git
            .run_with_input(
                dir.path(),
                &["credential", "fill"],
                b"protocol=https\nhost=example.com\npath=org/repo.git\n\n",
            )
            .await
            .expect("credential fill");
        assert!(out.contains("username=x-access-token"), "{out}");
        assert!(out.contains("password=ghp_supersecret"), "{out}");

        // Over plain http the helper stays silent; with prompts off, git gives up.
        let err = git
            .run_with_input(
                dir.path(),
                &["credential", "fill"],
                b"protocol=http\nhost=example.com\n\n",
            )
            .await
            .expect_err("no credentials for http");
        assert!(!err.to_string().contains("supersecret"), "{err}");
    }
}
