//! `agenticore serve`: the job engine behind the REST API, until SIGTERM/SIGINT.
//!
//! Start: refuse a non-loopback bind without API keys (unless `--insecure-no-auth`), bind,
//! print the URL, reconcile jobs left running by a crashed predecessor (the scheduler's first
//! heartbeat kills their leftover processes and fails them "interrupted"), then serve and
//! schedule. Stop (first signal): stop accepting connections and claiming jobs, let running
//! jobs finish for `--drain-timeout`, then cancel them (trees killed, status cancelled with a
//! reason). A second signal cancels at once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use agenticore::config::Transport;
use agenticore::engine::{Drain, Engine, RunMode};
use agenticore::server::{self, AppState};
use agenticore::store::sqlite::SqliteStore;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use super::args::ServeArgs;
use super::context::load_config;
use super::output::pod_name;
use super::{CliError, CliResult, exit};

pub async fn run(a: ServeArgs) -> CliResult {
    let config = load_config()?;
    if config.server.transport == Transport::Stdio {
        return Err(CliError::usage(
            "AGENTICORE_TRANSPORT=stdio (MCP over stdio) is not available yet; use sse or http",
        ));
    }
    let host = a.host.clone().unwrap_or_else(|| config.server.host.clone());
    let port = a.port.unwrap_or(config.server.port);
    let keys = config.server.api_keys.clone();
    if !server::auth::is_loopback(&host) && keys.is_empty() && !a.insecure_no_auth {
        return Err(CliError::usage(format!(
            "refusing to listen on {host} without API keys: anyone who can reach it could run \
             jobs. Set AGENTICORE_API_KEYS, bind 127.0.0.1, or pass --insecure-no-auth"
        )));
    }
    let addr = resolve(&host, port)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::new(exit::UNREACHABLE, format!("cannot listen on {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| CliError::new(exit::UNREACHABLE, e.to_string()))?;

    let store = SqliteStore::open(&config.jobs_db_path())
        .map_err(|e| CliError::new(exit::UNREACHABLE, e.to_string()))?;
    let exe = std::env::current_exe().map_err(|e| {
        CliError::new(
            exit::UNREACHABLE,
            format!("cannot find the agenticore binary: {e}"),
        )
    })?;
    let max = config.repos.max_parallel_jobs;
    let engine = Engine::new(config, Arc::new(store), exe);
    let state = AppState::new(engine.clone(), keys.clone(), pod_name());

    println!("agenticore listening on http://{local}");
    tracing::info!(
        addr = %local,
        store = %engine.store().location(),
        max_parallel_jobs = max,
        auth = !keys.is_empty(),
        node = %engine.node(),
        "serving"
    );

    let stop = CancellationToken::new();
    let force = CancellationToken::new();
    tokio::spawn(watch_signals(stop.clone(), force.clone()));

    let scheduler = {
        let engine = engine.clone();
        let stop = stop.clone();
        let drain = Drain {
            timeout: Duration::from_secs(a.drain_timeout),
            force: force.clone(),
        };
        tokio::spawn(async move {
            engine
                .run_scheduler_draining(RunMode::Forever, stop, Some(drain))
                .await
        })
    };
    let served = server::serve(listener, state, stop.clone().cancelled_owned()).await;
    let _ = scheduler.await;
    tracing::info!("stopped");
    served
        .map(|_| exit::OK)
        .map_err(|e| CliError::new(exit::UNREACHABLE, format!("server error: {e}")))
}

/// First SIGTERM/SIGINT: graceful stop; second: cancel running jobs now.
async fn watch_signals(stop: CancellationToken, force: CancellationToken) {
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    for token in [stop, force] {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        tracing::warn!("signal received: stopping");
        token.cancel();
    }
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr, CliError> {
    use std::net::ToSocketAddrs;
    let h = host.trim_start_matches('[').trim_end_matches(']');
    (h, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| CliError::usage(format!("cannot resolve the address {host}:{port}")))
}
