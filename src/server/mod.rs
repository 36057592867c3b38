//! The HTTP server behind `agenticore serve`: the seed's REST routes, SSE progress, OpenAPI, and
//! MCP over Streamable HTTP at `/mcp` (`mcp.rs`, also served over stdio). Built for tests: `serve` takes a bound listener and a shutdown future, so a test
//! binds port 0 and runs the real server in-process.

pub mod auth;
pub mod events;
pub mod mcp;
pub mod metrics;
pub mod openapi;
pub mod otlp;
pub mod rest;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    /// Accepted API keys; empty = no auth.
    pub keys: Arc<auth::ApiKeys>,
    /// The seed's `pod_name` of every job JSON (this host).
    pub pod_name: Arc<str>,
    /// Cancelled when the server starts shutting down: long requests (`wait`, SSE, MCP
    /// sessions) end then.
    pub shutdown: CancellationToken,
    /// The `Host` headers `/mcp` accepts (default: loopback names).
    pub mcp_hosts: Arc<mcp::AllowedHosts>,
    /// The OTLP receiver's counters (`/metrics`).
    pub otlp: Arc<otlp::OtlpCounters>,
}

impl AppState {
    pub fn new(engine: Engine, api_keys: Vec<String>, pod_name: String) -> AppState {
        AppState {
            engine,
            keys: Arc::new(auth::ApiKeys::new(api_keys)),
            pod_name: pod_name.into(),
            shutdown: CancellationToken::new(),
            mcp_hosts: Arc::new(mcp::AllowedHosts::default()),
            otlp: Arc::new(otlp::OtlpCounters::default()),
        }
    }

    /// Accept these `Host` headers at `/mcp`.
    pub fn with_mcp_allowed_hosts(mut self, hosts: mcp::AllowedHosts) -> AppState {
        self.mcp_hosts = Arc::new(hosts);
        self
    }
}

/// The whole application: routes, MCP at `/mcp`, the OTLP receiver at `/v1/*`, auth (on both
/// too), body limit, JSON errors (not on `/mcp` and `/v1/*`, whose errors are MCP's and OTLP's),
/// request logging.
pub fn router(state: AppState) -> Router {
    let mcp = mcp::http_service(&state);
    rest::router(state.clone())
        .merge(otlp::router(state.clone()))
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/metrics", get(metrics::metrics).with_state(state.clone()))
        .nest_service("/mcp", mcp)
        .fallback(rest::not_found)
        .method_not_allowed_fallback(rest::method_not_allowed)
        .layer(middleware::from_fn_with_state(state, auth::require_key))
        .layer(DefaultBodyLimit::max(rest::BODY_LIMIT_BYTES))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn(log_request))
}

/// Serve `router(state)` on `listener` until `shutdown` resolves; in-flight requests finish
/// (those waiting for a job end with a 503 at once).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let token = state.shutdown.clone();
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move {
            shutdown.await;
            token.cancel();
        })
        .await
}

/// A safety net: any error answer that is not JSON (an axum rejection that slipped through, a
/// handler returning a bare status) becomes an `ErrorBody` with the same status and headers.
/// MCP's answers (`/mcp`) are left as rmcp made them and OTLP's (`/v1/*`) as the OTLP spec
/// asks, but for the 401 of the auth middleware, which is JSON already.
async fn json_errors(req: Request, next: Next) -> Response {
    let own_errors = is_mcp_path(req.uri().path()) || otlp::is_otlp_path(req.uri().path());
    let resp = next.run(req).await;
    if own_errors {
        return resp;
    }
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let message = match status {
        StatusCode::NOT_FOUND => "Not found".to_string(),
        StatusCode::METHOD_NOT_ALLOWED => "Method not allowed".to_string(),
        StatusCode::PAYLOAD_TOO_LARGE => format!(
            "request body too large (the limit is {} bytes)",
            rest::BODY_LIMIT_BYTES
        ),
        s => s.canonical_reason().unwrap_or("Error").to_string(),
    };
    let (mut parts, _) = resp.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_TYPE);
    let fresh = rest::ApiError::new(status, message).into_response();
    let (fresh_parts, body) = fresh.into_parts();
    parts.headers.extend(fresh_parts.headers);
    Response::from_parts(parts, body)
}

fn is_mcp_path(path: &str) -> bool {
    path == "/mcp" || path.starts_with("/mcp/")
}

/// One line per request: method, path (never the query string, which may hold `api_key`, and
/// never headers), status, latency.
async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = rest::clip(req.uri().path(), 200);
    let started = Instant::now();
    let resp = next.run(req).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = resp.status().as_u16();
    if resp.status().is_server_error() {
        tracing::warn!(%method, ?path, status, latency_ms = ms, "request");
    } else {
        tracing::info!(%method, ?path, status, latency_ms = ms, "request");
    }
    resp
}
