//! `agenticore jobs`: newest first, with a cursor for the next page.

use agenticore::client::Backend;
use agenticore::job::Status;

use super::args::JobsArgs;
use super::context::parse_id;
use super::output::{job_value, jobs_table, print_json};
use super::{CliError, CliResult, exit};

pub async fn run(backend: &Backend, a: JobsArgs) -> CliResult {
    let status = match a.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            s.parse::<Status>()
                .map_err(|e| CliError::usage(e.to_string()))?,
        ),
    };
    let cursor = match a.cursor.as_deref() {
        None => None,
        Some(c) => Some(parse_id(c).map_err(|e| CliError::usage(e.message))?),
    };
    let page = backend.list(status, a.limit, cursor).await?;
    if a.json {
        print_json(&serde_json::json!({
            "success": true,
            "count": page.jobs.len(),
            "jobs": page.jobs.iter().map(job_value).collect::<Vec<_>>(),
            "cursor": page.cursor,
        }));
    } else if page.jobs.is_empty() {
        eprintln!(
            "No jobs{}.",
            status
                .map(|s| format!(" with status {s}"))
                .unwrap_or_default()
        );
    } else {
        print!("{}", jobs_table(&page.jobs));
        if let Some(c) = page.cursor {
            eprintln!("More: agenticore jobs --cursor {c}");
        }
    }
    Ok(exit::OK)
}
