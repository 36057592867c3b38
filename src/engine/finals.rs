//! A job's end, recorded durably. When the store does not answer (Redis restarting, the
//! SQLite file locked or on a full disk), the final state is retried with back-off until it is
//! written; if the process has to stop first, it is saved in `{home}/unsaved/{id}.json` and
//! written by the next engine that starts on this home, before that engine reaps anything.
//! Until then `/health` says degraded and counts the results waiting.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::service::Engine;
use crate::config::Config;
use crate::job::{Job, JobId, Outcome, Progress};
use crate::store::StoreError;

/// First retry delay; doubles up to `MAX_DELAY`.
const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(5);

/// A final state that could not be written yet.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Unsaved {
    pub id: JobId,
    pub progress: Progress,
    pub outcome: Outcome,
}

/// What became of a final state.
#[derive(Debug)]
pub(crate) enum Recorded {
    /// Written: the job as stored.
    Finished(Box<Job>),
    /// The job was already terminal (a reaper or a cancel of a queued job got there first).
    AlreadyTerminal,
    /// The store stayed unreachable until the engine stopped: saved to a file for the next start.
    Saved(PathBuf),
    /// Neither written nor saved (both failed): the error, logged.
    Lost(String),
}

/// Where unwritten final states wait.
pub(crate) fn unsaved_dir(config: &Config) -> PathBuf {
    config.home.join("unsaved")
}

impl Engine {
    /// Write the job's final progress and state (compare-and-set on `running`), retrying while
    /// the store fails. Gives up retrying only when the engine stops (`stop_retrying`): then
    /// the result goes to a file.
    pub(crate) async fn record_final(&self, unsaved: Unsaved) -> Recorded {
        let mut delay = FIRST_DELAY;
        let mut failures = 0u32;
        let recorded = loop {
            match self.try_record(&unsaved).await {
                Ok(Some(job)) => break Recorded::Finished(Box::new(job)),
                Ok(None) => break Recorded::AlreadyTerminal,
                Err(e) => {
                    self.store_failed();
                    if failures == 0 {
                        self.inner.unsaved.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(job = %unsaved.id,
                            "could not record the end of the job: {e}; retrying until the store answers");
                    } else if failures.is_multiple_of(20) {
                        tracing::warn!(job = %unsaved.id, attempts = failures + 1, "still cannot record the end of the job: {e}");
                    }
                    failures += 1;
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.inner.stop_retrying.cancelled() => {
                            break match save(&self.inner.config, &unsaved).await {
                                Ok(path) => {
                                    tracing::error!(job = %unsaved.id, file = %path.display(),
                                        "stopping with the job's end unrecorded (the store still fails: {e}); \
                                         saved for the next start on this home");
                                    Recorded::Saved(path)
                                }
                                Err(save_err) => {
                                    let lost = format!("{e}; and saving it failed: {save_err}");
                                    tracing::error!(job = %unsaved.id, "the job's end is LOST: {lost}");
                                    Recorded::Lost(lost)
                                }
                            };
                        }
                    }
                    delay = (delay * 2).min(MAX_DELAY);
                }
            }
        };
        if failures > 0 {
            self.inner.unsaved.fetch_sub(1, Ordering::Relaxed);
            if matches!(recorded, Recorded::Finished(_) | Recorded::AlreadyTerminal) {
                tracing::info!(job = %unsaved.id, attempts = failures + 1, "recorded the end of the job once the store answered");
            }
        }
        recorded
    }

    async fn try_record(&self, u: &Unsaved) -> Result<Option<Job>, StoreError> {
        let store = &self.inner.store;
        store.update_progress(u.id, &u.progress).await?;
        store.finish(u.id, u.outcome.clone()).await
    }

    /// Write the final states an earlier process on this home saved, before anything is reaped
    /// (a reaper would otherwise call those jobs "interrupted"). Files that still cannot be
    /// written stay for the next try.
    pub(crate) async fn replay_unsaved(&self) {
        let dir = unsaved_dir(&self.inner.config);
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                tracing::warn!("cannot read {}: {e}", dir.display());
                return;
            }
        };
        while let Ok(Some(entry)) = entries.next_entry().await {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let unsaved = match load(&path).await {
                Ok(u) => u,
                Err(e) => {
                    tracing::error!(file = %path.display(), "an unwritten job result is unreadable: {e}");
                    continue;
                }
            };
            match self.try_record(&unsaved).await {
                Ok(Some(job)) => {
                    tracing::warn!(job = %job.id, status = %job.status(),
                        "recorded the end of a job that an earlier run could not write");
                    remove(&path).await;
                }
                Ok(None) => {
                    tracing::warn!(job = %unsaved.id,
                        "an earlier run's unwritten result ({}) came too late: the job was already finished",
                        unsaved.outcome.status());
                    remove(&path).await;
                }
                Err(e) => {
                    self.store_failed();
                    tracing::warn!(job = %unsaved.id, "still cannot record an earlier run's result: {e}");
                }
            }
        }
    }

    /// How many job results this engine holds that the store has not taken yet (retrying, or
    /// saved to files by an earlier run and not yet replayed).
    pub fn unsaved_results(&self) -> usize {
        self.inner.unsaved.load(Ordering::Relaxed) + count_files(&unsaved_dir(&self.inner.config))
    }
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension().and_then(|x| x.to_str()) == Some("json"))
                .count()
        })
        .unwrap_or(0)
}

/// Write `u` to `{home}/unsaved/{id}.json` (owner-only, written whole or not at all).
async fn save(config: &Config, u: &Unsaved) -> std::io::Result<PathBuf> {
    let dir = unsaved_dir(config);
    let path = dir.join(format!("{}.json", u.id));
    let body = serde_json::to_vec(u).map_err(std::io::Error::other)?;
    let target = path.clone();
    let id = u.id;
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        let tmp = dir.join(format!(".{id}.tmp"));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&body)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &target)?;
        std::fs::File::open(&dir)?.sync_all()
    })
    .await
    .map_err(std::io::Error::other)??;
    Ok(path)
}

async fn load(path: &Path) -> Result<Unsaved, String> {
    let bytes = tokio::fs::read(path).await.map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

async fn remove(path: &Path) {
    if let Err(e) = tokio::fs::remove_file(path).await {
        tracing::warn!("cannot remove {}: {e}", path.display());
    }
}
