//! `agenticore cancel ID`: a queued job never starts; a running job is killed (its whole
//! process tree) by whichever process runs it. Waits until it is really over.

use agenticore::client::Backend;

use super::args::CancelArgs;
use super::context::parse_id;
use super::output::{job_value, print_json};
use super::{CliResult, exit};

pub async fn run(backend: &Backend, a: CancelArgs) -> CliResult {
    let id = parse_id(&a.id)?;
    let (job, note) = backend.cancel(id, !a.no_wait).await?;
    if a.json {
        print_json(&serde_json::json!({"success": true, "job": job_value(&job)}));
    } else {
        println!("{} {} ({})", job.id, job.status, note.text());
    }
    Ok(exit::OK)
}
