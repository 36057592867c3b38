//! `agenticore` (no command) and `agenticore tui`: the job dashboard. Without a terminal on both
//! stdin and stdout (a pipe, CI, `</dev/null`) it prints the help and exits 0 instead.

use std::io::IsTerminal;

use clap::CommandFactory;

use super::args::Cli;
use super::context::choose_backend;
use super::{CliError, CliResult, exit};

pub async fn run(explicit: bool) -> CliResult {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        if explicit {
            eprintln!(
                "agenticore: the dashboard needs a terminal (stdin and stdout); showing the help"
            );
        }
        let _ = Cli::command().print_help();
        return Ok(exit::OK);
    }
    let (backend, _origin) = choose_backend().await?;
    agenticore::tui::run(backend)
        .await
        .map_err(|e| CliError::new(exit::UNREACHABLE, format!("the dashboard failed: {e}")))?;
    Ok(exit::OK)
}
