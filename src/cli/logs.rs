//! `agenticore logs ID [-f]`: the job's log (claude's stream-json plus agenticore's own
//! lines), rendered readably or raw; `-f` follows it until the job ends.

use agenticore::client::Backend;

use super::args::LogsArgs;
use super::context::parse_id;
use super::{CliResult, exit};

pub async fn run(backend: &Backend, a: LogsArgs) -> CliResult {
    let id = parse_id(&a.id)?;
    if a.follow {
        let mut follow = backend.follow_logs(id).await?;
        while let Some(line) = follow.next().await {
            emit(&line?, a.raw);
        }
        return Ok(exit::OK);
    }
    match backend.logs(id).await? {
        Some(text) => {
            for line in text.lines() {
                emit(line, a.raw);
            }
        }
        None => eprintln!("No log for job {id} yet (it has not started)."),
    }
    Ok(exit::OK)
}

fn emit(line: &str, raw: bool) {
    let line = line.trim_end();
    if line.is_empty() {
        return;
    }
    if raw {
        println!("{line}");
    } else if let Some(text) = render(line) {
        println!("{text}");
    }
}

/// One log line for humans, or `None` for lines not worth showing.
pub fn render(line: &str) -> Option<String> {
    let entries = agenticore::logtext::entries(line);
    (!entries.is_empty()).then(|| {
        entries
            .iter()
            .map(|e| e.cli_line())
            .collect::<Vec<_>>()
            .join("\n")
    })
}
