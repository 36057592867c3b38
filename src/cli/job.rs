//! `agenticore job ID`.

use super::args::JobArgs;
use super::context::{Ctx, parse_id};
use super::output::{job_details, job_value, print_json};
use super::{CliResult, exit};

pub async fn run(ctx: &Ctx, a: JobArgs) -> CliResult {
    let id = parse_id(&a.id)?;
    ctx.reconcile().await;
    let job = ctx.engine.get(id).await?;
    if a.json {
        print_json(&serde_json::json!({"success": true, "job": job_value(&job)}));
    } else {
        print!("{}", job_details(&job));
    }
    Ok(exit::OK)
}
