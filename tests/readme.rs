//! The README documents what the binary does: every environment variable agenticore reads is
//! in its table (and nothing else is), and every command has its place in it.

use std::path::Path;

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md")
}

#[test]
fn the_configuration_table_lists_every_environment_variable() {
    let text = readme();
    let table_start = text
        .find("| variable | config.yml key | default | meaning |")
        .expect("README has the environment table");
    let rows: Vec<&str> = text[table_start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .collect();
    let listed: Vec<&str> = rows.iter().filter_map(|r| r.split('`').nth(1)).collect();
    let known: Vec<&str> = agenticore::environment::VARIABLES
        .iter()
        .map(|v| v.name)
        .collect();
    for name in &known {
        assert!(listed.contains(name), "README's table lacks {name}");
    }
    for name in &listed {
        assert!(
            known.contains(name),
            "README's table lists {name}, which agenticore does not read"
        );
    }
}

#[test]
fn every_command_is_mentioned() {
    let text = readme();
    for cmd in [
        "submit",
        "jobs",
        "job",
        "logs",
        "cancel",
        "profiles",
        "config",
        "status",
        "stats",
        "version",
        "serve",
        "completions",
        "man",
    ] {
        assert!(
            text.contains(&format!("agenticore {cmd}")),
            "README never shows `agenticore {cmd}`"
        );
    }
    assert!(text.contains("./install.sh"));
    assert!(text.contains("bash tests/run-all.sh"));
}
