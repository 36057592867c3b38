//! The command-line grammar (clap derive). Help texts are the user's documentation.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use clap_complete::engine::ArgValueCompleter;

use super::complete;

pub const EXIT_CODES: &str = "\
Exit codes:
  0  command ok / job succeeded
  1  job failed or timed out
  2  usage error or invalid input (bad config, profile, URL, ref, id)
  3  job cancelled
  4  job not found
  5  job store (or server) unreachable";

#[derive(Debug, Parser)]
#[command(
    name = "agenticore",
    version,
    about = "Run Claude Code (`claude -p`) as managed jobs: queued, isolated in git worktrees, \
             watched, killable, recorded.",
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// More logs on stderr (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Submit a task as a job (runs in the background unless --wait).
    #[command(visible_alias = "run", after_help = EXIT_CODES)]
    Submit(SubmitArgs),
    /// List jobs, newest first.
    Jobs(JobsArgs),
    /// Show one job.
    #[command(after_help = EXIT_CODES)]
    Job(JobArgs),
    /// Show a job's log (claude's event stream), optionally following it.
    Logs(LogsArgs),
    /// Cancel a job: a queued job never starts, a running one is killed with all its processes.
    #[command(after_help = EXIT_CODES)]
    Cancel(CancelArgs),
    /// List the available profiles.
    Profiles(JsonArg),
    /// Show the effective configuration and where each value comes from (secrets masked).
    Config(JsonArg),
    /// Print the version.
    Version(JsonArg),
    /// Open the job dashboard (what `agenticore` alone does on a terminal): live job list,
    /// filters, search, detail, live log, cancel, new job, retry. Without a terminal it prints
    /// this help.
    Tui,
    /// Run the daemon: the job engine behind the REST API (and MCP), on 127.0.0.1:8200 by default.
    Serve(ServeArgs),
    /// Show the daemon's health, version, store and load (or the local store's, without one).
    Status(JsonArg),
    /// Cost, tokens, turns, job counts and success rate, by day, profile and repository.
    #[command(long_about = STATS_ABOUT, after_help = EXIT_CODES)]
    Stats(StatsArgs),
    /// Print the shell completion script for bash, zsh, fish, elvish or powershell.
    #[command(long_about = COMPLETIONS_ABOUT)]
    Completions(CompletionsArgs),
    /// Print the manual page (`agenticore man | man -l -`), or write every page to a directory.
    Man(ManArgs),
    /// Drain the job queue in the background (started by `submit`; not for direct use).
    #[command(name = "__worker", hide = true)]
    Worker,
}

#[derive(Debug, Args)]
pub struct JsonArg {
    /// Machine-readable JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// What Claude Code should do. `-` reads the task from stdin.
    pub task: String,
    /// Git repository to work on (https, ssh, file:// or a local path).
    #[arg(short, long = "repo", visible_alias = "repo-url", value_name = "URL")]
    pub repo: Option<String>,
    /// Branch to start from (default: the repository's default branch).
    #[arg(short, long, value_name = "REF")]
    pub base_ref: Option<String>,
    /// Profile to run with (default: AGENTICORE_DEFAULT_PROFILE, `code`).
    #[arg(short, long, add = ArgValueCompleter::new(complete::profiles))]
    pub profile: Option<String>,
    /// Wait for the job to finish, showing progress. Ctrl-C, closing the terminal (SIGHUP),
    /// SIGTERM or SIGQUIT cancel the job (exit 3): it never runs on unwatched. For work that
    /// must outlive the terminal, submit without --wait (a background worker runs it) or use
    /// the daemon (`agenticore serve`).
    #[arg(short, long)]
    pub wait: bool,
    /// Resume this Claude Code session.
    #[arg(long, value_name = "UUID")]
    pub session_id: Option<String>,
    /// Wall-clock limit in seconds (overrides the profile's).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Keep the job's worktree when it fails, for inspection.
    #[arg(long)]
    pub keep_worktree: bool,
    /// Print the job as JSON (the final job with --wait).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct JobsArgs {
    /// Only jobs with this status (queued, running, succeeded, failed, cancelled).
    #[arg(short, long, add = ArgValueCompleter::new(complete::statuses))]
    pub status: Option<String>,
    /// How many jobs to show.
    #[arg(short = 'n', long, default_value_t = 20)]
    pub limit: usize,
    /// Continue after this job id (the `cursor` printed by the previous page).
    #[arg(long, value_name = "JOB_ID", add = ArgValueCompleter::new(complete::job_ids))]
    pub cursor: Option<String>,
    /// JSON on stdout: {"success":true,"count":N,"jobs":[...],"cursor":...}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct JobArgs {
    /// The job id.
    #[arg(add = ArgValueCompleter::new(complete::job_ids))]
    pub id: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The job id.
    #[arg(add = ArgValueCompleter::new(complete::job_ids))]
    pub id: String,
    /// Keep printing new lines until the job ends.
    #[arg(short, long)]
    pub follow: bool,
    /// Print the raw JSON lines instead of a readable rendering.
    #[arg(long)]
    pub raw: bool,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    /// The job id (completion offers queued and running jobs).
    #[arg(add = ArgValueCompleter::new(complete::unfinished_job_ids))]
    pub id: String,
    /// Return at once instead of waiting until the job's processes are dead.
    #[arg(long)]
    pub no_wait: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to bind (default AGENTICORE_HOST, 127.0.0.1). A non-loopback address needs
    /// AGENTICORE_API_KEYS, or --insecure-no-auth.
    #[arg(long)]
    pub host: Option<String>,
    /// Port (default AGENTICORE_PORT, 8200; 0 picks a free one and prints it).
    #[arg(long)]
    pub port: Option<u16>,
    /// Allow a non-loopback bind without API keys (anyone who can reach it can run jobs).
    #[arg(long)]
    pub insecure_no_auth: bool,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// On SIGTERM/SIGINT, let running jobs finish this long before cancelling them.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub drain_timeout: u64,
    /// Serve MCP over stdin/stdout instead of HTTP (for an MCP client that starts agenticore,
    /// e.g. `claude mcp add agenticore -- agenticore serve --stdio`); the same as
    /// AGENTICORE_TRANSPORT=stdio. Jobs run in this process; it drains and exits at EOF.
    #[arg(long, conflicts_with_all = ["host", "port", "insecure_no_auth"])]
    pub stdio: bool,
}

const STATS_ABOUT: &str = "\
Cost, tokens, turns, job counts and success rate, in total and by day, profile and repository.

Computed from the job store alone (the SQLite file or Redis; the daemon's when one answers).
Finished jobs expire after their TTL (AGENTICORE_JOB_TTL, 24 h by default), so the figures
cover what the store still holds: the header says when its oldest job was created.

  agenticore stats                     everything the store holds
  agenticore stats --since 7d          the last 7 days (also 90m, 24h, 2w)
  agenticore stats --since 2025-01-31  since that date (midnight UTC), or an RFC 3339 time
  agenticore stats --by profile        one table only
  agenticore stats --json              the JSON of GET /stats";

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Only jobs created since: a duration back from now (90m, 24h, 7d, 2w), an RFC 3339
    /// timestamp (2025-01-31T12:00:00Z) or a date (2025-01-31, midnight UTC). Default: every
    /// job the store holds.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Print only this table (default: all three). Ignored with --json.
    #[arg(long, value_enum, value_name = "GROUP")]
    pub by: Option<StatsBy>,
    /// JSON on stdout: {"success":true,"since":...,"oldest_job_at":...,"total":{...},
    /// "by_day":[...],"by_profile":[...],"by_repo":[...]} (as GET /stats).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatsBy {
    Day,
    Profile,
    Repo,
}

const COMPLETIONS_ABOUT: &str = "\
Print the shell completion script for bash, zsh, fish, elvish or powershell.

The script completes commands and flags, and asks agenticore for profile names and job ids
(newest first, with their status and task) as you press Tab. It calls `agenticore` on your PATH.

  bash:        agenticore completions bash > ~/.local/share/bash-completion/completions/agenticore
  zsh:         agenticore completions zsh > ~/.zfunc/_agenticore   (with ~/.zfunc in fpath)
  fish:        agenticore completions fish > ~/.config/fish/completions/agenticore.fish
  elvish:      agenticore completions elvish >> ~/.config/elvish/rc.elv
  powershell:  agenticore completions powershell >> $PROFILE

install.sh installs the bash, zsh and fish scripts for you. `--out DIR` writes all five.";

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell (omit with --out).
    #[arg(value_enum, required_unless_present = "out")]
    pub shell: Option<Shell>,
    /// Write the scripts for every shell into this directory instead.
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath, conflicts_with = "shell")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The page of one command (e.g. `submit`); default: agenticore(1).
    #[arg(value_name = "COMMAND", add = ArgValueCompleter::new(complete::man_pages))]
    pub command: Option<String>,
    /// Write every page (agenticore.1, agenticore-submit.1, ...) into this directory instead.
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath, conflicts_with = "command")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}
