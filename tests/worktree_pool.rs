//! Reused worktrees (`engine/worktree_pool.rs`), through real jobs: a job's worktree goes back
//! to its repository's pool when it ends, and the next job on that repository gets it back
//! switched to its own branch at its base commit, with nothing of the last job in it (tracked,
//! staged, untracked or ignored files); a kept worktree stays out of the pool; a broken pooled
//! one is dropped and a fresh one made.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// A bare remote whose one commit has README.md and a .gitignore (`*.log`, `build/`).
fn remote_with_ignores(dir: &Path) -> String {
    bare_remote_with(
        dir,
        &[("README.md", "hello\n"), (".gitignore", "*.log\nbuild/\n")],
    )
}

/// The idle worktrees of the one cached repository.
fn pooled(sb: &Sandbox) -> Vec<PathBuf> {
    let pool = sb.path().join("repos/worktrees/.pool");
    let Ok(caches) = std::fs::read_dir(&pool) else {
        return Vec::new();
    };
    caches
        .flatten()
        .flat_map(|c| std::fs::read_dir(c.path()).into_iter().flatten().flatten())
        .map(|e| e.path())
        .collect()
}

fn cache(sb: &Sandbox) -> PathBuf {
    std::fs::read_dir(sb.path().join("repos"))
        .expect("repos")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir() && p.file_name().is_some_and(|n| n != "worktrees"))
        .expect("a clone cache")
}

fn run_job(sb: &Sandbox, task: &str, url: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["submit", task, "--repo", url, "--wait", "--json"];
    args.extend_from_slice(extra);
    let (_, v) = sb.json(&args);
    v["job"].clone()
}

#[test]
fn the_next_job_gets_the_pooled_worktree_with_nothing_of_the_last_one() {
    let sb = Sandbox::new();
    let url = remote_with_ignores(sb.path());
    let base = git(sb.path(), &["--git-dir=remote.git", "rev-parse", "main"]);

    let first = run_job(&sb, "mess [fake:commit=1;mess=1]", &url, &[]);
    assert_eq!(first["status"], "succeeded", "{first}");
    let first_path = first["worktree_path"].as_str().expect("path").to_string();
    assert!(!Path::new(&first_path).exists(), "the job's path is gone");
    let idle = pooled(&sb);
    assert_eq!(idle.len(), 1, "{idle:?}");
    // Its branch stays, with its commit (and the commit agenticore made of what it left).
    let first_branch = first["branch"].as_str().expect("branch");
    let log = git(&cache(&sb), &["log", "--format=%s", first_branch]);
    assert!(log.lines().any(|l| l == "fake commit"), "{log}");

    let snap = sb.path().join("snapshot.json");
    let task = format!("look [fake:snapshot={}]", snap.display());
    let second = run_job(&sb, &task, &url, &[]);
    assert_eq!(second["status"], "succeeded", "{second}");
    let seen: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&snap).expect("snapshot")).expect("json");
    assert_eq!(
        seen["files"],
        serde_json::json!([".gitignore", "README.md"]),
        "exactly the base commit's files: {seen}"
    );
    assert_eq!(
        seen["status"], "",
        "nothing modified, staged, untracked or ignored: {seen}"
    );
    assert_eq!(seen["head"], base, "at the base commit");
    assert_eq!(seen["branch"], second["branch"], "on its own branch");
    assert_ne!(second["branch"], first["branch"]);
    // The same checkout went round: still one idle worktree, and git knows of one.
    assert_eq!(pooled(&sb).len(), 1);
    let list = git(&cache(&sb), &["worktree", "list", "--porcelain"]);
    assert_eq!(
        list.matches("worktree ").count(),
        2,
        "the bare clone and one: {list}"
    );
}

#[test]
fn a_kept_worktree_stays_out_of_the_pool() {
    let sb = Sandbox::new();
    let url = remote_with_ignores(sb.path());
    let failed = run_job(&sb, "fail [fake:exit=1]", &url, &["--keep-worktree"]);
    assert_eq!(failed["status"], "failed", "{failed}");
    let path = failed["worktree_path"].as_str().expect("path");
    assert!(
        Path::new(path).join("README.md").exists(),
        "kept for inspection"
    );
    assert!(pooled(&sb).is_empty());
    // A job that fails without --keep-worktree gives its worktree back.
    let again = run_job(&sb, "fail [fake:exit=1]", &url, &[]);
    assert_eq!(again["status"], "failed");
    assert_eq!(pooled(&sb).len(), 1);
}

#[test]
fn a_broken_pooled_worktree_is_dropped_and_a_fresh_one_made() {
    let sb = Sandbox::new();
    let url = remote_with_ignores(sb.path());
    assert_eq!(run_job(&sb, "one", &url, &[])["status"], "succeeded");
    let idle = pooled(&sb);
    assert_eq!(idle.len(), 1);
    // Someone deletes its .git file: git no longer knows it as a worktree.
    std::fs::remove_file(idle[0].join(".git")).expect("break it");
    std::fs::write(idle[0].join("stray.txt"), "x").expect("write");
    let snap = sb.path().join("snapshot.json");
    let job = run_job(
        &sb,
        &format!("two [fake:snapshot={}]", snap.display()),
        &url,
        &[],
    );
    assert_eq!(job["status"], "succeeded", "{job}");
    let seen: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&snap).expect("snapshot")).expect("json");
    assert_eq!(
        seen["files"],
        serde_json::json!([".gitignore", "README.md"]),
        "{seen}"
    );
    assert_eq!(seen["status"], "");
    let now = pooled(&sb);
    assert_eq!(now.len(), 1, "{now:?}");
    assert!(!idle[0].exists(), "the broken one is gone");
}
