//! The clone cache and the worktrees of jobs (URLs and refs are validated in `repo_url.rs`).
//!
//! Cache layout under `root`:
//! - `{key}/`      a bare repository, remote `origin` with the standard fetch refspec
//!   (`+refs/heads/*:refs/remotes/origin/*`), so every remote branch is `origin/<branch>` and
//!   `refs/heads/` holds only the jobs' branches.
//! - `{key}.lock`  the repo lock (`std::fs::File::lock`), held while cloning, fetching and adding
//!   or removing a worktree; never while a job runs.
//! - `.{key}.tmp-<uuid>/` a clone in progress; renamed to `{key}` when complete, so a crash never
//!   leaves a half-made cache. Leftovers are deleted under the lock.
//!
//! `{key}` is a readable slug plus 12 hex digits of the SHA-256 of the normalised URL
//! (`github.com-org-repo-1a2b3c4d5e6f`), so spellings of one URL share one cache.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use super::git::{Git, GitError, git_dir_arg, os_args};
pub use super::repo_url::{RepoUrl, UrlKind, validate_ref, validate_repo_url};
use super::worktree::Worktree;
use crate::job::JobId;

/// Branches listed in a "base ref not found" error.
const MAX_LISTED_BRANCHES: usize = 20;
/// Prefix of every job branch.
pub const BRANCH_PREFIX: &str = "agenticore/";

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("invalid repository URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: &'static str },
    #[error(
        "repository URL contains credentials: remove the user/password or token from the URL and \
         set GITHUB_TOKEN instead"
    )]
    CredentialsInUrl,
    #[error("repository path {0:?} does not exist")]
    LocalPathMissing(PathBuf),
    #[error("invalid ref {reference:?}: {reason}")]
    InvalidRef {
        reference: String,
        reason: &'static str,
    },
    #[error("base ref {base:?} not found on {url} ({})", branch_list(.branches))]
    BaseRefNotFound {
        base: String,
        url: String,
        branches: Vec<String>,
    },
    #[error("could not find the default branch of {url} ({})", branch_list(.branches))]
    NoDefaultBranch { url: String, branches: Vec<String> },
    #[error("cloning {url} failed: {source}")]
    Clone {
        url: String,
        #[source]
        source: GitError,
    },
    #[error("{context}: {source}")]
    Git {
        context: String,
        #[source]
        source: GitError,
    },
    #[error("{context} {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("unexpected output from git {what}: {output:?}")]
    Parse { what: &'static str, output: String },
}

fn branch_list(branches: &[String]) -> String {
    if branches.is_empty() {
        return "the repository has no branches".to_string();
    }
    let mut s = String::from("branches: ");
    s.push_str(
        &branches
            .iter()
            .take(MAX_LISTED_BRANCHES)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", "),
    );
    if branches.len() > MAX_LISTED_BRANCHES {
        s.push_str(&format!(
            " and {} more",
            branches.len() - MAX_LISTED_BRANCHES
        ));
    }
    s
}

pub(crate) fn git_err(context: impl Into<String>) -> impl FnOnce(GitError) -> RepoError {
    let context = context.into();
    move |source| RepoError::Git { context, source }
}

pub(crate) fn io_err(context: &'static str, path: &Path) -> impl FnOnce(io::Error) -> RepoError {
    let path = path.to_path_buf();
    move |source| RepoError::Io {
        context,
        path,
        source,
    }
}

// ---------------------------------------------------------------------------------------------
// Lock
// ---------------------------------------------------------------------------------------------

/// An exclusive lock on one cache (`{root}/{key}.lock`), released on drop.
pub(crate) struct RepoLock {
    file: File,
}

impl Drop for RepoLock {
    fn drop(&mut self) {
        // Closing the file releases the lock anyway; unlocking first is explicit.
        let _ = self.file.unlock();
    }
}

/// `{repo_dir}.lock`, next to the cache directory.
pub(crate) fn lock_path_for(repo_dir: &Path) -> PathBuf {
    let mut s = repo_dir.as_os_str().to_os_string();
    s.push(".lock");
    PathBuf::from(s)
}

/// Take the lock of the cache at `repo_dir`. `File::lock` blocks, so it waits on the blocking
/// pool, never on a runtime thread.
pub(crate) async fn lock_repo(repo_dir: &Path) -> Result<RepoLock, RepoError> {
    let path = lock_path_for(repo_dir);
    let task_path = path.clone();
    let joined = tokio::task::spawn_blocking(move || -> io::Result<File> {
        if let Some(parent) = task_path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&task_path)?;
        file.lock()?;
        Ok(file)
    })
    .await
    .map_err(|e| RepoError::Io {
        context: "lock task failed for",
        path: path.clone(),
        source: io::Error::other(e.to_string()),
    })?;
    let file = joined.map_err(io_err("cannot lock", &path))?;
    Ok(RepoLock { file })
}

// ---------------------------------------------------------------------------------------------
// Cache
// ---------------------------------------------------------------------------------------------

/// The clone cache: one bare clone per normalised URL under `root`.
#[derive(Debug, Clone)]
pub struct RepoCache {
    root: PathBuf,
    git: Git,
    /// Idle worktrees kept per repository for reuse (`worktree_pool.rs`); 0 = none.
    pool_size: usize,
}

impl RepoCache {
    pub fn new(root: impl Into<PathBuf>, git: Git) -> Self {
        let root = root.into();
        let root = std::path::absolute(&root).unwrap_or(root);
        RepoCache {
            root,
            git,
            pool_size: 0,
        }
    }

    /// Keep up to `n` idle worktrees per repository and reuse them.
    pub fn with_pool(mut self, n: usize) -> Self {
        self.pool_size = n;
        self
    }

    pub fn pool_size(&self) -> usize {
        self.pool_size
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn git(&self) -> &Git {
        &self.git
    }

    /// Where the bare clone of `url` lives (or will).
    pub fn repo_dir(&self, url: &RepoUrl) -> PathBuf {
        self.root.join(url.cache_name())
    }

    /// Make a fresh worktree for a job: clone (first time) or fetch, resolve the base, add the
    /// worktree on a new branch. The repo lock is held for these steps only.
    ///
    /// Branch: `agenticore/<short id>`; if that exists (short ids are the v7 timestamp prefix,
    /// so jobs started within about a minute share one), `agenticore/<full id>`; if that
    /// exists too (the same job prepared again, e.g. a retry), it is this job's own branch and
    /// is reset to the new base (`-B`).
    pub async fn prepare(
        &self,
        url: &RepoUrl,
        base_ref: Option<&str>,
        job_id: JobId,
        worktree_dir: &Path,
    ) -> Result<Worktree, RepoError> {
        if let Some(b) = base_ref {
            validate_ref(b)?;
        }
        let worktree_dir = std::path::absolute(worktree_dir)
            .map_err(io_err("invalid worktree path", worktree_dir))?;
        let repo_dir = self.repo_dir(url);
        // Job spans (telemetry::spans): the cache's lock, clone or fetch, then the worktree.
        let sync_span = tracing::info_span!(target: crate::telemetry::spans::TARGET, "repo.sync",
            repo.cloned = tracing::field::Empty);
        let _lock = lock_repo(&repo_dir).await?;

        let fresh = self.ensure_clone(url, &repo_dir).await?;
        sync_span.record("repo.cloned", fresh);
        let gd = git_dir_arg(&repo_dir);
        let fetch = async {
            if fresh {
                Ok(())
            } else {
                self.git
                    .run(
                        &self.root,
                        &os_args![gd, "fetch", "--prune", "--quiet", "origin"],
                    )
                    .await
                    .map(drop)
                    .map_err(git_err(format!("fetching {url}")))
            }
        };
        let head = async {
            match base_ref {
                Some(_) => None,
                None => Some(self.remote_head(&repo_dir).await),
            }
        };
        let (fetched, head) = tokio::join!(fetch, head);
        fetched?;

        let base = match (base_ref, head) {
            (Some(b), _) => b.to_string(),
            (None, Some(Some(name))) => name,
            (None, _) => self.cached_default_branch(url, &repo_dir).await?,
        };
        let Some(base_commit) = self.remote_branch_commit(&repo_dir, &base).await? else {
            let branches = self.remote_branches(&repo_dir).await?;
            return Err(if base_ref.is_some() {
                RepoError::BaseRefNotFound {
                    base,
                    url: url.to_string(),
                    branches,
                }
            } else {
                RepoError::NoDefaultBranch {
                    url: url.to_string(),
                    branches,
                }
            });
        };
        drop(sync_span);
        let _add_span =
            tracing::info_span!(target: crate::telemetry::spans::TARGET, "worktree.add");

        self.git
            .run(&self.root, &os_args![gd, "worktree", "prune"])
            .await
            .map_err(git_err("pruning worktrees"))?;
        let (branch, reset) = self.pick_branch(&repo_dir, job_id).await?;
        if let Some(parent) = worktree_dir.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(io_err("cannot create", parent))?;
        }
        let reused = self.pool_size > 0
            && super::worktree_pool::take(
                &self.git,
                &repo_dir,
                &worktree_dir,
                &branch,
                &base_commit,
            )
            .await;
        if !reused {
            let flag = if reset { "-B" } else { "-b" };
            let args = os_args![
                gd,
                "worktree",
                "add",
                "--quiet",
                flag,
                branch,
                "--",
                worktree_dir,
                base_commit,
            ];
            self.git
                .run(&self.root, &args)
                .await
                .map_err(git_err(format!(
                    "adding worktree {} for {url}",
                    worktree_dir.display()
                )))?;
        }
        tracing::info!(%url, base = %base, commit = %base_commit, %branch, reused,
            worktree = %worktree_dir.display(), "worktree ready");
        Ok(Worktree {
            path: worktree_dir,
            branch,
            base_ref: base,
            base_commit,
            repo_dir,
        })
    }

    /// Make sure `repo_dir` is a usable bare clone; returns true when it was cloned just now
    /// (and so is already fetched). Caller holds the lock.
    async fn ensure_clone(&self, url: &RepoUrl, repo_dir: &Path) -> Result<bool, RepoError> {
        self.remove_stale_temps(url).await?;
        if tokio::fs::try_exists(repo_dir)
            .await
            .map_err(io_err("cannot read", repo_dir))?
        {
            if self.is_healthy(repo_dir).await? {
                return Ok(false);
            }
            tracing::warn!(dir = %repo_dir.display(), %url, "repo cache is broken: cloning again");
            remove_path(repo_dir).await?;
        }

        let tmp = self.root.join(format!(
            ".{}.tmp-{}",
            url.cache_name(),
            uuid::Uuid::now_v7().simple()
        ));
        let result = self.clone_into(url, &tmp).await;
        if let Err(e) = result {
            let _ = tokio::fs::remove_dir_all(&tmp).await;
            return Err(e);
        }
        if let Err(e) = tokio::fs::rename(&tmp, repo_dir).await {
            let _ = tokio::fs::remove_dir_all(&tmp).await;
            return Err(io_err("cannot move clone into", repo_dir)(e));
        }
        tracing::info!(%url, dir = %repo_dir.display(), "cloned");
        Ok(true)
    }

    /// `git init --bare`, `remote add origin`, `fetch`: a bare clone with `origin/*` refs and no
    /// copied `refs/heads/*`.
    async fn clone_into(&self, url: &RepoUrl, tmp: &Path) -> Result<(), RepoError> {
        let clone_err = |source| RepoError::Clone {
            url: url.to_string(),
            source,
        };
        let gd = git_dir_arg(tmp);
        self.git
            .run(
                &self.root,
                &os_args!["init", "--bare", "--quiet", "--", tmp],
            )
            .await
            .map_err(clone_err)?;
        self.git
            .run(
                &self.root,
                &os_args![gd, "remote", "add", "--", "origin", url.as_str()],
            )
            .await
            .map_err(clone_err)?;
        self.git
            .run(
                &self.root,
                &os_args![gd, "fetch", "--prune", "--quiet", "origin"],
            )
            .await
            .map_err(clone_err)?;
        Ok(())
    }

    /// A bare repository with an `origin` remote. A git that failed to start is an error, not a
    /// reason to delete the cache.
    async fn is_healthy(&self, repo_dir: &Path) -> Result<bool, RepoError> {
        let gd = git_dir_arg(repo_dir);
        let checks: [&[&OsStr]; 2] = [
            &os_args![gd, "rev-parse", "--is-bare-repository"],
            &os_args![gd, "config", "--get", "remote.origin.url"],
        ];
        for (i, args) in checks.iter().enumerate() {
            match self.git.run(&self.root, args).await {
                Ok(out) if i == 0 && out.trim() != "true" => return Ok(false),
                Ok(_) => {}
                Err(e) if e.is_failure() => return Ok(false),
                Err(e) => return Err(git_err("checking the repo cache")(e)),
            }
        }
        Ok(true)
    }

    /// Delete `.{key}.tmp-*` left by a crash mid-clone. Caller holds the lock.
    async fn remove_stale_temps(&self, url: &RepoUrl) -> Result<(), RepoError> {
        let prefix = format!(".{}.tmp-", url.cache_name());
        let mut entries = match tokio::fs::read_dir(&self.root).await {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err("cannot read", &self.root)(e)),
        };
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(io_err("cannot read", &self.root))?
        {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                tracing::warn!(dir = %entry.path().display(), "removing an interrupted clone");
                remove_path(&entry.path()).await?;
            }
        }
        Ok(())
    }

    /// The remote's default branch, asked of the remote (`ls-remote --symref origin HEAD`).
    /// `None` when the remote does not say; the answer is remembered as `origin/HEAD`.
    async fn remote_head(&self, repo_dir: &Path) -> Option<String> {
        let gd = git_dir_arg(repo_dir);
        let out = match self
            .git
            .run(
                &self.root,
                &os_args![gd, "ls-remote", "--symref", "origin", "HEAD"],
            )
            .await
        {
            Ok(out) => out,
            Err(e) => {
                tracing::warn!(error = %e, "cannot ask the remote for its default branch");
                return None;
            }
        };
        let name = parse_symref_head(&out)?;
        let target = format!("refs/remotes/origin/{name}");
        if let Err(e) = self
            .git
            .run(
                &self.root,
                &os_args![gd, "symbolic-ref", "refs/remotes/origin/HEAD", target],
            )
            .await
        {
            tracing::debug!(error = %e, "cannot record origin/HEAD");
        }
        Some(name)
    }

    /// When the remote did not name its default branch: the remembered `origin/HEAD`, else
    /// `main`, else `master`, else the only branch.
    async fn cached_default_branch(
        &self,
        url: &RepoUrl,
        repo_dir: &Path,
    ) -> Result<String, RepoError> {
        let gd = git_dir_arg(repo_dir);
        if let Ok(out) = self
            .git
            .run(
                &self.root,
                &os_args![gd, "symbolic-ref", "--quiet", "refs/remotes/origin/HEAD"],
            )
            .await
            && let Some(name) = out.trim().strip_prefix("refs/remotes/origin/")
            && validate_ref(name).is_ok()
        {
            return Ok(name.to_string());
        }
        let branches = self.remote_branches(repo_dir).await?;
        for candidate in ["main", "master"] {
            if branches.iter().any(|b| b == candidate) {
                return Ok(candidate.to_string());
            }
        }
        if let [only] = branches.as_slice() {
            return Ok(only.clone());
        }
        Err(RepoError::NoDefaultBranch {
            url: url.to_string(),
            branches,
        })
    }

    /// The commit of `origin/<branch>`, or `None` when there is no such branch.
    async fn remote_branch_commit(
        &self,
        repo_dir: &Path,
        branch: &str,
    ) -> Result<Option<String>, RepoError> {
        let gd = git_dir_arg(repo_dir);
        let spec = format!("refs/remotes/origin/{branch}^{{commit}}");
        match self
            .git
            .run(
                &self.root,
                &os_args![
                    gd,
                    "rev-parse",
                    "--verify",
                    "--quiet",
                    "--end-of-options",
                    spec,
                ],
            )
            .await
        {
            Ok(out) => {
                let sha = out.trim();
                if sha.len() >= 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                    Ok(Some(sha.to_string()))
                } else {
                    Err(RepoError::Parse {
                        what: "rev-parse",
                        output: out,
                    })
                }
            }
            Err(e) if e.exit_code() == Some(1) => Ok(None),
            Err(e) => Err(git_err(format!("resolving origin/{branch}"))(e)),
        }
    }

    /// Names of the remote's branches (`origin/*` without `HEAD`), sorted.
    async fn remote_branches(&self, repo_dir: &Path) -> Result<Vec<String>, RepoError> {
        let gd = git_dir_arg(repo_dir);
        let out = self
            .git
            .run(
                &self.root,
                &os_args![
                    gd,
                    "for-each-ref",
                    "--format=%(refname:lstrip=3)",
                    "--",
                    "refs/remotes/origin/",
                ],
            )
            .await
            .map_err(git_err("listing branches"))?;
        let mut names: Vec<String> = out
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && *l != "HEAD")
            .map(str::to_string)
            .collect();
        names.sort();
        Ok(names)
    }

    /// `agenticore/<short>`, else `agenticore/<full id>`; the flag says "reset an existing
    /// branch of this same job" (`-B`). Caller holds the lock, so check-then-add is race-free.
    async fn pick_branch(
        &self,
        repo_dir: &Path,
        job_id: JobId,
    ) -> Result<(String, bool), RepoError> {
        let short = format!("{BRANCH_PREFIX}{}", job_id.short());
        let full = format!("{BRANCH_PREFIX}{job_id}");
        let gd = git_dir_arg(repo_dir);
        let short_ref = format!("refs/heads/{short}");
        let full_ref = format!("refs/heads/{full}");
        let out = self
            .git
            .run(
                &self.root,
                &os_args![
                    gd,
                    "for-each-ref",
                    "--format=%(refname)",
                    "--",
                    short_ref,
                    full_ref,
                ],
            )
            .await
            .map_err(git_err("listing job branches"))?;
        let existing: Vec<&str> = out.lines().map(str::trim).collect();
        if !existing.contains(&short_ref.as_str()) {
            Ok((short, false))
        } else if !existing.contains(&full_ref.as_str()) {
            Ok((full, false))
        } else {
            tracing::warn!(branch = %full, "job branch exists already: resetting it to the new base");
            Ok((full, true))
        }
    }
}

/// `ref: refs/heads/<name>\tHEAD` from `git ls-remote --symref`.
fn parse_symref_head(out: &str) -> Option<String> {
    out.lines().find_map(|line| {
        let rest = line.strip_prefix("ref: refs/heads/")?;
        let (name, what) = rest.split_once('\t')?;
        (what.trim() == "HEAD" && validate_ref(name).is_ok()).then(|| name.to_string())
    })
}

async fn remove_path(path: &Path) -> Result<(), RepoError> {
    let meta = match tokio::fs::symlink_metadata(path).await {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("cannot read", path)(e)),
    };
    let res = if meta.is_dir() {
        tokio::fs::remove_dir_all(path).await
    } else {
        tokio::fs::remove_file(path).await
    };
    match res {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("cannot remove", path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn symref_parsing() {
        let out = "ref: refs/heads/trunk\tHEAD\n0123456789abcdef0123456789abcdef01234567\tHEAD\n";
        assert_eq!(parse_symref_head(out).as_deref(), Some("trunk"));
        assert_eq!(parse_symref_head("abc\tHEAD\n"), None);
        assert_eq!(parse_symref_head("ref: refs/heads/-x\tHEAD\n"), None);
    }

    #[test]
    fn lock_path_keeps_dotted_names() {
        let p = lock_path_for(Path::new("/r/github.com-org-repo-abc"));
        assert_eq!(p, Path::new("/r/github.com-org-repo-abc.lock"));
    }
}
