//! Reused worktrees: a bounded pool of idle checkouts per cached repository, so a job on a big
//! repository does not pay for writing (and later deleting) every file of it.
//!
//! Layout: `{root}/worktrees/.pool/{key}/w-<uuid>/`, each a registered (detached) worktree of
//! the bare clone `{root}/{key}`. Everything here runs under the repo lock.
//!
//! - **Take** (making a job's worktree): move an idle one to the job's path (`git worktree
//!   move`, a rename), switch it to the job's branch at its base commit (`checkout --force -B`:
//!   only the files that differ are written) and remove every untracked and ignored file
//!   (`clean -ffdx`). The job then sees exactly the base commit, as in a fresh worktree. A
//!   candidate that fails any step is discarded and the next one (or a fresh worktree) is used.
//! - **Give back** (a job ended and does not keep its worktree): detach it from the job's
//!   branch (the branch stays, for auto-PR and for the user) and move it into the pool, when
//!   the pool has room and nothing is half-done in it (a merge, rebase, cherry-pick, revert or
//!   bisect in progress); otherwise it is removed as before.

use std::path::{Path, PathBuf};

use super::git::{Git, git_dir_arg, os_args};
use super::repo::{RepoError, git_err, io_err};

/// The pool directory of the bare clone `repo_dir` (`{root}/{key}`): `{root}/worktrees/.pool/{key}`,
/// beside the jobs' worktrees (`{root}/worktrees/{job id}`), so taking one is a rename on the
/// same file system and the cache root holds only caches.
pub fn pool_dir(repo_dir: &Path) -> PathBuf {
    let root = repo_dir.parent().unwrap_or(repo_dir);
    root.join("worktrees")
        .join(".pool")
        .join(repo_dir.file_name().unwrap_or_default())
}

/// Idle worktrees in the pool, oldest name first.
async fn idle(pool: &Path) -> Vec<PathBuf> {
    let Ok(mut entries) = tokio::fs::read_dir(pool).await else {
        return Vec::new();
    };
    let mut out = Vec::new();
    while let Ok(Some(e)) = entries.next_entry().await {
        if e.file_name().to_string_lossy().starts_with("w-") {
            out.push(e.path());
        }
    }
    out.sort();
    out
}

/// Drop a pooled worktree that cannot be used: its metadata and its files.
async fn discard(git: &Git, repo_dir: &Path, path: &Path) {
    let gd = git_dir_arg(repo_dir);
    let cwd = repo_dir.parent().unwrap_or(repo_dir);
    let _ = git
        .run(
            cwd,
            &os_args![gd, "worktree", "remove", "--force", "--", path],
        )
        .await;
    if let Err(e) = tokio::fs::remove_dir_all(path).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), "cannot remove a broken pooled worktree: {e}");
    }
    let _ = git.run(cwd, &os_args![gd, "worktree", "prune"]).await;
}

/// Move an idle worktree to `dest` and switch it to `branch` at `commit` (see the module doc).
/// False when the pool had none that works (the caller adds a fresh worktree). Caller holds
/// the repo lock; `dest` must not exist.
pub(crate) async fn take(
    git: &Git,
    repo_dir: &Path,
    dest: &Path,
    branch: &str,
    commit: &str,
) -> bool {
    let gd = git_dir_arg(repo_dir);
    let cwd = repo_dir.parent().unwrap_or(repo_dir);
    for candidate in idle(&pool_dir(repo_dir)).await {
        let moved = git
            .run(
                cwd,
                &os_args![gd, "worktree", "move", "--", candidate, dest],
            )
            .await;
        if let Err(e) = moved {
            tracing::warn!(path = %candidate.display(), "discarding a pooled worktree: {e}");
            discard(git, repo_dir, &candidate).await;
            continue;
        }
        match switch(git, dest, branch, commit).await {
            Ok(()) => {
                tracing::debug!(worktree = %dest.display(), %branch, "reused a pooled worktree");
                return true;
            }
            Err(e) => {
                tracing::warn!(path = %dest.display(), "discarding a pooled worktree: {e}");
                discard(git, repo_dir, dest).await;
            }
        }
    }
    false
}

/// `checkout --force -B branch commit`, then `clean -ffdx`: the tree is `commit` exactly.
async fn switch(git: &Git, wt: &Path, branch: &str, commit: &str) -> Result<(), RepoError> {
    git.run(
        wt,
        &os_args![
            "checkout",
            "--quiet",
            "--force",
            "--no-track",
            "-B",
            branch,
            commit,
            "--"
        ],
    )
    .await
    .map_err(git_err(format!("switching a pooled worktree to {branch}")))?;
    git.run(wt, &os_args!["clean", "-ffdxq"])
        .await
        .map_err(git_err("cleaning a pooled worktree"))?;
    Ok(())
}

/// Something half-done that `checkout` would not undo (it would surprise the next job).
async fn in_progress(git: &Git, wt: &Path) -> Result<bool, RepoError> {
    let out = git
        .run(wt, &os_args!["rev-parse", "--absolute-git-dir"])
        .await
        .map_err(git_err("reading a worktree's git dir"))?;
    let dir = PathBuf::from(out.trim());
    for name in [
        "MERGE_HEAD",
        "CHERRY_PICK_HEAD",
        "REVERT_HEAD",
        "BISECT_LOG",
        "rebase-merge",
        "rebase-apply",
    ] {
        if tokio::fs::try_exists(dir.join(name))
            .await
            .map_err(io_err("cannot read", &dir))?
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Put a job's worktree `wt` in the pool (at most `cap` idle ones). False when it was not
/// taken (the caller removes it). Caller holds the repo lock.
pub(crate) async fn give_back(git: &Git, repo_dir: &Path, wt: &Path, cap: usize) -> bool {
    if cap == 0 || !tokio::fs::try_exists(wt).await.unwrap_or(false) {
        return false;
    }
    let pool = pool_dir(repo_dir);
    if idle(&pool).await.len() >= cap {
        return false;
    }
    match in_progress(git, wt).await {
        Ok(false) => {}
        Ok(true) => {
            tracing::debug!(path = %wt.display(), "not pooled: an operation is in progress");
            return false;
        }
        Err(e) => {
            tracing::debug!(path = %wt.display(), "not pooled: {e}");
            return false;
        }
    }
    // Off the job's branch, files untouched: the branch is free for another checkout.
    if let Err(e) = git
        .run(wt, &os_args!["checkout", "--quiet", "--detach"])
        .await
    {
        tracing::debug!(path = %wt.display(), "not pooled: {e}");
        return false;
    }
    if let Err(e) = tokio::fs::create_dir_all(&pool).await {
        tracing::warn!(dir = %pool.display(), "cannot create the worktree pool: {e}");
        return false;
    }
    let dest = pool.join(format!("w-{}", uuid::Uuid::now_v7().simple()));
    let gd = git_dir_arg(repo_dir);
    let cwd = repo_dir.parent().unwrap_or(repo_dir);
    match git
        .run(cwd, &os_args![gd, "worktree", "move", "--", wt, dest])
        .await
    {
        Ok(_) => true,
        Err(e) => {
            tracing::debug!(path = %wt.display(), "not pooled: {e}");
            false
        }
    }
}
