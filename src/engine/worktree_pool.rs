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
//! - **Prune**: an idle worktree unused for [`IDLE_LIMIT`] is dropped. Under the lock it is only
//!   renamed into `{root}/worktrees/.trash/` and forgotten by git (`worktree prune`); its files
//!   are deleted after the lock is released, so no job waits for a big checkout's deletion.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::git::{Git, git_dir_arg, os_args};
use super::repo::{RepoError, git_err, io_err, lock_repo};

/// How long a worktree may sit idle in the pool before it is dropped.
pub const IDLE_LIMIT: Duration = Duration::from_secs(30 * 60);

/// The pool directory of the bare clone `repo_dir` (`{root}/{key}`): `{root}/worktrees/.pool/{key}`,
/// beside the jobs' worktrees (`{root}/worktrees/{job id}`), so taking one is a rename on the
/// same file system and the cache root holds only caches.
pub fn pool_dir(repo_dir: &Path) -> PathBuf {
    let root = repo_dir.parent().unwrap_or(repo_dir);
    root.join("worktrees")
        .join(".pool")
        .join(repo_dir.file_name().unwrap_or_default())
}

fn trash_dir(repo_dir: &Path) -> PathBuf {
    let root = repo_dir.parent().unwrap_or(repo_dir);
    root.join("worktrees").join(".trash")
}

/// When an idle worktree was pooled: its name is `w-<UUID v7>`, whose first 48 bits are the
/// Unix time in milliseconds.
fn pooled_at(path: &Path) -> Option<std::time::SystemTime> {
    let name = path.file_name()?.to_str()?.strip_prefix("w-")?;
    let ms = u64::from_str_radix(name.get(..12)?, 16).ok()?;
    Some(std::time::UNIX_EPOCH + Duration::from_millis(ms))
}

/// Drop the idle worktrees of `repo_dir` pooled longer than `limit` ago (see the module doc).
pub(crate) async fn prune_idle(git: &Git, repo_dir: &Path, limit: Duration) {
    let trash = trash_dir(repo_dir);
    let now = std::time::SystemTime::now();
    let stale: Vec<PathBuf> = idle(&pool_dir(repo_dir))
        .await
        .into_iter()
        .filter(|p| pooled_at(p).is_some_and(|t| now.duration_since(t).unwrap_or_default() > limit))
        .collect();
    if !stale.is_empty() {
        let Ok(_lock) = lock_repo(repo_dir).await else {
            return;
        };
        if tokio::fs::create_dir_all(&trash).await.is_err() {
            return;
        }
        for p in &stale {
            if let Some(name) = p.file_name() {
                // Gone already (taken by a job meanwhile): fine.
                let _ = tokio::fs::rename(p, trash.join(name)).await;
            }
        }
        let gd = git_dir_arg(repo_dir);
        let cwd = repo_dir.parent().unwrap_or(repo_dir);
        let _ = git.run(cwd, &os_args![gd, "worktree", "prune"]).await;
    }
    // Delete what is in the trash (this time's, and any a crash left), without the lock.
    let Ok(mut entries) = tokio::fs::read_dir(&trash).await else {
        return;
    };
    while let Ok(Some(e)) = entries.next_entry().await {
        if let Err(err) = tokio::fs::remove_dir_all(e.path()).await {
            tracing::debug!(path = %e.path().display(), "cannot delete a pruned worktree: {err}");
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pooled_name_tells_when_it_was_pooled() {
        let before = std::time::SystemTime::now() - Duration::from_millis(5);
        let name = format!("w-{}", uuid::Uuid::now_v7().simple());
        let t = pooled_at(Path::new(&name)).expect("a v7 name");
        assert!(t >= before && t <= std::time::SystemTime::now(), "{t:?}");
        assert_eq!(pooled_at(Path::new("w-zz")), None);
        assert_eq!(pooled_at(Path::new("other")), None);
        assert_eq!(
            pool_dir(Path::new("/r/github.com-o-r-0123")),
            Path::new("/r/worktrees/.pool/github.com-o-r-0123")
        );
    }

    fn sh(dir: &Path, args: &[&str]) {
        let ok = std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "git {args:?}");
    }

    /// `{root}/cache-key`: a bare clone with one commit (a.txt) on main.
    fn seeded_cache(root: &Path) -> PathBuf {
        let seed = root.join("seed");
        std::fs::create_dir_all(&seed).expect("seed");
        sh(&seed, &["init", "-q", "-b", "main"]);
        std::fs::write(seed.join("a.txt"), "a").expect("write");
        sh(&seed, &["add", "-A"]);
        sh(&seed, &["commit", "-q", "-m", "one"]);
        sh(root, &["clone", "-q", "--bare", "seed", "cache-key"]);
        root.join("cache-key")
    }

    #[tokio::test]
    async fn idle_worktrees_past_the_limit_are_dropped_and_fresh_ones_kept() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path();
        let repo = seeded_cache(root);
        let pool = pool_dir(&repo);
        std::fs::create_dir_all(&pool).expect("pool");
        let old = pool.join(format!("w-{}", "00000000000070008000000000000000"));
        let fresh = pool.join(format!("w-{}", uuid::Uuid::now_v7().simple()));
        for wt in [&old, &fresh] {
            let gd = format!("--git-dir={}", repo.display());
            let path = wt.display().to_string();
            sh(
                root,
                &[
                    gd.as_str(),
                    "worktree",
                    "add",
                    "-q",
                    "--detach",
                    path.as_str(),
                    "main",
                ],
            );
        }
        prune_idle(&Git::new(), &repo, Duration::from_secs(60)).await;
        assert!(!old.exists(), "pooled in 1970: dropped");
        assert!(fresh.join("a.txt").exists(), "pooled just now: kept");
        let trash = trash_dir(&repo);
        assert_eq!(std::fs::read_dir(&trash).map(|d| d.count()).unwrap_or(0), 0);
        let out = std::process::Command::new("git")
            .arg(format!("--git-dir={}", repo.display()))
            .args(["worktree", "list", "--porcelain"])
            .output()
            .expect("git");
        let list = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            list.matches("worktree ").count(),
            2,
            "bare + the fresh one: {list}"
        );
    }

    #[tokio::test]
    async fn a_worktree_with_a_half_done_operation_is_not_pooled() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path();
        let repo = seeded_cache(root);
        let git = Git::new();
        let gd = format!("--git-dir={}", repo.display());
        for (name, half_done) in [("busy", true), ("done", false)] {
            let wt = root.join("worktrees").join(name);
            let path = wt.display().to_string();
            sh(
                root,
                &[
                    gd.as_str(),
                    "worktree",
                    "add",
                    "-q",
                    "-b",
                    name,
                    path.as_str(),
                    "main",
                ],
            );
            if half_done {
                let head = repo.join("worktrees").join(name).join("MERGE_HEAD");
                std::fs::write(head, "0123456789012345678901234567890123456789\n").expect("write");
            }
            let pooled = give_back(&git, &repo, &wt, 4).await;
            assert_eq!(pooled, !half_done, "{name}");
            assert_eq!(
                wt.exists(),
                half_done,
                "{name}: moved away only when pooled"
            );
        }
        assert_eq!(idle(&pool_dir(&repo)).await.len(), 1);
        assert!(!give_back(&git, &repo, &root.join("worktrees/none"), 4).await);
    }
}
