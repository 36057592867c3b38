//! The command line: one file per command; `output.rs` renders tables and `--json`.
//! Exit codes: 0 ok / job succeeded, 1 job failed or timed out, 2 usage or invalid input,
//! 3 job cancelled, 4 not found, 5 store (or server) unreachable.

mod args;
mod cancel;
mod complete;
mod completions;
mod config_cmd;
mod context;
mod job;
mod jobs;
mod logs;
mod man;
mod output;
mod profiles;
mod serve;
mod stats;
mod status;
mod submit;
mod tui;
mod version;
mod worker;

use std::process::ExitCode;
use std::sync::OnceLock;

use agenticore::telemetry::spans::{self, JobSpans};
use clap::Parser;

pub use args::{Cli, Command};
use context::Ctx;

/// Exit codes, as documented in `--help`.
pub mod exit {
    pub const OK: u8 = 0;
    pub const JOB_FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const CANCELLED: u8 = 3;
    pub const NOT_FOUND: u8 = 4;
    pub const UNREACHABLE: u8 = 5;
}

/// An error that knows its exit code.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        CliError {
            code,
            message: message.into(),
        }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(exit::USAGE, message)
    }
}

impl From<agenticore::engine::EngineError> for CliError {
    fn from(e: agenticore::engine::EngineError) -> Self {
        use agenticore::engine::EngineError as E;
        let code = match &e {
            E::Invalid(_) => exit::USAGE,
            E::NotFound(_) => exit::NOT_FOUND,
            E::Store(_) => exit::UNREACHABLE,
        };
        CliError::new(code, e.to_string())
    }
}

impl From<agenticore::client::ClientError> for CliError {
    fn from(e: agenticore::client::ClientError) -> Self {
        context::to_cli(e)
    }
}

impl From<agenticore::store::StoreError> for CliError {
    fn from(e: agenticore::store::StoreError) -> Self {
        CliError::new(exit::UNREACHABLE, e.to_string())
    }
}

pub type CliResult = Result<u8, CliError>;

pub fn main() -> ExitCode {
    complete::handle_request();
    let cli = Cli::parse();
    let json_logs =
        matches!(&cli.command, Some(Command::Serve(a)) if a.log_format == args::LogFormat::Json);
    // Before any thread exists: the allocator's limits apply to all of them.
    agenticore::memory::tune();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("agenticore: cannot start the async runtime: {e}");
            return ExitCode::from(exit::UNREACHABLE);
        }
    };
    let job_spans = runs_jobs(&cli)
        .then(|| start_job_spans(runtime.handle()))
        .flatten();
    init_tracing(cli.verbose, cli.quiet, json_logs, job_spans);
    let code = runtime.block_on(async move { dispatch(cli).await });
    flush_job_spans();
    match code {
        Ok(c) => ExitCode::from(c),
        Err(e) => {
            eprintln!("agenticore: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}

async fn dispatch(cli: Cli) -> CliResult {
    let Some(command) = cli.command else {
        return tui::run(false).await;
    };
    match command {
        Command::Tui => tui::run(true).await,
        Command::Version(a) => version::run(a),
        Command::Config(a) => config_cmd::run(a),
        Command::Serve(a) => serve::run(a).await,
        Command::Completions(a) => completions::run(a),
        Command::Man(a) => man::run(a),
        Command::Worker => worker::run(&Ctx::load().await?).await,
        command => {
            let (backend, origin) = context::choose_backend().await?;
            let b = &backend;
            let result = match command {
                Command::Submit(a) => submit::run(b, a).await,
                Command::Jobs(a) => jobs::run(b, a).await,
                Command::Job(a) => job::run(b, a).await,
                Command::Logs(a) => logs::run(b, a).await,
                Command::Cancel(a) => cancel::run(b, a).await,
                Command::Profiles(a) => profiles::run(b, a).await,
                Command::Status(a) => status::run(b, a).await,
                Command::Stats(a) => stats::run(b, a).await,
                Command::Version(_)
                | Command::Config(_)
                | Command::Serve(_)
                | Command::Completions(_)
                | Command::Man(_)
                | Command::Tui
                | Command::Worker => Ok(exit::OK),
            };
            result.map_err(|mut e| {
                if e.code == exit::UNREACHABLE && !backend.is_local() {
                    e.message.push_str(origin.hint());
                }
                e
            })
        }
    }
}

/// Whether `cli` may run jobs in this process: `serve`, the background worker and
/// `submit --wait` (with the local engine); only those export job spans.
fn runs_jobs(cli: &Cli) -> bool {
    match &cli.command {
        Some(Command::Serve(_) | Command::Worker) => true,
        Some(Command::Submit(a)) => a.wait,
        _ => false,
    }
}

/// The job spans' exporter when `otel.traces_endpoint` is set. A config that does not load
/// gives none here: the command itself reports the error.
fn start_job_spans(runtime: &tokio::runtime::Handle) -> Option<&'static JobSpans> {
    let config = agenticore::config::Config::load().ok()?;
    let endpoint = config.otel.traces_endpoint.as_deref()?;
    let source = spans::SpanSource {
        instance_id: Some(agenticore::engine::service::node_name()),
        own_api_key: own_receiver_key(&config, endpoint),
    };
    match JobSpans::start(endpoint, runtime.clone(), source) {
        Ok(s) => Some(JOB_SPANS.get_or_init(|| s)),
        Err(e) => {
            eprintln!("agenticore: job spans are off: {e}");
            None
        }
    }
}

/// The first API key, when `endpoint` is this configuration's own `serve` address (its OTLP
/// receiver needs a key when keys are on); never for another endpoint.
fn own_receiver_key(config: &agenticore::config::Config, endpoint: &str) -> Option<String> {
    agenticore::engine::claude::OwnReceiver::of(config)
        .is(endpoint)
        .then(|| config.server.api_keys.first().cloned())
        .flatten()
}

/// The job spans' exporter of this process, when it has one.
static JOB_SPANS: OnceLock<JobSpans> = OnceLock::new();

/// Send the job spans still queued (waiting a few seconds at most); before the process exits,
/// while the runtime is alive.
pub(crate) fn flush_job_spans() {
    if let Some(s) = JOB_SPANS.get() {
        s.shutdown();
    }
}

/// Logs go to stderr; `-v` raises the level, `RUST_LOG` wins. With `job_spans`, the job
/// lifecycle spans also go to its OTLP exporter (and never to the log).
fn init_tracing(verbose: u8, quiet: bool, json: bool, job_spans: Option<&JobSpans>) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let mut filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("agenticore={level},warn")));
    if let Ok(off) = format!("{}=off", spans::TARGET).parse() {
        filter = filter.add_directive(off);
    }
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(LogOut::new)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    let fmt = if json {
        fmt.json().with_filter(filter).boxed()
    } else {
        fmt.with_filter(filter).boxed()
    };
    let otel = job_spans.map(JobSpans::layer);
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(otel)
        .try_init();
}

/// Where log lines go: stderr, except while the dashboard owns the terminal (they would tear
/// its screen apart).
enum LogOut {
    Stderr(std::io::Stderr),
    Sink,
}

impl LogOut {
    fn new() -> LogOut {
        if agenticore::tui::active() {
            LogOut::Sink
        } else {
            LogOut::Stderr(std::io::stderr())
        }
    }
}

impl std::io::Write for LogOut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            LogOut::Stderr(e) => e.write(buf),
            LogOut::Sink => Ok(buf.len()),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            LogOut::Stderr(e) => e.flush(),
            LogOut::Sink => Ok(()),
        }
    }
}
