//! `agenticore completions <shell>`: print a shell's completion script, or write all of them.

use std::io::Write;

use clap::ValueEnum;

use super::args::{CompletionsArgs, Shell};
use super::{CliError, CliResult, complete, exit};

pub fn run(a: CompletionsArgs) -> CliResult {
    if let Some(dir) = a.out {
        std::fs::create_dir_all(&dir).map_err(|e| write_error(&dir, e))?;
        for shell in Shell::value_variants() {
            let path = dir.join(complete::file_name(*shell));
            let script = complete::script(*shell).map_err(|e| write_error(&path, e))?;
            std::fs::write(&path, script).map_err(|e| write_error(&path, e))?;
            println!("{}", path.display());
        }
        return Ok(exit::OK);
    }
    // Clap makes `shell` required unless `--out` is given.
    let shell = a
        .shell
        .ok_or_else(|| CliError::usage("name a shell: bash, zsh, fish, elvish or powershell"))?;
    let script = complete::script(shell).map_err(|e| CliError::usage(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error.
    let _ = out.write_all(&script).and_then(|()| out.flush());
    Ok(exit::OK)
}

fn write_error(path: &std::path::Path, e: std::io::Error) -> CliError {
    CliError::usage(format!("cannot write {}: {e}", path.display()))
}
