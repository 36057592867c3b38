//! Shell completions and man pages: the committed files under `completions/` and `man/` are
//! what the binary generates now, a real bash completes profiles and job ids through the
//! committed script, and `man` pages render.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::daemon::Daemon;
use common::*;

const REGENERATE: &str = "regenerate them with: \
     cargo run -q -- completions --out completions && cargo run -q -- man --out man";

fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Every file of `dir` by name, with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| {
            let e = e.expect("dir entry");
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).expect("read"))
        })
        .collect()
}

/// The committed directory `rel` equals what `agenticore <args> --out DIR` writes.
fn assert_fresh(rel: &str, args: &[&str]) {
    let sb = Sandbox::new();
    let out_dir = sb.path().join("generated");
    let out = sb
        .cmd()
        .args(args)
        .arg("--out")
        .arg(&out_dir)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let generated = files(&out_dir);
    let committed = files(&repo_path(rel));
    for (name, bytes) in &generated {
        match committed.get(name) {
            None => panic!("{rel}/{name} is missing; {REGENERATE}"),
            Some(c) if c != bytes => panic!("{rel}/{name} is stale; {REGENERATE}"),
            Some(_) => {}
        }
    }
    for name in committed.keys() {
        assert!(
            generated.contains_key(name),
            "{rel}/{name} is no longer generated: delete it ({REGENERATE})"
        );
    }
    // The command also lists what it wrote, one path per line.
    assert_eq!(stdout(&out).lines().count(), generated.len());
}

#[test]
fn committed_completions_are_fresh() {
    assert_fresh("completions", &["completions"]);
    let names: Vec<String> = files(&repo_path("completions")).into_keys().collect();
    assert_eq!(
        names,
        [
            "_agenticore",
            "_agenticore.ps1",
            "agenticore.bash",
            "agenticore.elv",
            "agenticore.fish"
        ]
    );
}

#[test]
fn committed_man_pages_are_fresh() {
    assert_fresh("man", &["man"]);
    let pages = files(&repo_path("man"));
    for cmd in [
        "submit",
        "jobs",
        "job",
        "logs",
        "cancel",
        "serve",
        "stats",
        "completions",
    ] {
        assert!(
            pages.contains_key(&format!("agenticore-{cmd}.1")),
            "no page for {cmd}"
        );
    }
    assert!(
        !pages.keys().any(|p| p.contains("worker")),
        "hidden commands get no page"
    );
}

#[test]
fn the_man_page_documents_exit_codes_and_every_environment_variable() {
    let sb = Sandbox::new();
    let out = sb.run(&["man"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let page = stdout(&out);
    assert!(page.starts_with(".ie"), "{}", &page[..page.len().min(200)]);
    for section in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH \"EXIT STATUS\"",
        ".SH \"ENVIRONMENT\"",
        ".SH \"FILES\"",
    ] {
        assert!(page.contains(section), "no {section}");
    }
    assert!(page.contains("job cancelled"));
    for v in agenticore::environment::VARIABLES {
        assert!(
            page.contains(&v.name.replace('-', "\\-")),
            "{} missing",
            v.name
        );
    }
    let out = sb.run(&["man", "submit"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("agenticore\\-submit"));
    let out = sb.run(&["man", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no manual page for \"nope\""));
    // man(1) itself renders it, when the machine has it.
    if Command::new("man").arg("--version").output().is_ok() {
        let rendered = Command::new("sh")
            .arg("-c")
            .arg(format!("{} man | man -l - | cat", BIN))
            .env("MANWIDTH", "100")
            .output()
            .expect("man -l");
        let text = String::from_utf8_lossy(&rendered.stdout);
        assert!(text.contains("EXIT STATUS"), "{text}");
        assert!(text.contains("AGENTICORE_MAX_PARALLEL_JOBS"), "{text}");
    }
}

#[test]
fn completions_need_a_known_shell() {
    let sb = Sandbox::new();
    let out = sb.run(&["completions"]);
    assert_eq!(out.status.code(), Some(2));
    let out = sb.run(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("possible values"), "{}", stderr(&out));
    let out = sb.run(&["completions", "zsh"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).starts_with("#compdef agenticore"));
}

/// Press Tab in a real bash that sourced the committed script: `words` are the command line,
/// the last one being completed. Returns the candidates bash would offer.
fn bash_complete(sb: &Sandbox, words: &[&str]) -> Vec<String> {
    let bin_dir = Path::new(BIN).parent().expect("bin dir");
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let current = words[words.len() - 1];
    let previous = words[words.len().saturating_sub(2)];
    let script = format!(
        "source '{}'\n\
         COMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_TYPE=9\n\
         _clap_complete_agenticore agenticore '{current}' '{previous}'\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        repo_path("completions/agenticore.bash").display(),
        quoted.join(" "),
        words.len() - 1,
    );
    // The sandbox's environment, so the completer sees its store and profiles; the script
    // calls `agenticore` from PATH, as it would once installed.
    let out = sb
        .command("bash")
        .arg("--norc")
        .arg("-c")
        .arg(script)
        .env("PATH", path_with(bin_dir))
        .output()
        .expect("run bash");
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn bash_completes_commands_profiles_and_job_ids() {
    let sb = Sandbox::new();
    let profile_dir = sb.home().join("profiles/nightly");
    std::fs::create_dir_all(&profile_dir).expect("mkdir");
    std::fs::write(
        profile_dir.join("profile.yml"),
        "extends: code\ndescription: nightly chores\n",
    )
    .expect("profile");

    let subcommands = bash_complete(&sb, &["agenticore", "jo"]);
    assert_eq!(subcommands, ["jobs", "job"]);

    let profiles = bash_complete(&sb, &["agenticore", "submit", "x", "--profile", ""]);
    assert_eq!(profiles, ["code", "nightly", "review"]);
    let profiles = bash_complete(&sb, &["agenticore", "submit", "x", "-p", "n"]);
    assert_eq!(profiles, ["nightly"]);

    // No store yet: no ids, and completing did not create one.
    let none = bash_complete(&sb, &["agenticore", "logs", "0"]);
    assert!(none.is_empty(), "{none:?}");
    assert!(!sb.home().join("jobs.db").exists());

    let (code, v) = sb.json(&["submit", "done already [fake:sleep=0]", "--wait", "--json"]);
    assert_eq!(code, 0, "{v}");
    let done = v["job"]["id"].as_str().expect("id").to_string();
    let ids = bash_complete(&sb, &["agenticore", "job", &done[..8]]);
    assert_eq!(ids, std::slice::from_ref(&done));
    // `cancel` offers only jobs that can still be cancelled.
    let ids = bash_complete(&sb, &["agenticore", "cancel", &done[..8]]);
    assert!(ids.is_empty(), "{ids:?}");

    let statuses = bash_complete(&sb, &["agenticore", "jobs", "--status", "s"]);
    assert_eq!(statuses, ["succeeded"]);
}

#[test]
fn fish_and_zsh_protocols_carry_descriptions() {
    let sb = Sandbox::new();
    let (code, v) = sb.json(&[
        "submit",
        "describe me\nsecond line [fake:sleep=0]",
        "--wait",
        "--json",
    ]);
    assert_eq!(code, 0, "{v}");
    let id = v["job"]["id"].as_str().expect("id").to_string();
    let out = sb
        .cmd()
        .env("AGENTICORE_COMPLETE", "fish")
        .args(["--", "agenticore", "job", &id[..10]])
        .output()
        .expect("complete");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), format!("{id}\tsucceeded describe me"));
    let out = sb
        .cmd()
        .env("AGENTICORE_COMPLETE", "zsh")
        .env("_CLAP_COMPLETE_INDEX", "4")
        .args(["--", "agenticore", "submit", "t", "--profile", ""])
        .output()
        .expect("complete");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "code:Autonomous coding worker",
            "review:Code review analyst"
        ]
    );
}

#[test]
fn job_ids_come_from_the_configured_daemon() {
    let server_side = Sandbox::new();
    let daemon = Daemon::start(&server_side, &["--port", "0"]);
    let id = daemon.post("on the daemon [fake:sleep=0]");
    // A client with an empty store of its own, pointed at the daemon.
    let client = Sandbox::new().env("AGENTICORE_URL", &daemon.url);
    let out = client
        .cmd()
        .env("AGENTICORE_COMPLETE", "fish")
        .args(["--", "agenticore", "logs", &id[..13]])
        .output()
        .expect("complete");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.lines().any(|l| l.starts_with(&format!("{id}\t"))),
        "{text}"
    );
    assert!(!client.home().join("jobs.db").exists());
    // A daemon that does not answer: no job ids, and no error for the shell.
    let gone = Sandbox::new().env("AGENTICORE_URL", "http://127.0.0.1:1");
    let out = gone
        .cmd()
        .env("AGENTICORE_COMPLETE", "fish")
        .args(["--", "agenticore", "logs", ""])
        .output()
        .expect("complete");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.lines().any(|l| l.starts_with("--follow")), "{text}");
    assert!(
        !text.lines().any(|l| l.parse::<uuid::Uuid>().is_ok()
            || l.split('\t')
                .next()
                .is_some_and(|v| v.parse::<uuid::Uuid>().is_ok())),
        "{text}"
    );
}
