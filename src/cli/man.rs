//! `agenticore man`: manual pages rendered from the command-line grammar (clap_mangen), plus
//! the sections clap does not know: EXIT STATUS, ENVIRONMENT (from `environment::VARIABLES`),
//! FILES and SEE ALSO. The pages under `man/` in the repository are this command's output; a
//! test fails when they are stale.

use std::io::Write;
use std::path::Path;

use agenticore::environment::VARIABLES;
use clap::CommandFactory;
use clap_mangen::Man;

use super::args::{Cli, EXIT_CODES, ManArgs};
use super::{CliError, CliResult, exit};

const FILES: &[(&str, &str)] = &[
    (
        "~/.agenticore/config.yml",
        "Configuration; environment variables override it (see agenticore config).",
    ),
    (
        "~/.agenticore/jobs.db",
        "The job store (SQLite, shared by every agenticore process of the user).",
    ),
    (
        "~/.agenticore/logs/ID.jsonl",
        "Each job's event log: Claude Code's stream-json and agenticore's own events.",
    ),
    (
        "~/.agenticore/profiles/NAME/profile.yml",
        "User profiles; they override the bundled code and review profiles of the same name.",
    ),
    (
        "~/agenticore-repos",
        "Clone cache and job worktrees (AGENTICORE_REPOS_ROOT).",
    ),
];

pub fn run(a: ManArgs) -> CliResult {
    let cli = built_cli();
    if let Some(dir) = a.out {
        std::fs::create_dir_all(&dir).map_err(|e| write_error(&dir, e))?;
        for (name, cmd, top) in pages(&cli) {
            let path = dir.join(name);
            let page = render(cmd, top).map_err(|e| CliError::usage(e.to_string()))?;
            std::fs::write(&path, page).map_err(|e| write_error(&path, e))?;
            println!("{}", path.display());
        }
        return Ok(exit::OK);
    }
    let wanted = match &a.command {
        None => "agenticore.1".to_string(),
        Some(c) => format!("agenticore-{c}.1"),
    };
    let Some((_, cmd, top)) = pages(&cli).find(|(name, _, _)| *name == wanted) else {
        return Err(CliError::usage(format!(
            "no manual page for {:?}; try `agenticore man` or `agenticore --help`",
            a.command.unwrap_or_default()
        )));
    };
    let page = render(cmd, top).map_err(|e| CliError::usage(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&page).and_then(|()| out.flush());
    Ok(exit::OK)
}

/// The command tree as the pages describe it (built, so subcommands know their full names).
fn built_cli() -> clap::Command {
    let mut cli = Cli::command().disable_help_subcommand(true);
    cli.build();
    cli
}

/// Every page as (file name, command, is the top page): agenticore.1, then
/// agenticore-<command>.1 for each visible command. Rendering is left to the caller, so one
/// page costs one rendering.
fn pages(cli: &clap::Command) -> impl Iterator<Item = (String, &clap::Command, bool)> {
    std::iter::once(("agenticore.1".to_string(), cli, true)).chain(
        cli.get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|sub| (Man::new(sub.clone()).get_filename(), sub, false)),
    )
}

fn render(cmd: &clap::Command, top: bool) -> std::io::Result<Vec<u8>> {
    let man = Man::new(cmd.clone())
        .manual("agenticore manual")
        .source(format!("agenticore {}", env!("CARGO_PKG_VERSION")));
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut out)?;
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(&mut out)?;
    }
    section(&mut out, "EXIT STATUS", &exit_codes())?;
    if top {
        let env: Vec<(String, String)> = VARIABLES
            .iter()
            .map(|v| {
                let default = match v.default {
                    "" => String::new(),
                    d => format!(" Default: {d}."),
                };
                (v.name.to_string(), format!("{}{default}", v.help))
            })
            .collect();
        section(&mut out, "ENVIRONMENT", &env)?;
        let files: Vec<(String, String)> = FILES
            .iter()
            .map(|(f, d)| (f.to_string(), d.to_string()))
            .collect();
        section(&mut out, "FILES", &files)?;
        let see: Vec<String> = cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|s| format!("agenticore-{}(1)", s.get_name()))
            .chain(["claude(1)".to_string(), "git-worktree(1)".to_string()])
            .collect();
        paragraph(&mut out, "SEE ALSO", &see.join(", "))?;
    } else {
        paragraph(&mut out, "SEE ALSO", "agenticore(1)")?;
    }
    if cmd.get_version().is_some() {
        man.render_version_section(&mut out)?;
    }
    Ok(out)
}

/// `(code, meaning)` from the exit-code table of `--help`.
fn exit_codes() -> Vec<(String, String)> {
    EXIT_CODES
        .lines()
        .filter_map(|l| {
            let (code, text) = l.trim().split_once(char::is_whitespace)?;
            code.parse::<u8>()
                .ok()
                .map(|_| (code.to_string(), text.trim().to_string()))
        })
        .collect()
}

/// A section of tagged paragraphs (`.TP`).
fn section(out: &mut Vec<u8>, title: &str, items: &[(String, String)]) -> std::io::Result<()> {
    writeln!(out, ".SH \"{title}\"")?;
    for (tag, text) in items {
        writeln!(out, ".TP\n\\fB{}\\fR\n{}", escape(tag), escape(text))?;
    }
    Ok(())
}

fn paragraph(out: &mut Vec<u8>, title: &str, text: &str) -> std::io::Result<()> {
    writeln!(out, ".SH \"{title}\"\n{}", escape(text))
}

/// Text safe inside a roff line: backslashes and hyphens escaped, no line taken for a request.
fn escape(text: &str) -> String {
    let s = text.replace('\\', "\\e").replace('-', "\\-");
    match s.chars().next() {
        Some('.' | '\'') => format!("\\&{s}"),
        _ => s,
    }
}

fn write_error(path: &Path, e: std::io::Error) -> CliError {
    CliError::usage(format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_code_table_is_read_from_the_help_text() {
        let codes = exit_codes();
        let numbers: Vec<&str> = codes.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(numbers, ["0", "1", "2", "3", "4", "5"]);
        assert_eq!(codes[3].1, "job cancelled");
    }

    #[test]
    fn roff_escapes() {
        assert_eq!(escape("a-b"), "a\\-b");
        assert_eq!(escape(".x"), "\\&.x");
        assert_eq!(escape("c:\\d"), "c:\\ed");
    }
}
