//! Shell completion at Tab time. The scripts `agenticore completions <shell>` prints call
//! `AGENTICORE_COMPLETE=<shell> agenticore -- <words>`; this module answers those calls before
//! normal argument parsing, and supplies the values clap cannot know: profile names, job ids
//! (newest first, with status and task), statuses.
//!
//! A completion must be quick and harmless: no daemon probe on the default port, no background
//! worker, no reconcile, nothing created on disk (no store file means no ids), a hard time
//! limit, and any error simply means no candidates.

use std::ffi::OsStr;
use std::time::Duration;

use agenticore::api::JobView;
use agenticore::client::ApiClient;
use agenticore::config::Config;
use agenticore::engine::events::one_line;
use agenticore::job::Status;
use agenticore::profile::Profiles;
use agenticore::store::sqlite::SqliteStore;
use agenticore::store::{JobStore, ListFilter};
use clap::CommandFactory;
use clap_complete::CompletionCandidate;
use clap_complete::env::{Bash, Elvish, EnvCompleter, Fish, Powershell, Zsh};

use super::args::{Cli, Shell};

/// The variable that turns a run of the binary into a completion request. Not clap's default
/// `COMPLETE`, which a user's environment may well hold for other reasons.
pub const ENV_VAR: &str = "AGENTICORE_COMPLETE";
/// The program the scripts call back: `agenticore` as found on PATH.
const PROGRAM: &str = "agenticore";
/// How many recent jobs are offered.
const MAX_JOBS: usize = 200;
/// A completion that takes longer than this offers no job ids rather than hang the shell.
const TIME_LIMIT: Duration = Duration::from_millis(700);
/// Width of a job's task in the candidate's description.
const TASK_WIDTH: usize = 60;

/// Answer a completion request and exit, if this run is one; otherwise return.
pub fn handle_request() {
    clap_complete::CompleteEnv::with_factory(Cli::command)
        .var(ENV_VAR)
        .complete();
}

/// The registration script of `shell`.
pub fn script(shell: Shell) -> std::io::Result<Vec<u8>> {
    let completer: &dyn EnvCompleter = match shell {
        Shell::Bash => &Bash,
        Shell::Zsh => &Zsh,
        Shell::Fish => &Fish,
        Shell::Elvish => &Elvish,
        Shell::Powershell => &Powershell,
    };
    let mut out = Vec::new();
    completer.write_registration(ENV_VAR, PROGRAM, PROGRAM, PROGRAM, &mut out)?;
    Ok(out)
}

/// Where each script goes, by the file name shells look for.
pub fn file_name(shell: Shell) -> &'static str {
    match shell {
        Shell::Bash => "agenticore.bash",
        Shell::Zsh => "_agenticore",
        Shell::Fish => "agenticore.fish",
        Shell::Elvish => "agenticore.elv",
        Shell::Powershell => "_agenticore.ps1",
    }
}

/// `--profile`: the profiles the job would be able to use.
pub fn profiles(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(prefix) = current.to_str() else {
        return Vec::new();
    };
    let Ok(config) = Config::load() else {
        return Vec::new();
    };
    let profiles = Profiles::load(&config.profiles_dir());
    profiles
        .valid()
        .filter(|p| p.name().starts_with(prefix))
        .map(|p| CompletionCandidate::new(p.name()).help(Some(p.description().to_string().into())))
        .collect()
}

/// `jobs --status`.
pub fn statuses(current: &OsStr) -> Vec<CompletionCandidate> {
    let prefix = current.to_string_lossy();
    Status::ALL
        .iter()
        .map(|s| s.to_string())
        .filter(|s| s.starts_with(prefix.as_ref()))
        .map(CompletionCandidate::new)
        .collect()
}

/// `job`, `logs`, `jobs --cursor`: recent jobs.
pub fn job_ids(current: &OsStr) -> Vec<CompletionCandidate> {
    jobs_matching(current, false)
}

/// `cancel`: queued and running jobs.
pub fn unfinished_job_ids(current: &OsStr) -> Vec<CompletionCandidate> {
    jobs_matching(current, true)
}

/// `man COMMAND`: the commands that have a page.
pub fn man_pages(current: &OsStr) -> Vec<CompletionCandidate> {
    let prefix = current.to_string_lossy();
    Cli::command()
        .get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name().starts_with(prefix.as_ref()))
        .map(|c| {
            CompletionCandidate::new(c.get_name()).help(c.get_about().map(|a| a.to_string().into()))
        })
        .collect()
}

fn jobs_matching(current: &OsStr, unfinished: bool) -> Vec<CompletionCandidate> {
    let Some(prefix) = current.to_str() else {
        return Vec::new();
    };
    let Ok(config) = Config::load() else {
        return Vec::new();
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    let jobs = runtime
        .block_on(async { tokio::time::timeout(TIME_LIMIT, recent_jobs(&config)).await })
        .ok()
        .flatten()
        .unwrap_or_default();
    jobs.into_iter()
        .filter(|j| j.id.starts_with(prefix))
        .filter(|j| !unfinished || matches!(j.status, Status::Queued | Status::Running))
        .map(|j| {
            let help = format!("{:<9} {}", j.status, one_line(&j.task, TASK_WIDTH));
            CompletionCandidate::new(j.id).help(Some(help.into()))
        })
        .collect()
}

/// The newest jobs of the configured daemon (`AGENTICORE_URL` / `server.url`), else of the
/// local store file if there is one.
async fn recent_jobs(config: &Config) -> Option<Vec<JobView>> {
    if let Some(url) = &config.server.url {
        let key = super::context::api_key(config);
        let client = ApiClient::new(url, key.as_deref()).ok()?;
        return client.list(MAX_JOBS, None, None).await.ok().map(|l| l.jobs);
    }
    let path = config.jobs_db_path();
    if !path.is_file() {
        return None;
    }
    let store = tokio::task::spawn_blocking(move || SqliteStore::open(&path))
        .await
        .ok()?
        .ok()?;
    let filter = ListFilter {
        limit: MAX_JOBS,
        ..ListFilter::default()
    };
    let page = store.list(&filter).await.ok()?;
    Some(page.jobs.iter().map(|j| JobView::from_job(j, "")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_complete_by_prefix() {
        let names: Vec<String> = statuses(OsStr::new("c"))
            .iter()
            .map(|c| c.get_value().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["cancelled"]);
    }
}
