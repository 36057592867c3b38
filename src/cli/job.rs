//! `agenticore job ID`.

use agenticore::client::Backend;

use super::args::JobArgs;
use super::context::parse_id;
use super::output::{job_details, job_value, print_json};
use super::{CliResult, exit};

pub async fn run(backend: &Backend, a: JobArgs) -> CliResult {
    let id = parse_id(&a.id)?;
    let job = backend.get(id).await?;
    if a.json {
        print_json(&serde_json::json!({"success": true, "job": job_value(&job)}));
    } else {
        print!("{}", job_details(&job));
    }
    Ok(exit::OK)
}
