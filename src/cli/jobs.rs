//! `agenticore jobs`: newest first, with a cursor for the next page.

use agenticore::job::Status;
use agenticore::store::ListFilter;

use super::args::JobsArgs;
use super::context::{Ctx, parse_id};
use super::output::{job_value, jobs_table, print_json};
use super::{CliError, CliResult, exit};

pub async fn run(ctx: &Ctx, a: JobsArgs) -> CliResult {
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
    ctx.reconcile().await;
    let page = ctx
        .engine
        .list(ListFilter {
            status,
            limit: a.limit,
            cursor,
        })
        .await?;
    if a.json {
        print_json(&serde_json::json!({
            "success": true,
            "count": page.jobs.len(),
            "jobs": page.jobs.iter().map(job_value).collect::<Vec<_>>(),
            "cursor": page.next_cursor.map(|c| c.to_string()),
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
        if let Some(c) = page.next_cursor {
            eprintln!("More: agenticore jobs --cursor {c}");
        }
    }
    Ok(exit::OK)
}
