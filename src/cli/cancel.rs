//! `agenticore cancel ID`: a queued job never starts; a running job is killed (its whole
//! process tree) by whichever process runs it. Waits until it is really over.

use std::time::Duration;

use agenticore::store::CancelOutcome;

use super::args::CancelArgs;
use super::context::{Ctx, parse_id};
use super::output::{job_value, print_json};
use super::{CliError, CliResult, exit};

pub async fn run(ctx: &Ctx, a: CancelArgs) -> CliResult {
    let id = parse_id(&a.id)?;
    let out = ctx.engine.cancel(id, "cancelled by user").await?;
    let (job, note) = match out {
        CancelOutcome::CancelledQueued(job) => (job, "was queued: it will never start"),
        CancelOutcome::AlreadyFinished(job) => (job, "had already finished: nothing to cancel"),
        CancelOutcome::Requested(job) if a.no_wait => (job, "cancel requested"),
        CancelOutcome::Requested(_) => {
            // Its runner (this machine's worker, a `submit --wait`, or a dead process that
            // reconcile catches) kills it; wait for the record to say so.
            let grace = ctx.config().claude.kill_grace_seconds;
            let waited = tokio::time::timeout(Duration::from_secs(grace + 30), async {
                loop {
                    ctx.engine.reconcile().await;
                    if let Ok(j) = ctx.engine.get(id).await
                        && j.status().is_terminal()
                    {
                        return j;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
            .await;
            match waited {
                Ok(job) => (job, "killed"),
                Err(_) => (
                    ctx.engine.get(id).await?,
                    "cancel requested; its runner has not confirmed yet",
                ),
            }
        }
        CancelOutcome::NotFound => {
            return Err(CliError::new(
                exit::NOT_FOUND,
                format!("Job not found: {id}"),
            ));
        }
    };
    if a.json {
        print_json(&serde_json::json!({"success": true, "job": job_value(&job)}));
    } else {
        println!("{} {} ({note})", job.id, job.status());
    }
    Ok(exit::OK)
}
