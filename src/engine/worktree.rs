//! A job's worktree: made by [`crate::engine::repo::RepoCache::prepare`], removed after the job.

use std::path::PathBuf;

use super::git::{Git, git_dir_arg, os_args};
use super::repo::{RepoError, git_err, io_err, lock_repo};

/// A job's checkout. Every field is plain data, so a worktree can be rebuilt from a job record
/// (e.g. to clean up after a restart): the repo lock is found from `repo_dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worktree {
    /// The checkout the job runs in.
    pub path: PathBuf,
    /// The job's branch (`agenticore/<short id>` or `agenticore/<full id>`).
    pub branch: String,
    /// The remote branch it started from (resolved: the default branch's name when none was
    /// asked for).
    pub base_ref: String,
    /// The commit it started from.
    pub base_commit: String,
    /// The bare clone in the cache that owns it.
    pub repo_dir: PathBuf,
}

impl Worktree {
    /// Remove the checkout and its metadata in the cache. The branch is kept (auto-PR pushes
    /// it). Idempotent: removing a worktree that is already gone is fine. Takes the repo lock.
    pub async fn remove(&self, git: &Git) -> Result<(), RepoError> {
        let _lock = lock_repo(&self.repo_dir).await?;
        self.remove_locked(git).await
    }

    /// Hand the checkout to the repository's pool of idle worktrees (at most `pool_size`), or
    /// remove it when the pool has no room or it is not fit for reuse. Either way the job's
    /// path is gone afterwards and its branch stays. Takes the repo lock.
    /// Idle worktrees unused for a while are dropped afterwards, in the background.
    pub async fn release(&self, git: &Git, pool_size: usize) -> Result<(), RepoError> {
        let result = {
            let _lock = lock_repo(&self.repo_dir).await?;
            if super::worktree_pool::give_back(git, &self.repo_dir, &self.path, pool_size).await {
                Ok(())
            } else {
                self.remove_locked(git).await
            }
        };
        if pool_size > 0 {
            let (git, repo_dir) = (git.clone(), self.repo_dir.clone());
            tokio::spawn(async move {
                super::worktree_pool::prune_idle(&git, &repo_dir, super::worktree_pool::IDLE_LIMIT)
                    .await;
            });
        }
        result
    }

    async fn remove_locked(&self, git: &Git) -> Result<(), RepoError> {
        let gd = git_dir_arg(&self.repo_dir);
        let cwd = self.repo_dir.parent().unwrap_or(&self.repo_dir);
        let removed = git
            .run(
                cwd,
                &os_args![gd, "worktree", "remove", "--force", "--", self.path],
            )
            .await;
        if let Err(e) = removed {
            // Not a registered worktree any more (or git could not finish): delete what is left.
            tracing::debug!(error = %e, path = %self.path.display(), "worktree remove failed; deleting the directory");
            match tokio::fs::remove_dir_all(&self.path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("cannot remove worktree", &self.path)(e)),
            }
        }
        git.run(cwd, &os_args![gd, "worktree", "prune"])
            .await
            .map_err(git_err("pruning worktrees"))?;
        Ok(())
    }

    /// How many commits the job's branch has beyond the commit it started from.
    pub async fn commits_beyond_base(&self, git: &Git) -> Result<u32, RepoError> {
        let gd = git_dir_arg(&self.repo_dir);
        let range = format!("{}..refs/heads/{}", self.base_commit, self.branch);
        let cwd = self.repo_dir.parent().unwrap_or(&self.repo_dir);
        let out = git
            .run(
                cwd,
                &os_args![gd, "rev-list", "--count", "--end-of-options", range, "--"],
            )
            .await
            .map_err(git_err(format!("counting commits on {}", self.branch)))?;
        out.trim().parse().map_err(|_| RepoError::Parse {
            what: "rev-list --count",
            output: out,
        })
    }
}
