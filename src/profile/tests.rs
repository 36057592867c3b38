//! Tests for profile loading, extends, templates, argv and the summary JSON.

use std::path::{Path, PathBuf};

use super::*;

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(&path, text).expect("write");
    path
}

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn err_of(p: &Profiles, name: &str) -> String {
    match p.get(name) {
        Ok(profile) => panic!("{name} loaded: {profile:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bundled_profiles_match_the_seed() {
    let p = Profiles::bundled();
    assert_eq!(
        p.broken().count(),
        0,
        "{:?}",
        p.broken().collect::<Vec<_>>()
    );
    let names: Vec<&str> = p.valid().map(Profile::name).collect();
    assert_eq!(names, ["code", "review"]);

    let code = p.get("code").expect("code");
    assert_eq!(code.description(), "Autonomous coding worker");
    assert_eq!(
        code.claude(),
        &ClaudeOptions {
            model: Some("sonnet".into()),
            max_turns: Some(80),
            permission_mode: Some("bypassPermissions".into()),
            no_session_persistence: true,
            output_format: OutputFormat::Json,
            worktree: true,
            effort: Some(Effort::High),
            timeout_seconds: Some(3600),
            max_budget_usd: None,
            fallback_model: None,
        }
    );
    assert!(code.auto_pr());
    assert!(code.commit_leftovers());
    assert!(!code.draft_pr());
    assert_eq!(code.timeout_seconds(), Some(3600));
    assert_eq!(code.source(), &ProfileSource::Bundled);
    assert!(!code.allow_permission_denials());
    assert!(code.env().is_empty());

    let review = p.get("review").expect("review");
    assert_eq!(review.description(), "Code review analyst");
    assert_eq!(review.claude().model.as_deref(), Some("haiku"));
    assert_eq!(review.claude().max_turns, Some(20));
    assert_eq!(review.claude().effort, None);
    assert_eq!(review.timeout_seconds(), Some(1800));
    assert_eq!(review.output_format(), OutputFormat::Json);
    assert!(!review.auto_pr());
    assert!(!review.commit_leftovers());
    assert!(!review.draft_pr());
}

#[test]
fn auto_pr_switches_are_inherited_and_overridden() {
    let d = dir();
    write(d.path(), "drafty.yml", "extends: code\ndraft_pr: true\n");
    write(
        d.path(),
        "tidy.yml",
        "extends: drafty\ncommit_leftovers: false\n",
    );
    write(d.path(), "bare.yml", "description: no switches\n");
    write(d.path(), "typo.yml", "draft_pr: maybe\n");
    let p = Profiles::load(d.path());
    let drafty = p.get("drafty").expect("drafty");
    assert!(drafty.auto_pr() && drafty.commit_leftovers() && drafty.draft_pr());
    let tidy = p.get("tidy").expect("tidy");
    assert!(tidy.auto_pr() && !tidy.commit_leftovers() && tidy.draft_pr());
    let bare = p.get("bare").expect("bare");
    assert!(!bare.auto_pr() && !bare.commit_leftovers() && !bare.draft_pr());
    let err = p.get("typo").expect_err("typo").to_string();
    assert!(err.contains("typo.yml:1"), "{err}");
}

#[test]
fn claude_args_golden_for_bundled() {
    let p = Profiles::bundled();
    let code = p.get("code").expect("code");
    assert_eq!(
        code.claude_args(None),
        args(&[
            "--model",
            "sonnet",
            "--max-turns",
            "80",
            "--permission-mode",
            "bypassPermissions",
            "--no-session-persistence",
            "--effort",
            "high",
        ])
    );
    let review = p.get("review").expect("review");
    assert_eq!(
        review.claude_args(Some("sess-1")),
        args(&[
            "--model",
            "haiku",
            "--max-turns",
            "20",
            "--permission-mode",
            "bypassPermissions",
            "--no-session-persistence",
            "--resume",
            "sess-1",
        ])
    );
}

const FULL: &str = r#"name: full
description: "Every field"
claude:
  model: opus
  max_turns: 7
  permission_mode: acceptEdits
  no_session_persistence: true
  output_format: stream-json
  worktree: false
  effort: xhigh
  timeout: 120
  max_budget_usd: 2.5
  fallback_model: sonnet
append_prompt: |
  Repo {{REPO_URL}} at {{BASE_REF}}; job {{JOB_ID}} ({{PROFILE}}).
  Task again: {{ TASK }}
auto_pr: true
settings:
  permissions:
    allow: ["Bash(git *)", "Read"]
    deny: ["WebFetch"]
env:
  FOO: bar
  N: 1
allow_permission_denials: true
"#;

#[test]
fn profile_with_every_field() {
    let d = dir();
    let path = write(d.path(), "full.yml", FULL);
    let p = Profiles::load(d.path());
    let full = p.get("full").expect("full");
    assert_eq!(full.source(), &ProfileSource::File(path));
    assert_eq!(full.output_format(), OutputFormat::StreamJson);
    assert!(full.allow_permission_denials());
    assert_eq!(
        full.env()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
        [("FOO", "bar"), ("N", "1")]
    );
    assert_eq!(
        full.claude_args(Some("abc")),
        args(&[
            "--model",
            "opus",
            "--max-turns",
            "7",
            "--permission-mode",
            "acceptEdits",
            "--no-session-persistence",
            "--effort",
            "xhigh",
            "--max-budget-usd",
            "2.5",
            "--fallback-model",
            "sonnet",
            "--settings",
            r#"{"permissions":{"allow":["Bash(git *)","Read"],"deny":["WebFetch"]}}"#,
            "--resume",
            "abc",
        ])
    );
    let forbidden = [
        "-p",
        "--output-format",
        "--verbose",
        "--worktree",
        "stream-json",
    ];
    assert!(
        full.claude_args(None)
            .iter()
            .all(|a| !forbidden.contains(&a.as_str()))
    );
    assert_eq!(
        full.render_prompt(&TemplateVars {
            task: "do {{JOB_ID}}",
            repo_url: "https://github.com/o/r",
            base_ref: "main",
            job_id: "j-1",
            profile: "full",
        }),
        "do {{JOB_ID}}\n\nRepo https://github.com/o/r at main; job j-1 (full).\nTask again: do {{JOB_ID}}\n"
    );
}

#[test]
fn render_prompt_without_append_is_the_task() {
    let p = Profiles::bundled();
    let code = p.get("code").expect("code");
    let vars = TemplateVars {
        task: "fix it",
        repo_url: "u",
        base_ref: "main",
        job_id: "j",
        profile: "code",
    };
    assert_eq!(code.render_prompt(&vars), "fix it");
}

#[test]
fn summary_json_key_order() {
    let p = Profiles::bundled();
    let code = p.get("code").expect("code").summary_json();
    assert_eq!(
        code.to_string(),
        r#"{"name":"code","description":"Autonomous coding worker","model":"sonnet","max_turns":80,"worktree":true,"auto_pr":true,"permission_mode":"bypassPermissions","effort":"high"}"#
    );
    let review = p.get("review").expect("review").summary_json();
    assert_eq!(
        review.to_string(),
        r#"{"name":"review","description":"Code review analyst","model":"haiku","max_turns":20,"worktree":true,"auto_pr":false,"permission_mode":"bypassPermissions"}"#
    );
    let d = dir();
    write(
        d.path(),
        "mine.yml",
        "extends: review\nclaude:\n  effort: low\n",
    );
    let p = Profiles::load(d.path());
    let mine = p.get("mine").expect("mine").summary_json();
    assert_eq!(
        mine.to_string(),
        r#"{"name":"mine","description":"Code review analyst","model":"haiku","max_turns":20,"worktree":true,"auto_pr":false,"permission_mode":"bypassPermissions","extends":"review","effort":"low"}"#
    );
}

#[test]
fn user_profile_overrides_bundled_in_both_layouts() {
    let d = dir();
    let file = write(d.path(), "code.yml", "claude:\n  model: opus\n");
    let dir_file = write(
        d.path(),
        "review/profile.yml",
        "name: review\ndescription: mine\n",
    );
    let p = Profiles::load(d.path());
    let code = p.get("code").expect("code");
    assert_eq!(code.source(), &ProfileSource::File(file));
    assert_eq!(code.claude().model.as_deref(), Some("opus"));
    // No extends: nothing is inherited from the bundled profile.
    assert_eq!(code.claude().max_turns, None);
    assert!(!code.auto_pr());
    let review = p.get("review").expect("review");
    assert_eq!(review.source(), &ProfileSource::File(dir_file));
    assert_eq!(review.description(), "mine");
}

#[test]
fn extends_merges_claude_settings_and_env() {
    let d = dir();
    write(
        d.path(),
        "base.yml",
        "description: base\nclaude:\n  model: opus\n  max_turns: 5\n  timeout: 100\n\
         settings:\n  permissions:\n    allow: [Read]\n    deny: [WebFetch]\n\
         env:\n  A: '1'\n  B: '2'\nappend_prompt: 'base {{TASK}}'\n",
    );
    write(
        d.path(),
        "child/profile.yml",
        "extends: base\nclaude:\n  max_turns: 9\nsettings:\n  permissions:\n    allow: [Edit]\n\
         env:\n  B: three\n  C: '4'\nauto_pr: true\n",
    );
    let p = Profiles::load(d.path());
    let child = p.get("child").expect("child");
    assert_eq!(child.extends(), Some("base"));
    assert_eq!(child.description(), "base");
    assert_eq!(child.claude().model.as_deref(), Some("opus"));
    assert_eq!(child.claude().max_turns, Some(9));
    assert_eq!(child.timeout_seconds(), Some(100));
    assert_eq!(child.permissions().allow, ["Edit"]);
    assert_eq!(child.permissions().deny, ["WebFetch"]);
    let env: Vec<(&str, &str)> = child
        .env()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(env, [("A", "1"), ("B", "three"), ("C", "4")]);
    assert_eq!(child.append_prompt(), Some("base {{TASK}}"));
    assert!(child.auto_pr());
}

#[test]
fn user_profile_extending_its_own_name_extends_the_bundled_one() {
    let d = dir();
    write(
        d.path(),
        "code.yml",
        "extends: code\nclaude:\n  model: opus\n",
    );
    let p = Profiles::load(d.path());
    let code = p.get("code").expect("code");
    assert_eq!(code.claude().model.as_deref(), Some("opus"));
    assert_eq!(code.claude().max_turns, Some(80));
    assert!(code.auto_pr());
    assert_eq!(code.description(), "Autonomous coding worker");
}

#[test]
fn extends_cycle_is_reported_with_the_chain() {
    let d = dir();
    write(d.path(), "a.yml", "extends: b\n");
    write(d.path(), "b.yml", "extends: c\n");
    write(d.path(), "c.yml", "extends: a\n");
    write(d.path(), "ok.yml", "extends: code\n");
    let p = Profiles::load(d.path());
    assert_eq!(
        err_of(&p, "a"),
        "profile \"a\" has an `extends` cycle: a -> b -> c -> a"
    );
    assert!(matches!(p.get("b"), Err(ProfileError::Cycle { .. })));
    // Others still work.
    assert!(p.get("ok").is_ok());
    assert!(p.get("code").is_ok());
    let broken: Vec<&str> = p.broken().map(|(n, _)| n).collect();
    assert_eq!(broken, ["a", "b", "c"]);
}

#[test]
fn extends_missing_or_broken_parent() {
    let d = dir();
    write(d.path(), "orphan.yml", "extends: nowhere\n");
    write(d.path(), "bad.yml", "claude:\n  max_turns: lots\n");
    write(d.path(), "child.yml", "extends: bad\n");
    let p = Profiles::load(d.path());
    assert_eq!(
        err_of(&p, "orphan"),
        "profile \"orphan\" extends \"nowhere\", which does not exist"
    );
    let msg = err_of(&p, "child");
    assert!(
        msg.starts_with("profile \"child\" extends \"bad\", which is broken: "),
        "{msg}"
    );
    assert!(msg.contains("bad.yml:2"), "{msg}");
}

#[test]
fn unknown_key_has_file_and_line() {
    let d = dir();
    let path = write(
        d.path(),
        "typo.yml",
        "description: x\nclaude:\n  model: opus\n  modle: haiku\n",
    );
    let p = Profiles::load(d.path());
    let msg = err_of(&p, "typo");
    assert!(msg.starts_with(&format!("{}:4: ", path.display())), "{msg}");
    assert!(msg.contains("unknown field `modle`"), "{msg}");

    write(d.path(), "top.yml", "description: x\n\nauto_merge: true\n");
    let p = Profiles::load(d.path());
    let msg = err_of(&p, "top");
    assert!(msg.contains("top.yml:3: "), "{msg}");
    assert!(msg.contains("auto_merge"), "{msg}");
}

#[test]
fn wrong_type_has_file_and_line() {
    let d = dir();
    for (file, text, line, needle) in [
        ("a.yml", "claude:\n  max_turns: many\n", 2, "max_turns"),
        (
            "b.yml",
            "auto_pr: true\nclaude:\n  effort: extreme\n",
            3,
            "extreme",
        ),
        ("c.yml", "\nclaude:\n  output_format: xml\n", 3, "xml"),
        (
            "d.yml",
            "settings:\n  permissions:\n    allow: Read\n",
            3,
            "allow",
        ),
        ("e.yml", "env:\n  A: [1]\n", 2, "env"),
        (
            "f.yml",
            "- just\n- a list\n",
            1,
            "expected a mapping of profile fields",
        ),
        ("g.yml", "claude:\n  max_turns: 0\n", 2, "at least 1"),
        ("h.yml", "env:\n  ok: x\n  1BAD: y\n", 3, "1BAD"),
        ("i.yml", "name: other\n", 1, "does not match"),
        (
            "j.yml",
            "claude:\n  permission_mode: bypassPermission\n",
            2,
            "bypassPermission",
        ),
        (
            "k.yml",
            "claude:\n  model: '--dangerously-skip-permissions'\n",
            2,
            "model",
        ),
        ("l.yml", "env:\n  AGENTICORE_JOB_ID: x\n", 2, "reserved"),
        ("m.yml", "description: [\n", 1, ""),
    ] {
        write(d.path(), file, text);
        let p = Profiles::load(d.path());
        let name = file.trim_end_matches(".yml");
        let msg = err_of(&p, name);
        assert!(msg.contains(&format!("{file}:{line}: ")), "{file}: {msg}");
        assert!(msg.contains(needle), "{file}: {msg}");
    }
}

#[test]
fn unknown_template_variable_is_a_load_error() {
    let d = dir();
    write(
        d.path(),
        "t.yml",
        "description: x\nappend_prompt: |\n  Use {{BRANCH}} please\n",
    );
    let p = Profiles::load(d.path());
    let msg = err_of(&p, "t");
    assert!(msg.contains("t.yml:2: "), "{msg}");
    assert!(
        msg.contains("unknown template variable {{BRANCH}}"),
        "{msg}"
    );
}

#[test]
fn not_found_lists_available() {
    let p = Profiles::bundled();
    assert_eq!(
        err_of(&p, "nope"),
        "profile \"nope\" not found (available: code, review)"
    );
}

#[test]
fn both_layouts_for_one_name_is_an_error() {
    let d = dir();
    write(d.path(), "x.yml", "description: one\n");
    write(d.path(), "x/profile.yml", "description: two\n");
    let p = Profiles::load(d.path());
    assert!(matches!(p.get("x"), Err(ProfileError::Duplicate { .. })));
}

#[test]
fn missing_dir_and_stray_files_are_fine() {
    let d = dir();
    write(d.path(), "README.md", "# notes\n");
    write(d.path(), ".hidden.yml", "garbage: [\n");
    write(d.path(), "empty-dir/notes.txt", "x\n");
    let p = Profiles::load(d.path());
    assert_eq!(p.broken().count(), 0);
    assert_eq!(p.valid().count(), 2);
    let p = Profiles::load(&d.path().join("does-not-exist"));
    assert_eq!(p.valid().count(), 2);
    assert!(p.dir_error().is_none());
}

#[test]
fn debug_hides_env_values() {
    let d = dir();
    write(d.path(), "s.yml", "env:\n  API_TOKEN: supersecret\n");
    let p = Profiles::load(d.path());
    let dbg = format!("{:?}", p.get("s").expect("s"));
    assert!(dbg.contains("API_TOKEN"), "{dbg}");
    assert!(!dbg.contains("supersecret"), "{dbg}");
}

#[test]
fn never_panics_on_odd_input() {
    let d = dir();
    for (i, text) in [
        "",
        "~\n",
        "42\n",
        "claude:\n",
        "claude: ~\nsettings: ~\nenv: ~\n",
        "settings:\n  permissions: ~\n",
        "append_prompt: '{{'\n",
        "append_prompt: '{{}}{{ }}{{TASK'\n",
        "claude:\n  max_budget_usd: .nan\n",
        "claude:\n  max_turns: 99999999999\n",
        "\u{feff}description: bom\n",
        "a: &x [*x]\n",
    ]
    .iter()
    .enumerate()
    {
        write(d.path(), &format!("p{i}.yml"), text);
    }
    let p = Profiles::load(d.path());
    for (name, e) in p.broken() {
        assert!(!e.to_string().is_empty(), "{name}");
    }
}
