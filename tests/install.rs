//! `install.sh` as a user runs it: into a fresh prefix, then again (an upgrade), then
//! `--uninstall`; the installed binary, man pages and bash completion work from that prefix; a
//! machine without git or cargo gets a message that says what to install.
//!
//! The build step itself (`cargo build --release`) is not repeated here: `--bin` installs the
//! binary this test run built. CI times the full `./install.sh` separately.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

fn install_sh() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("install.sh")
}

fn install(prefix: &Path, extra: &[&str], path: &str) -> Output {
    Command::new("sh")
        .arg(install_sh())
        .arg("--prefix")
        .arg(prefix)
        .args(extra)
        .env("PATH", path)
        .output()
        .expect("run install.sh")
}

/// Every file under `dir`, relative to it, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn install_upgrade_and_uninstall_under_a_prefix() {
    let sb = Sandbox::new();
    let prefix = sb.path().join("prefix");
    let path = std::env::var("PATH").unwrap_or_default();

    let out = install(&prefix, &["--bin", BIN], &path);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(
        said.contains(&format!(
            "installed agenticore {}",
            env!("CARGO_PKG_VERSION")
        )),
        "{said}"
    );
    assert!(said.contains("is not on your PATH"), "{said}");
    assert!(
        said.contains("fpath=("),
        "how to enable zsh completion: {said}"
    );
    let files = tree(&prefix);
    for f in [
        "bin/agenticore",
        "share/man/man1/agenticore.1",
        "share/man/man1/agenticore-submit.1",
        "share/bash-completion/completions/agenticore",
        "share/zsh/site-functions/_agenticore",
        "share/fish/vendor_completions.d/agenticore.fish",
        "share/agenticore/completions/agenticore.elv",
        "share/agenticore/completions/_agenticore.ps1",
    ] {
        assert!(files.iter().any(|x| x == f), "{f} not installed: {files:?}");
    }
    // The installed files are the committed ones.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert_eq!(
        std::fs::read(prefix.join("share/bash-completion/completions/agenticore")).unwrap(),
        std::fs::read(repo.join("completions/agenticore.bash")).unwrap()
    );

    // The installed binary runs, and its man page is found from PATH alone (man-db maps
    // PREFIX/bin to PREFIX/share/man).
    let installed_path = path_with(&prefix.join("bin"));
    let help = Command::new("agenticore")
        .arg("--help")
        .env("PATH", &installed_path)
        .output()
        .expect("agenticore --help");
    assert!(stdout(&help).contains("Exit codes:"), "{}", stdout(&help));
    if Command::new("man").arg("--version").output().is_ok() {
        let man = Command::new("man")
            .args(["-w", "agenticore"])
            .env("PATH", &installed_path)
            .env_remove("MANPATH")
            .output()
            .expect("man -w");
        assert_eq!(
            stdout(&man).trim(),
            prefix
                .join("share/man/man1/agenticore.1")
                .display()
                .to_string(),
            "{}",
            stderr(&man)
        );
    }
    // Tab completion through the installed bash script and the installed binary.
    let script = format!(
        "source '{}'\nCOMP_WORDS=(agenticore submit x --profile re)\nCOMP_CWORD=4\n\
         _clap_complete_agenticore agenticore re --profile\necho \"${{COMPREPLY[@]}}\"",
        prefix
            .join("share/bash-completion/completions/agenticore")
            .display()
    );
    let done = sb
        .command("bash")
        .arg("--norc")
        .arg("-c")
        .arg(script)
        .env("PATH", &installed_path)
        .output()
        .expect("bash");
    assert_eq!(stdout(&done).trim(), "review", "{}", stderr(&done));

    // Again: an upgrade in place, same files, nothing left over.
    let out = install(&prefix, &["--bin", BIN], &installed_path);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stdout(&out).contains("is not on your PATH"));
    assert_eq!(tree(&prefix), files);

    // A page an older version installed and this one no longer has goes away on upgrade.
    let stale = prefix.join("share/man/man1/agenticore-old.1");
    std::fs::write(&stale, "old").unwrap();
    let manifest = prefix.join("share/agenticore/install-manifest");
    let mut m = std::fs::read_to_string(&manifest).unwrap();
    m.push_str(&format!("{}\n", stale.display()));
    std::fs::write(&manifest, m).unwrap();
    let out = install(&prefix, &["--bin", BIN], &path);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stale.exists());

    // A file the user put there is not agenticore's and stays.
    let mine = prefix.join("bin/mine");
    std::fs::write(&mine, "#!/bin/sh\n").unwrap();
    let out = install(&prefix, &["--uninstall"], &path);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Everything listed in the manifest, which is itself removed.
    let removed = format!("removed {} files", files.len() - 1);
    assert!(stdout(&out).contains(&removed), "{}", stdout(&out));
    assert_eq!(tree(&prefix), ["bin/mine"]);
    let again = install(&prefix, &["--uninstall"], &path);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("nothing to uninstall"));
}

#[test]
fn missing_tools_are_named_with_a_hint() {
    let sb = Sandbox::new();
    let prefix = sb.path().join("prefix");
    // A PATH with the basic tools but neither git nor cargo.
    let tools = sb.path().join("tools");
    std::fs::create_dir_all(&tools).unwrap();
    for t in ["sh", "dirname", "sed", "mkdir", "cat"] {
        let found = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(t))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("no {t}"));
        std::os::unix::fs::symlink(found, tools.join(t)).unwrap();
    }
    let path = tools.display().to_string();
    let out = install(&prefix, &[], &path);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("git is not installed"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("apt-get install git"));

    let git = Command::new("sh")
        .args(["-c", "command -v git"])
        .output()
        .unwrap();
    std::os::unix::fs::symlink(stdout(&git).trim(), tools.join("git")).unwrap();
    let out = install(&prefix, &[], &path);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cargo is not installed"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("rustup.rs"));
    assert!(
        !prefix.exists(),
        "nothing is installed when a tool is missing"
    );

    let out = install(&prefix, &["--frobnicate"], &path);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unknown option: --frobnicate"));
}
