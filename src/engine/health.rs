//! The engine's health as `/health` and `status` report it: the store and whether it answers,
//! this node, the cluster's queue and running jobs per node, and job results not yet written.

use std::time::Duration;

use super::service::Engine;
use crate::store::{Counts, NodeLoad};

/// What `/health` and `status` show.
#[derive(Debug, Clone)]
pub struct HealthReport {
    /// The store answers, is the configured one, and holds every result of this node.
    pub ok: bool,
    pub node: String,
    pub store: String,
    /// Counts by status over every node; `None` when the store did not answer.
    pub counts: Option<Counts>,
    pub max_parallel_jobs: usize,
    pub changes: Option<u64>,
    /// Why `ok` is false, in words (no secrets).
    pub warning: Option<String>,
    /// Jobs running on this node.
    pub running_here: usize,
    /// Running jobs per node (and, on Redis, every live node).
    pub nodes: Vec<NodeLoad>,
    /// Job results this node has not been able to write yet.
    pub unsaved_results: usize,
}

impl Engine {
    /// Ask the store (each call bounded by `timeout`) and describe this engine's health.
    pub async fn health(&self, timeout: Duration) -> HealthReport {
        let store = self.store();
        let counts = within(timeout, store.counts()).await;
        let (changes, nodes) = if counts.is_ok() {
            let changes = within(timeout, store.version()).await;
            let nodes = within(timeout, store.nodes()).await;
            (changes.ok().flatten(), nodes.unwrap_or_default())
        } else {
            (None, Vec::new())
        };
        let unsaved_results = self.unsaved_results();
        let warning = match (&counts, store.degraded()) {
            (_, Some(fallback)) => Some(fallback),
            (Err(e), None) => {
                tracing::warn!("health: {e}");
                Some(format!("the job store is unreachable: {e}"))
            }
            (Ok(_), None) if unsaved_results > 0 => Some(format!(
                "{unsaved_results} job result(s) of this node are not written to the store yet"
            )),
            (Ok(_), None) => None,
        };
        HealthReport {
            ok: warning.is_none(),
            node: self.node().to_string(),
            store: store.location(),
            counts: counts.ok(),
            max_parallel_jobs: self.config().repos.max_parallel_jobs,
            changes,
            warning,
            running_here: self.running_here(),
            nodes,
            unsaved_results,
        }
    }
}

/// A store call bounded by `timeout`; its error in words.
async fn within<T>(
    timeout: Duration,
    call: impl std::future::Future<Output = crate::store::StoreResult<T>>,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "the job store did not answer within {} ms",
            timeout.as_millis()
        )),
    }
}
