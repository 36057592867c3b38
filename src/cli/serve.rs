//! `agenticore serve`: the job engine behind the REST API and MCP (`/mcp`), until SIGTERM/SIGINT.
//! With `--stdio` (or AGENTICORE_TRANSPORT=stdio): MCP over stdin/stdout instead of HTTP, the
//! scheduler in the same process, until stdin closes or a signal comes; stdout then carries
//! only the protocol (logs go to stderr).
//!
//! Start: refuse a non-loopback bind without API keys (unless `--insecure-no-auth`), bind,
//! print the URL, reconcile jobs left running by a crashed predecessor (the scheduler's first
//! heartbeat kills their leftover processes and fails them "interrupted"), then serve and
//! schedule. Stop (first signal): stop accepting connections and claiming jobs, let running
//! jobs finish for `--drain-timeout`, then cancel them (trees killed, status cancelled with a
//! reason). A second signal cancels at once.

use std::net::SocketAddr;
use std::time::Duration;

use agenticore::config::{Config, Transport};
use agenticore::engine::{Drain, Engine, RunMode};
use agenticore::server::mcp::{AgenticoreMcp, AllowedHosts};
use agenticore::server::{self, AppState};
use rmcp::ServiceExt;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use super::args::ServeArgs;
use super::context::load_config;
use super::output::pod_name;
use super::{CliError, CliResult, exit};

/// Comma list of the `Host` names `/mcp` accepts (`*`: any).
const MCP_ALLOWED_HOSTS_ENV: &str = "AGENTICORE_MCP_ALLOWED_HOSTS";

pub async fn run(a: ServeArgs) -> CliResult {
    let config = load_config()?;
    if a.stdio || config.server.transport == Transport::Stdio {
        return run_stdio(config, a.drain_timeout).await;
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

    let max = config.repos.max_parallel_jobs;
    // Jobs recognise an OTEL endpoint that points at this server's own receiver by the
    // address it really listens on (`--host`/`--port`, port 0 resolved).
    let mut config = config;
    config.server.host = host.clone();
    config.server.port = local.port();
    let engine = open_engine(config).await?;
    let hosts_setting = std::env::var(MCP_ALLOWED_HOSTS_ENV).ok();
    let mcp_hosts = AllowedHosts::resolve(hosts_setting.as_deref(), &host);
    if hosts_setting.is_none() && addr.ip().is_unspecified() {
        tracing::warn!(
            "listening on {host}: /mcp accepts only the Host names {mcp_hosts:?}; set \
             {MCP_ALLOWED_HOSTS_ENV} to the names clients use (`*` for any)"
        );
    }
    let state = AppState::new(engine.clone(), keys.clone(), pod_name())
        .with_mcp_allowed_hosts(mcp_hosts.clone());

    println!("agenticore listening on http://{local}");
    tracing::info!(
        addr = %local,
        store = %engine.store().location(),
        max_parallel_jobs = max,
        auth = !keys.is_empty(),
        node = %engine.node(),
        mcp_allowed_hosts = ?mcp_hosts,
        "serving"
    );

    let stop = CancellationToken::new();
    let force = CancellationToken::new();
    tokio::spawn(watch_signals(stop.clone(), force.clone()));
    // A daemon runs for months: what a big listing took goes back to the system.
    let trimmer = tokio::spawn(agenticore::memory::trim_periodically());

    let scheduler = spawn_scheduler(&engine, &stop, &force, a.drain_timeout);
    let served = server::serve(listener, state, stop.clone().cancelled_owned()).await;
    trimmer.abort();
    let _ = scheduler.await;
    tracing::info!("stopped");
    served
        .map(|_| exit::OK)
        .map_err(|e| CliError::new(exit::UNREACHABLE, format!("server error: {e}")))
}

/// MCP over stdin/stdout, with the scheduler in this process. Ends when stdin closes (the
/// client went away) or at the first signal: then running jobs drain (`drain_timeout`, a
/// second signal cancels them at once) and the process exits.
async fn run_stdio(config: Config, drain_timeout: u64) -> CliResult {
    let engine = open_engine(config).await?;
    let state = AppState::new(engine.clone(), Vec::new(), pod_name());
    let stop = CancellationToken::new();
    let force = CancellationToken::new();
    tokio::spawn(watch_signals(stop.clone(), force.clone()));
    let scheduler = spawn_scheduler(&engine, &stop, &force, drain_timeout);
    tracing::info!(
        store = %engine.store().location(),
        node = %engine.node(),
        "serving MCP over stdio"
    );

    let served = serve_stdio(state.clone(), &stop).await;
    let by_signal = stop.is_cancelled();
    // Long tool calls (run_task with wait) end; no new job is claimed; running ones drain.
    state.shutdown.cancel();
    stop.cancel();
    let _ = scheduler.await;
    tracing::info!("stopped");
    if by_signal {
        // A blocking stdin read (when stdin is not a pipe) would hold up the runtime's exit.
        use std::io::Write;
        let _ = std::io::stdout().flush();
        super::flush_job_spans();
        std::process::exit(match &served {
            Ok(code) => i32::from(*code),
            Err(e) => i32::from(e.code),
        });
    }
    served
}

/// Serve one MCP session on stdin/stdout until it closes or `stop` fires.
async fn serve_stdio(state: AppState, stop: &CancellationToken) -> CliResult {
    let server = AgenticoreMcp::new(state);
    let running = tokio::select! {
        r = server.serve(rmcp::transport::stdio_pipes()) => r.map_err(|e| {
            CliError::new(exit::UNREACHABLE, format!("MCP over stdio: {e}"))
        })?,
        () = stop.cancelled() => return Ok(exit::OK),
    };
    let ct = running.cancellation_token();
    let closer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            stop.cancelled().await;
            ct.cancel();
        })
    };
    let quit = running.waiting().await;
    closer.abort();
    match quit {
        Ok(reason) => {
            tracing::info!(?reason, "MCP session over stdio ended");
            Ok(exit::OK)
        }
        Err(e) => Err(CliError::new(
            exit::UNREACHABLE,
            format!("MCP over stdio: {e}"),
        )),
    }
}

/// The engine over the job store of `config` (see `agenticore::store::open`: Redis, the SQLite
/// file, or the SQLite file standing in for an unreachable Redis; `redis.required` makes that
/// last case exit 5).
async fn open_engine(config: Config) -> Result<Engine, CliError> {
    let store = agenticore::store::open(&config)
        .await
        .map_err(|e| CliError::new(exit::UNREACHABLE, e.to_string()))?;
    let exe = std::env::current_exe().map_err(|e| {
        CliError::new(
            exit::UNREACHABLE,
            format!("cannot find the agenticore binary: {e}"),
        )
    })?;
    Ok(Engine::new(config, store, exe))
}

/// The scheduler until `stop`, then draining for `drain_timeout` seconds (or until `force`).
fn spawn_scheduler(
    engine: &Engine,
    stop: &CancellationToken,
    force: &CancellationToken,
    drain_timeout: u64,
) -> tokio::task::JoinHandle<()> {
    let engine = engine.clone();
    let stop = stop.clone();
    let drain = Drain {
        timeout: Duration::from_secs(drain_timeout),
        force: force.clone(),
    };
    tokio::spawn(async move {
        engine
            .run_scheduler_draining(RunMode::Forever, stop, Some(drain))
            .await
    })
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
