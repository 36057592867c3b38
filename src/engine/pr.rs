//! Auto-PR: after a job succeeded with a profile that has `auto_pr: true`, commit what claude
//! left uncommitted (`commit_leftovers`), push the job's branch, and open a pull request with
//! `gh` (or reuse the one already open for that branch).
//!
//! Runs before the worktree is removed. Nothing here ever fails the job: every problem is a
//! [`PrError`], recorded on the job as `pr_error`, with the work still on its branch.
//!
//! Concurrency: the push reads the shared clone cache and writes nothing to it (it pushes to the
//! job's URL, not to the `origin` remote, so no remote-tracking ref is updated), so it needs no
//! repo lock and never collides with another job's fetch. The leftover commit writes only the
//! job's own worktree index and branch.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::gh::{Gh, GhError};
use super::git::{Git, GitError, git_dir_arg, os_args};
use super::repo::RepoUrl;
use super::worktree::Worktree;
use crate::job::{Job, Progress};
use crate::profile::Profile;

/// Longest PR title, in characters.
pub const TITLE_MAX_CHARS: usize = 70;
/// Cap of each long part (task, result) of the PR body, in characters.
const BODY_PART_MAX_CHARS: usize = 20_000;
/// Identity for the leftover commit when git has none configured.
const FALLBACK_NAME: &str = "agenticore";
const FALLBACK_EMAIL: &str = "agenticore@localhost";

/// Why no pull request was opened (recorded on the job as `pr_error`).
#[derive(Debug, thiserror::Error)]
pub enum PrError {
    #[error("committing the uncommitted changes failed: {0}")]
    Leftovers(#[source] GitError),
    #[error("checking the job's commits failed: {0}")]
    Count(#[source] GitError),
    #[error("no pull request: the job made no commits beyond origin/{base}{leftovers}")]
    NoCommits { base: String, leftovers: String },
    #[error("pushing {branch} failed: {source}")]
    Push {
        branch: String,
        #[source]
        source: GitError,
    },
    #[error("pushing {branch} did not finish within {seconds} s (stopped)")]
    PushTimeout { branch: String, seconds: u64 },
    #[error("pushed {branch}; no pull request: {reason}")]
    NotGithub { branch: String, reason: String },
    #[error("pushed {branch}; no pull request: no GitHub token (set GITHUB_TOKEN or github.token)")]
    NoToken { branch: String },
    #[error("pushed {branch}; no pull request: {source}")]
    Gh {
        branch: String,
        #[source]
        source: GhError,
    },
    #[error("pushed {branch}; gh {what} printed no pull request URL: {output:?}")]
    NoUrl {
        branch: String,
        what: &'static str,
        output: String,
    },
    #[error("the pull request step was stopped: {0}")]
    Interrupted(String),
    #[error("the job's repository URL is not valid any more (agenticore was upgraded?)")]
    BadUrl,
}

/// A pull request for the job's branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub url: String,
    /// It was open already (an earlier run of the branch opened it).
    pub reused: bool,
}

/// What the PR step needs from the engine.
#[derive(Debug, Clone)]
pub struct PrSettings {
    pub git: Git,
    pub gh: Gh,
    /// Hosts besides github.com whose repos get pull requests (GitHub Enterprise).
    pub github_hosts: Vec<String>,
    pub push_timeout: Duration,
}

/// One job's PR step.
pub struct PrJob<'a> {
    pub job: &'a Job,
    pub url: &'a RepoUrl,
    pub profile: &'a Profile,
    pub worktree: &'a Worktree,
    pub progress: &'a Progress,
    /// Claude's result text, for the PR body.
    pub summary: Option<&'a str>,
    /// Directories agenticore writes in (the job's dir, its home): nothing under them is ever
    /// committed.
    pub exclude: Vec<PathBuf>,
}

/// Commit leftovers (if the profile says so), push, and open or reuse the pull request.
pub async fn run(s: &PrSettings, p: &PrJob<'_>) -> Result<PullRequest, PrError> {
    let wt = p.worktree;
    let left = leftovers(&s.git, &wt.path, &p.exclude)
        .await
        .map_err(PrError::Leftovers)?;
    if !left.is_empty() && p.profile.commit_leftovers() {
        commit_leftovers(&s.git, p, &left)
            .await
            .map_err(PrError::Leftovers)?;
        tracing::info!(job = %p.job.id, files = left.len(), branch = %wt.branch, "committed leftovers");
    }
    let ahead = commits_ahead(&s.git, wt).await.map_err(PrError::Count)?;
    if ahead == 0 {
        let leftovers = if left.is_empty() || p.profile.commit_leftovers() {
            String::new()
        } else {
            format!(
                " ({} uncommitted file{} left out: commit_leftovers is off)",
                left.len(),
                if left.len() == 1 { "" } else { "s" }
            )
        };
        return Err(PrError::NoCommits {
            base: wt.base_ref.clone(),
            leftovers,
        });
    }
    push(s, p).await?;
    tracing::info!(job = %p.job.id, branch = %wt.branch, commits = ahead, "pushed");

    let branch = wt.branch.clone();
    let (host, repo) =
        github_repo(p.url, &s.github_hosts).map_err(|reason| PrError::NotGithub {
            branch: branch.clone(),
            reason,
        })?;
    if !s.gh.has_token() {
        return Err(PrError::NoToken { branch });
    }
    let gh_err = |source| PrError::Gh {
        branch: branch.clone(),
        source,
    };
    let list_args = [
        "pr", "list", "--repo", &repo, "--head", &branch, "--state", "open", "--json", "url",
        "--limit", "1",
    ];
    let listed =
        s.gh.run(&wt.path, &host, &list_args, None)
            .await
            .map_err(gh_err)?;
    if let Some(url) = parse_list(&listed) {
        return Ok(PullRequest { url, reused: true });
    }
    let title = title(&p.job.spec.task, p.job);
    let body = body(p);
    let mut args = vec![
        "pr",
        "create",
        "--repo",
        &repo,
        "--base",
        &wt.base_ref,
        "--head",
        &branch,
        "--title",
        &title,
        "--body-file",
        "-",
    ];
    if p.profile.draft_pr() {
        args.push("--draft");
    }
    let out = match s
        .gh
        .run(&wt.path, &host, &args, Some(body.as_bytes()))
        .await
    {
        Ok(out) => out,
        // Someone opened a PR for the branch meanwhile (gh refuses a second one): use it.
        Err(e @ GhError::Failed { .. }) => {
            let again = s.gh.run(&wt.path, &host, &list_args, None).await;
            return match again.ok().as_deref().and_then(parse_list) {
                Some(url) => Ok(PullRequest { url, reused: true }),
                None => Err(gh_err(e)),
            };
        }
        Err(e) => return Err(gh_err(e)),
    };
    match last_url(&out) {
        Some(url) => Ok(PullRequest { url, reused: false }),
        None => Err(PrError::NoUrl {
            branch,
            what: "pr create",
            output: out.chars().take(300).collect(),
        }),
    }
}

/// Paths (relative to the worktree) with uncommitted changes, untracked files included and
/// ignored files not, minus anything under `exclude`.
async fn leftovers(
    git: &Git,
    worktree: &Path,
    exclude: &[PathBuf],
) -> Result<Vec<String>, GitError> {
    let out = git
        .run(
            worktree,
            &["status", "--porcelain=v1", "-z", "--untracked-files=all"],
        )
        .await?;
    let mut paths = Vec::new();
    let mut entries = out.split('\0');
    while let Some(entry) = entries.next() {
        if entry.len() < 4 {
            continue;
        }
        let (code, path) = entry.split_at(3);
        paths.push(path.to_string());
        // A rename or copy is followed by its source path.
        if code.starts_with(['R', 'C'])
            && let Some(src) = entries.next()
        {
            paths.push(src.to_string());
        }
    }
    let root = std::path::absolute(worktree).unwrap_or_else(|_| worktree.to_path_buf());
    paths.retain(|rel| {
        let abs = root.join(rel);
        !exclude.iter().any(|dir| abs.starts_with(dir))
    });
    Ok(paths)
}

async fn commit_leftovers(git: &Git, p: &PrJob<'_>, paths: &[String]) -> Result<(), GitError> {
    let wt = &p.worktree.path;
    let mut list = Vec::new();
    for path in paths {
        list.extend_from_slice(path.as_bytes());
        list.push(0);
    }
    git.run_with_input(
        wt,
        &[
            "--literal-pathspecs",
            "add",
            "--all",
            "--pathspec-from-file=-",
            "--pathspec-file-nul",
        ],
        &list,
    )
    .await?;
    let mut args: Vec<String> = Vec::new();
    let has_ident = git.run(wt, &["var", "GIT_AUTHOR_IDENT"]).await.is_ok()
        && git.run(wt, &["var", "GIT_COMMITTER_IDENT"]).await.is_ok();
    if !has_ident {
        args.extend([
            "-c".into(),
            format!("user.name={FALLBACK_NAME}"),
            "-c".into(),
            format!("user.email={FALLBACK_EMAIL}"),
        ]);
    }
    let message = format!(
        "agenticore: changes job {} left uncommitted\n\nJob: {}\nProfile: {}\nTask: {}\n",
        p.job.id.short(),
        p.job.id,
        p.profile.name(),
        title(&p.job.spec.task, p.job),
    );
    args.extend([
        "commit".into(),
        "--quiet".into(),
        "--no-verify".into(),
        "-m".into(),
        message,
    ]);
    git.run(wt, &args).await.map(drop)
}

/// Commits on the job's branch that `origin/<base>` lacks (or, if that ref is gone, that the
/// commit the job started from lacks).
async fn commits_ahead(git: &Git, wt: &Worktree) -> Result<u32, GitError> {
    let gd = git_dir_arg(&wt.repo_dir);
    let cwd = wt.repo_dir.parent().unwrap_or(&wt.repo_dir);
    let tip = format!("refs/heads/{}", wt.branch);
    let remote_base = format!("^refs/remotes/origin/{}", wt.base_ref);
    let start = format!("^{}", wt.base_commit);
    let count = |base: String| {
        let (gd, tip) = (gd.clone(), tip.clone());
        async move {
            git.run(
                cwd,
                &os_args![
                    gd,
                    "rev-list",
                    "--count",
                    "--end-of-options",
                    tip,
                    base,
                    "--"
                ],
            )
            .await
        }
    };
    let out = match count(remote_base).await {
        Ok(out) => out,
        Err(e) if e.is_failure() => count(start).await?,
        Err(e) => return Err(e),
    };
    Ok(out.trim().parse().unwrap_or(0))
}

/// `git push <url> refs/heads/<branch>:refs/heads/<branch>` from the clone cache, with the
/// token (if any) through the credential helper only, within the push timeout.
async fn push(s: &PrSettings, p: &PrJob<'_>) -> Result<(), PrError> {
    let wt = p.worktree;
    let gd = git_dir_arg(&wt.repo_dir);
    let cwd = wt.repo_dir.parent().unwrap_or(&wt.repo_dir);
    let spec = format!("refs/heads/{0}:refs/heads/{0}", wt.branch);
    let pushed = tokio::time::timeout(
        s.push_timeout,
        s.git.run(
            cwd,
            &os_args![gd, "push", "--quiet", "--", p.url.as_str(), spec],
        ),
    )
    .await;
    match pushed {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(source)) => Err(PrError::Push {
            branch: wt.branch.clone(),
            source,
        }),
        Err(_) => Err(PrError::PushTimeout {
            branch: wt.branch.clone(),
            seconds: s.push_timeout.as_secs(),
        }),
    }
}

/// The host and `--repo` value for gh, or why the remote gets no pull request.
fn github_repo(url: &RepoUrl, hosts: &[String]) -> Result<(String, String), String> {
    let Some(host) = url.host() else {
        return Err(format!(
            "{url} is a local repository, not a GitHub one (branch pushed only)"
        ));
    };
    let host = host.to_ascii_lowercase();
    let enterprise = hosts.contains(&host);
    if host != "github.com" && !enterprise {
        return Err(format!(
            "{host} is not a GitHub host (for GitHub Enterprise, add it to AGENTICORE_GITHUB_HOSTS)"
        ));
    }
    let path = url.remote_path().unwrap_or_default();
    let parts: Vec<&str> = path.split('/').collect();
    if parts.len() != 2 || parts.iter().any(|s| s.is_empty() || s.starts_with('-')) {
        return Err(format!(
            "cannot tell the GitHub repository (owner/name) from {url}"
        ));
    }
    let repo = if host == "github.com" {
        path.to_string()
    } else {
        format!("{host}/{path}")
    };
    Ok((host, repo))
}

/// The PR title: the task's first non-empty line, at most [`TITLE_MAX_CHARS`] characters.
pub fn title(task: &str, job: &Job) -> String {
    let line = task
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let line: String = line.chars().filter(|c| !c.is_control()).collect();
    if line.is_empty() {
        return format!("agenticore job {}", job.id.short());
    }
    if line.chars().count() <= TITLE_MAX_CHARS {
        return line;
    }
    let mut t: String = line.chars().take(TITLE_MAX_CHARS - 1).collect();
    t = t.trim_end().to_string();
    t.push('…');
    t
}

fn capped(s: &str) -> String {
    if s.chars().count() <= BODY_PART_MAX_CHARS {
        return s.trim().to_string();
    }
    let mut t: String = s.chars().take(BODY_PART_MAX_CHARS).collect();
    t.push_str("\n\n…(cut)");
    t
}

/// The PR body: job id, profile, task, turns, cost and Claude's result summary.
pub fn body(p: &PrJob<'_>) -> String {
    let pr = p.progress;
    let mut b = format!(
        "Opened by agenticore for job `{}` (profile `{}`, branch `{}`).\n\n### Task\n\n{}\n",
        p.job.id,
        p.profile.name(),
        p.worktree.branch,
        capped(&p.job.spec.task),
    );
    if let Some(s) = p.summary.filter(|s| !s.trim().is_empty()) {
        b.push_str(&format!("\n### Result\n\n{}\n", capped(s)));
    }
    let turns = pr
        .num_turns
        .map(|n| n.to_string())
        .unwrap_or_else(|| "-".into());
    let cost = pr
        .cost_usd
        .map(|c| format!("${c:.4}"))
        .unwrap_or_else(|| "-".into());
    b.push_str(&format!("\n---\nTurns: {turns} · Cost: {cost}\n"));
    b
}

/// The URL of the first PR in `gh pr list --json url` output.
fn parse_list(out: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(out.trim()).ok()?;
    v.as_array()?
        .iter()
        .find_map(|pr| pr.get("url")?.as_str().map(str::to_string))
        .filter(|u| is_url(u))
}

/// The last line of gh's output that is a URL.
fn last_url(out: &str) -> Option<String> {
    out.lines()
        .map(str::trim)
        .rev()
        .find(|l| is_url(l))
        .map(str::to_string)
}

fn is_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://"))
        && !s.contains(char::is_whitespace)
        && s.len() < 2048
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::repo::validate_repo_url;
    use crate::job::{JobSpec, Mode};

    fn job(task: &str) -> Job {
        Job::new(JobSpec {
            task: task.into(),
            repo_url: None,
            base_ref: None,
            profile: "code".into(),
            session_id: None,
            timeout_seconds: None,
            mode: Mode::Sync,
            ttl_seconds: 60,
            keep_worktree_on_failure: false,
        })
    }

    #[test]
    fn titles_are_the_first_line_capped_at_70() {
        let j = job("x");
        assert_eq!(title("\n  fix the bug  \nmore", &j), "fix the bug");
        let long = "a".repeat(100);
        let t = title(&long, &j);
        assert_eq!(t.chars().count(), 70);
        assert!(t.ends_with('…'));
        let wide = "ü".repeat(80);
        assert_eq!(title(&wide, &j).chars().count(), 70);
        assert_eq!(
            title("  \n ", &j),
            format!("agenticore job {}", j.id.short())
        );
        assert_eq!(title("-rf\tx", &j), "-rfx");
    }

    #[test]
    fn github_hosts_and_repos() {
        let gh = |u: &str, hosts: &[&str]| {
            let hosts: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
            github_repo(&validate_repo_url(u).expect(u), &hosts)
        };
        assert_eq!(
            gh("https://github.com/acme/widgets.git", &[]),
            Ok(("github.com".into(), "acme/widgets".into()))
        );
        assert_eq!(
            gh("git@github.com:acme/widgets.git", &[]),
            Ok(("github.com".into(), "acme/widgets".into()))
        );
        assert_eq!(
            gh("https://ghe.corp/acme/w", &["ghe.corp"]),
            Ok(("ghe.corp".into(), "ghe.corp/acme/w".into()))
        );
        let e = gh("https://gitlab.com/acme/w", &[]).expect_err("gitlab");
        assert!(e.contains("gitlab.com is not a GitHub host"), "{e}");
        assert!(gh("https://github.com/a/b/c", &[]).is_err());
        assert!(
            gh("file:///srv/r.git", &[])
                .expect_err("local")
                .contains("local")
        );
    }

    #[test]
    fn gh_output_parsing() {
        assert_eq!(
            parse_list(r#"[{"url":"https://github.com/a/b/pull/3"}]"#).as_deref(),
            Some("https://github.com/a/b/pull/3")
        );
        assert_eq!(parse_list("[]"), None);
        assert_eq!(parse_list("not json"), None);
        assert_eq!(
            last_url("Creating pull request\nhttps://github.com/a/b/pull/4\n").as_deref(),
            Some("https://github.com/a/b/pull/4")
        );
        assert_eq!(last_url("warning only\n"), None);
    }

    #[tokio::test]
    async fn leftovers_skip_excluded_dirs_and_ignored_files() {
        let d = tempfile::tempdir().expect("tempdir");
        let root = d.path();
        let git = Git::new();
        git.run(root, &["init", "-q"]).await.expect("init");
        std::fs::write(root.join(".gitignore"), "ignored.txt\n").expect("w");
        std::fs::write(root.join("ignored.txt"), "x").expect("w");
        std::fs::write(root.join("new file.txt"), "x").expect("w");
        std::fs::create_dir_all(root.join("private")).expect("mkdir");
        std::fs::write(root.join("private/mcp.json"), "{}").expect("w");
        let mut left = leftovers(&git, root, &[root.join("private")])
            .await
            .expect("status");
        left.sort();
        assert_eq!(left, [".gitignore", "new file.txt"]);
    }
}
