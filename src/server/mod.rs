//! The HTTP server behind `agenticore serve`: the seed's REST routes, SSE progress, OpenAPI, and
//! (next) MCP. Built for tests: `serve` takes a bound listener and a shutdown future, so a test
//! binds port 0 and runs the real server in-process.

pub mod auth;
pub mod events;
pub mod openapi;
pub mod rest;

use std::future::Future;
use std::sync::Arc;

use axum::Router;

use crate::engine::Engine;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    /// Accepted API keys; empty = no auth.
    pub keys: Arc<auth::ApiKeys>,
    /// The seed's `pod_name` of every job JSON (this host).
    pub pod_name: Arc<str>,
}

impl AppState {
    pub fn new(engine: Engine, api_keys: Vec<String>, pod_name: String) -> AppState {
        AppState {
            engine,
            keys: Arc::new(auth::ApiKeys::new(api_keys)),
            pod_name: pod_name.into(),
        }
    }
}

/// The whole application: routes, auth, body limit, request logging.
pub fn router(state: AppState) -> Router {
    rest::router(state)
}

/// Serve `router(state)` on `listener` until `shutdown` resolves; in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
