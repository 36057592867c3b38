//! The clone cache against real git and real `file://` bare remotes in a tempdir.

use std::path::{Path, PathBuf};
use std::process::Command;

use agenticore::engine::git::Git;
use agenticore::engine::repo::{RepoCache, RepoError, RepoUrl, validate_repo_url};
use agenticore::job::JobId;

/// Run git synchronously (test setup only), with an identity and no user config surprises.
fn git(cwd: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(cwd)
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .env("LC_ALL", "C")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A bare remote `<dir>/remote.git` with `main` (2 commits, or `default` as its default
/// branch) and `dev` (one more commit), plus the working clone `<dir>/work` used to push.
struct Remote {
    _tmp: tempfile::TempDir,
    bare: PathBuf,
    work: PathBuf,
}

impl Remote {
    fn new(default: &str) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let bare = tmp.path().join("remote.git");
        let work = tmp.path().join("work");
        git(
            tmp.path(),
            &[
                "init",
                "--bare",
                "-q",
                &format!("--initial-branch={default}"),
                "remote.git",
            ],
        );
        git(
            tmp.path(),
            &["init", "-q", &format!("--initial-branch={default}"), "work"],
        );
        let r = Remote {
            _tmp: tmp,
            bare,
            work,
        };
        r.commit("README.md", "hello\n");
        r.commit("a.txt", "a\n");
        let bare = r.bare.to_string_lossy().into_owned();
        git(&r.work, &["remote", "add", "origin", &bare]);
        git(&r.work, &["push", "-q", "origin", default]);
        git(&r.work, &["checkout", "-q", "-b", "dev"]);
        r.commit("dev.txt", "dev\n");
        git(&r.work, &["push", "-q", "origin", "dev"]);
        git(&r.work, &["checkout", "-q", default]);
        r
    }

    fn commit(&self, file: &str, content: &str) -> String {
        std::fs::write(self.work.join(file), content).expect("write");
        git(&self.work, &["add", "--", file]);
        git(&self.work, &["commit", "-q", "-m", &format!("add {file}")]);
        git(&self.work, &["rev-parse", "HEAD"])
    }

    fn head_of(&self, branch: &str) -> String {
        git(&self.bare, &["rev-parse", &format!("refs/heads/{branch}")])
    }

    fn url(&self) -> RepoUrl {
        validate_repo_url(&format!("file://{}", self.bare.display())).expect("valid url")
    }
}

struct Env {
    tmp: tempfile::TempDir,
    cache: RepoCache,
}

impl Env {
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cache = RepoCache::new(tmp.path().join("repos"), Git::new());
        Env { tmp, cache }
    }

    fn wt(&self, name: &str) -> PathBuf {
        self.tmp.path().join("worktrees").join(name)
    }

    /// Cache directories (not lock files).
    fn cache_dirs(&self) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(self.cache.root()) else {
            return Vec::new();
        };
        rd.filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }
}

#[tokio::test]
async fn first_prepare_clones_second_reuses_and_fetches() {
    let remote = Remote::new("main");
    let env = Env::new();
    let url = remote.url();

    let id = JobId::new();
    let wt = env
        .cache
        .prepare(&url, None, id, &env.wt("one"))
        .await
        .expect("first prepare");
    assert_eq!(wt.base_ref, "main");
    assert_eq!(wt.base_commit, remote.head_of("main"));
    assert_eq!(wt.branch, format!("agenticore/{}", id.short()));
    assert_eq!(wt.path, env.wt("one"));
    assert!(wt.path.join("README.md").is_file());
    assert!(!wt.path.join("dev.txt").exists());
    assert_eq!(
        git(&wt.path, &["rev-parse", "--abbrev-ref", "HEAD"]),
        wt.branch
    );
    assert_eq!(git(&wt.path, &["rev-parse", "HEAD"]), wt.base_commit);
    assert_eq!(env.cache_dirs(), vec![url.cache_name()]);
    assert_eq!(wt.repo_dir, env.cache.root().join(url.cache_name()));

    // A new commit on the remote between two jobs: the second job starts from it.
    let new_head = remote.commit("b.txt", "b\n");
    git(&remote.work, &["push", "-q", "origin", "main"]);
    let wt2 = env
        .cache
        .prepare(&url, Some("main"), JobId::new(), &env.wt("two"))
        .await
        .expect("second prepare");
    assert_eq!(wt2.base_commit, new_head);
    assert!(wt2.path.join("b.txt").is_file());
    assert_ne!(wt2.branch, wt.branch);
    assert_eq!(env.cache_dirs(), vec![url.cache_name()], "cache reused");
}

#[tokio::test]
async fn explicit_base_ref_dev() {
    let remote = Remote::new("main");
    let env = Env::new();
    let wt = env
        .cache
        .prepare(&remote.url(), Some("dev"), JobId::new(), &env.wt("dev"))
        .await
        .expect("prepare dev");
    assert_eq!(wt.base_ref, "dev");
    assert_eq!(wt.base_commit, remote.head_of("dev"));
    assert!(wt.path.join("dev.txt").is_file());
}

#[tokio::test]
async fn default_branch_not_main_and_refreshed() {
    let remote = Remote::new("trunk");
    let env = Env::new();
    let url = remote.url();
    let wt = env
        .cache
        .prepare(&url, None, JobId::new(), &env.wt("a"))
        .await
        .expect("prepare");
    assert_eq!(wt.base_ref, "trunk");
    assert_eq!(wt.base_commit, remote.head_of("trunk"));

    // The remote changes its default branch: the next job follows.
    git(&remote.bare, &["symbolic-ref", "HEAD", "refs/heads/dev"]);
    let wt = env
        .cache
        .prepare(&url, None, JobId::new(), &env.wt("b"))
        .await
        .expect("prepare");
    assert_eq!(wt.base_ref, "dev");
    assert_eq!(wt.base_commit, remote.head_of("dev"));
}

#[tokio::test]
async fn unknown_base_ref_lists_branches() {
    let remote = Remote::new("main");
    let env = Env::new();
    let url = remote.url();
    let err = env
        .cache
        .prepare(&url, Some("nope"), JobId::new(), &env.wt("x"))
        .await
        .expect_err("unknown ref");
    assert!(matches!(err, RepoError::BaseRefNotFound { .. }), "{err:?}");
    let msg = err.to_string();
    assert_eq!(
        msg,
        format!("base ref \"nope\" not found on {url} (branches: dev, main)")
    );
    assert!(!env.wt("x").exists());

    // An invalid ref never reaches git.
    let err = env
        .cache
        .prepare(&url, Some("-x"), JobId::new(), &env.wt("y"))
        .await
        .expect_err("bad ref");
    assert!(matches!(err, RepoError::InvalidRef { .. }), "{err:?}");
}

#[tokio::test]
async fn remove_deletes_dir_keeps_branch_and_counts_commits() {
    let remote = Remote::new("main");
    let env = Env::new();
    let git_ = Git::new();
    let wt = env
        .cache
        .prepare(&remote.url(), None, JobId::new(), &env.wt("job"))
        .await
        .expect("prepare");
    assert_eq!(wt.commits_beyond_base(&git_).await.expect("count"), 0);

    std::fs::write(wt.path.join("new.txt"), "x\n").expect("write");
    git(&wt.path, &["add", "new.txt"]);
    git(&wt.path, &["commit", "-q", "-m", "job work"]);
    std::fs::write(wt.path.join("untracked.txt"), "dirty\n").expect("write");
    assert_eq!(wt.commits_beyond_base(&git_).await.expect("count"), 1);

    wt.remove(&git_).await.expect("remove");
    assert!(!wt.path.exists());
    let list = git(&wt.repo_dir, &["worktree", "list", "--porcelain"]);
    assert!(!list.contains(&*wt.path.to_string_lossy()), "{list}");
    // The branch survives with its commit (auto-PR needs it).
    let branch_ref = format!("refs/heads/{}", wt.branch);
    git(&wt.repo_dir, &["rev-parse", "--verify", &branch_ref]);
    assert_eq!(wt.commits_beyond_base(&git_).await.expect("count"), 1);

    // Removing again is fine.
    wt.remove(&git_).await.expect("remove twice");
}

#[tokio::test]
async fn concurrent_prepares_of_one_repo() {
    let remote = Remote::new("main");
    let env = Env::new();
    let url = remote.url();
    let (pa, pb, pc) = (env.wt("a"), env.wt("b"), env.wt("c"));
    let (a, b, c) = tokio::join!(
        env.cache.prepare(&url, None, JobId::new(), &pa),
        env.cache.prepare(&url, Some("dev"), JobId::new(), &pb),
        env.cache.prepare(&url, None, JobId::new(), &pc),
    );
    let (a, b, c) = (a.expect("a"), b.expect("b"), c.expect("c"));
    assert_ne!(a.branch, b.branch);
    assert_ne!(a.branch, c.branch);
    assert_ne!(b.branch, c.branch);
    assert_eq!(a.base_commit, remote.head_of("main"));
    assert_eq!(b.base_commit, remote.head_of("dev"));
    for wt in [&a, &b, &c] {
        assert!(wt.path.join("README.md").is_file());
    }
    assert_eq!(env.cache_dirs().len(), 1);

    let git_ = Git::new();
    let (ra, rb, rc) = tokio::join!(a.remove(&git_), b.remove(&git_), c.remove(&git_));
    ra.expect("remove a");
    rb.expect("remove b");
    rc.expect("remove c");
}

#[tokio::test]
async fn same_job_prepared_again_gets_a_fresh_branch() {
    let remote = Remote::new("main");
    let env = Env::new();
    let url = remote.url();
    let git_ = Git::new();
    let id = JobId::new();
    let first = env
        .cache
        .prepare(&url, None, id, &env.wt("1"))
        .await
        .expect("1");
    let second = env
        .cache
        .prepare(&url, None, id, &env.wt("2"))
        .await
        .expect("2");
    assert_eq!(first.branch, format!("agenticore/{}", id.short()));
    assert_eq!(second.branch, format!("agenticore/{id}"));
    second.remove(&git_).await.expect("remove");
    // A third attempt of the same job resets its own (full-id) branch.
    let third = env
        .cache
        .prepare(&url, None, id, &env.wt("3"))
        .await
        .expect("3");
    assert_eq!(third.branch, format!("agenticore/{id}"));
    assert_eq!(third.base_commit, remote.head_of("main"));
}

#[tokio::test]
async fn two_spellings_share_one_cache_and_local_path_works() {
    let remote = Remote::new("main");
    let env = Env::new();
    let as_file = remote.url();
    let as_path = validate_repo_url(&format!("{}/", remote.bare.display())).expect("path url");
    assert_eq!(as_file.cache_name(), as_path.cache_name());

    let a = env
        .cache
        .prepare(&as_path, None, JobId::new(), &env.wt("a"))
        .await
        .expect("local path");
    assert_eq!(a.base_commit, remote.head_of("main"));
    let b = env
        .cache
        .prepare(&as_file, None, JobId::new(), &env.wt("b"))
        .await
        .expect("file url");
    assert_eq!(a.repo_dir, b.repo_dir);
    assert_eq!(env.cache_dirs().len(), 1);
}

#[tokio::test]
async fn failed_clone_is_clear_and_leaves_no_cache_dir() {
    let env = Env::new();
    let url = validate_repo_url("file:///nonexistent-agenticore/nope.git").expect("valid");
    let err = env
        .cache
        .prepare(&url, None, JobId::new(), &env.wt("x"))
        .await
        .expect_err("clone fails");
    assert!(matches!(err, RepoError::Clone { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with("cloning file:///nonexistent-agenticore/nope.git failed: git fetch failed (exit 128): fatal:"),
        "{msg}"
    );
    assert!(env.cache_dirs().is_empty(), "{:?}", env.cache_dirs());
    assert!(!env.wt("x").exists());
}

#[tokio::test]
async fn broken_cache_is_recloned() {
    let remote = Remote::new("main");
    let env = Env::new();
    let url = remote.url();
    let git_ = Git::new();
    let wt = env
        .cache
        .prepare(&url, None, JobId::new(), &env.wt("a"))
        .await
        .expect("a");
    wt.remove(&git_).await.expect("remove");
    // Damage the cache: no HEAD, so it is no longer a repository.
    std::fs::remove_file(wt.repo_dir.join("HEAD")).expect("rm HEAD");
    // And leave a half-made clone behind, as a crash would.
    let stale = env
        .cache
        .root()
        .join(format!(".{}.tmp-dead", url.cache_name()));
    std::fs::create_dir_all(stale.join("objects")).expect("mkdir");

    let wt = env
        .cache
        .prepare(&url, None, JobId::new(), &env.wt("b"))
        .await
        .expect("b");
    assert_eq!(wt.base_commit, remote.head_of("main"));
    assert!(!stale.exists());
    assert_eq!(env.cache_dirs(), vec![url.cache_name()]);
}
