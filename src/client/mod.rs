//! The CLI's one way to reach jobs: `Backend::Remote` (an `ApiClient` talking to an agenticore
//! daemon over HTTP) or `Backend::Local` (the embedded `Engine` on the local store). Everything
//! is expressed in the wire types of `api` (`JobView`, `JobList`, ...), so each command is written
//! once and prints the same either way.

pub mod api;
pub mod local;
pub mod sse;

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use futures_util::{Stream, StreamExt};

pub use self::api::ApiClient;
pub use self::local::Local;
pub use self::sse::{SseEvent, SseParser};
use crate::api::{Health, JobList, JobView, ProfileList, Stats, SubmitBody};
use crate::engine::EngineError;
use crate::engine::claude::StreamState;
use crate::engine::events::{EventKind, JobEvent};
use crate::job::{JobId, Status};

/// How long `cancel` waits for a remote job's processes to die.
const REMOTE_CANCEL_WAIT: Duration = Duration::from_secs(120);

/// What can go wrong talking to a backend.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server did not answer: connection refused, DNS, connect timeout, dropped.
    #[error("agenticore server at {url} is unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    /// 401/403: the API key is missing or wrong.
    #[error("the server refused the request: invalid or missing API key (set AGENTICORE_API_KEY)")]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    /// The request was refused as invalid (400, 413, 422; or the local engine said so).
    #[error("{0}")]
    Invalid(String),
    /// Any other HTTP error status, with the server's message.
    #[error("server error (HTTP {0}): {1}")]
    Server(u16, String),
    /// The local job store failed.
    #[error("{0}")]
    Store(String),
}

impl From<EngineError> for ClientError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Invalid(m) => ClientError::Invalid(m),
            e @ EngineError::NotFound(_) => ClientError::NotFound(e.to_string()),
            EngineError::Store(s) => ClientError::Store(s.to_string()),
        }
    }
}

impl From<crate::store::StoreError> for ClientError {
    fn from(e: crate::store::StoreError) -> Self {
        ClientError::Store(e.to_string())
    }
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// Where the jobs are.
pub enum Backend {
    /// The embedded engine on this machine's store.
    Local(Local),
    /// An agenticore daemon.
    Remote(ApiClient),
}

/// How `cancel` went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelNote {
    /// It was queued: it will never start.
    WasQueued,
    /// It had already finished.
    AlreadyFinished,
    /// Cancel was requested (not waited for).
    Requested,
    /// It was running and is now dead.
    Killed,
    /// Requested, but its runner has not confirmed in time.
    Unconfirmed,
}

impl CancelNote {
    pub fn text(self) -> &'static str {
        match self {
            CancelNote::WasQueued => "was queued: it will never start",
            CancelNote::AlreadyFinished => "had already finished: nothing to cancel",
            CancelNote::Requested => "cancel requested",
            CancelNote::Killed => "killed",
            CancelNote::Unconfirmed => "cancel requested; its runner has not confirmed yet",
        }
    }
}

/// The profiles a backend offers, and (locally) the ones that failed to load.
pub struct ProfileReport {
    pub list: ProfileList,
    /// `(name, error)` of broken profiles (only the local engine reports them).
    pub broken: Vec<(String, String)>,
}

impl Backend {
    pub fn is_local(&self) -> bool {
        matches!(self, Backend::Local(_))
    }

    /// "the local engine (store ...)" or "the agenticore server at URL".
    pub fn describe(&self) -> String {
        match self {
            Backend::Local(l) => {
                format!("the local engine (store {})", l.engine.store().location())
            }
            Backend::Remote(c) => format!("the agenticore server at {}", c.base_url()),
        }
    }

    /// Queue a job and return at once. `body.wait` only records the job's mode (`sync`) on the
    /// local engine; a remote call never holds (the caller follows `watch` instead, which shows
    /// progress). `keep_worktree` is a local-only option.
    pub async fn submit(&self, body: SubmitBody, keep_worktree: bool) -> Result<JobView> {
        match self {
            Backend::Local(l) => l.submit(body, keep_worktree).await,
            Backend::Remote(c) => {
                let body = SubmitBody {
                    wait: false,
                    ..body
                };
                Ok(c.submit(&body).await?.job)
            }
        }
    }

    pub async fn get(&self, id: JobId) -> Result<JobView> {
        match self {
            Backend::Local(l) => l.get(id).await,
            Backend::Remote(c) => Ok(c.get(id).await?.job),
        }
    }

    /// Newest first.
    pub async fn list(
        &self,
        status: Option<Status>,
        limit: usize,
        cursor: Option<JobId>,
    ) -> Result<JobList> {
        match self {
            Backend::Local(l) => l.list(status, limit, cursor).await,
            Backend::Remote(c) => c.list(limit, status, cursor).await,
        }
    }

    /// Cancel a job; with `wait`, return once it is really over (or the wait timed out).
    pub async fn cancel(&self, id: JobId, wait: bool) -> Result<(JobView, CancelNote)> {
        match self {
            Backend::Local(l) => l.cancel(id, wait).await,
            Backend::Remote(c) => {
                let before = c.get(id).await?.job;
                if before.status.is_terminal() {
                    return Ok((before, CancelNote::AlreadyFinished));
                }
                let wait = wait && before.status == Status::Running;
                let after = if wait {
                    // The server waits for the runner's kill; do not hang on a stuck one.
                    match tokio::time::timeout(REMOTE_CANCEL_WAIT, c.cancel(id, true)).await {
                        Ok(r) => r?.job,
                        Err(_) => c.get(id).await?.job,
                    }
                } else {
                    c.cancel(id, false).await?.job
                };
                let note = if before.status == Status::Queued && after.status == Status::Cancelled {
                    CancelNote::WasQueued
                } else if after.status.is_terminal() {
                    CancelNote::Killed
                } else if wait {
                    CancelNote::Unconfirmed
                } else {
                    CancelNote::Requested
                };
                Ok((after, note))
            }
        }
    }

    /// Ask for a job to stop and return at once (Ctrl-C of `submit --wait`).
    pub async fn request_cancel(&self, id: JobId, reason: &str) -> Result<()> {
        match self {
            Backend::Local(l) => l.engine.cancel(id, reason).await.map(|_| ())?,
            Backend::Remote(c) => c.cancel(id, false).await.map(|_| ())?,
        }
        Ok(())
    }

    pub async fn profiles(&self) -> Result<ProfileReport> {
        match self {
            Backend::Local(l) => Ok(l.profiles()),
            Backend::Remote(c) => Ok(ProfileReport {
                list: c.profiles().await?,
                broken: Vec::new(),
            }),
        }
    }

    /// The daemon's health; locally, the same facts about the local store.
    pub async fn health(&self) -> Result<Health> {
        match self {
            Backend::Local(l) => l.health().await,
            Backend::Remote(c) => c.health().await,
        }
    }

    /// Job counts, success rate, cost, tokens and run time of the jobs created at or after
    /// `since` (every job the store holds when `None`); from the daemon's `GET /stats` or the
    /// local store.
    pub async fn stats(&self, since: Option<chrono::DateTime<chrono::Utc>>) -> Result<Stats> {
        match self {
            Backend::Local(l) => l.stats(since).await,
            Backend::Remote(c) => c.stats(since).await,
        }
    }

    /// A cheap "anything new?" number that changes when jobs change: locally the store's
    /// change counter (no job is read); for a daemon, the same counter from its `/health`
    /// (`changes`), or its queued and running counts from a daemon that has none.
    pub async fn changes(&self) -> Result<u64> {
        match self {
            Backend::Local(l) => {
                let store = l.engine.store();
                match store.version().await? {
                    Some(v) => Ok(v),
                    None => {
                        let c = store.counts().await?;
                        Ok(load_number(
                            c.queued,
                            c.running,
                            c.succeeded + c.failed + c.cancelled,
                        ))
                    }
                }
            }
            Backend::Remote(c) => {
                let h = c.health().await?;
                Ok(h.changes
                    .unwrap_or_else(|| load_number(h.queued, h.running, 0)))
            }
        }
    }

    /// The job's whole log (JSON lines); `None` when it has none yet (it has not started).
    pub async fn logs(&self, id: JobId) -> Result<Option<String>> {
        match self {
            Backend::Local(l) => l.logs(id).await,
            Backend::Remote(c) => {
                let text = c.logs(id, None).await?;
                Ok((!text.is_empty()).then_some(text))
            }
        }
    }

    /// The job's log lines from the start, then new ones as they come, until the job ends.
    pub async fn follow_logs(&self, id: JobId) -> Result<LogFollow> {
        match self {
            Backend::Local(l) => l.follow_logs(id).await,
            Backend::Remote(c) => {
                // Fail early (404, 401) rather than inside the stream.
                c.get(id).await?;
                Ok(LogFollow {
                    inner: FollowInner::Remote(Box::pin(c.events(id, None))),
                })
            }
        }
    }

    /// Progress of a job until it is terminal. With `run_here` (local only) this process runs
    /// the job itself instead of leaving it to a worker.
    pub async fn watch(&self, id: JobId, run_here: bool) -> Result<Watch> {
        let inner = match self {
            Backend::Local(l) => l.watch(id, run_here),
            Backend::Remote(c) => WatchInner::Remote {
                client: c.clone(),
                stream: Some(Box::pin(c.events(id, None))),
                state: Box::default(),
                poll: tokio::time::interval(Duration::from_millis(500)),
            },
        };
        Ok(Watch {
            id,
            inner,
            pending: VecDeque::new(),
        })
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<SseEvent>> + Send>>;

/// One step of a job's progress.
#[derive(Debug, Clone)]
pub enum Update {
    /// A progress event (the engine's own, or parsed from the daemon's log stream).
    Event(JobEvent),
    /// A fresh look at the job (it is not terminal).
    Snapshot(JobView),
    /// The job is over; its final record.
    Done(JobView),
}

/// A job's progress as a sequence of `Update`s ending with `Done`.
pub struct Watch {
    id: JobId,
    inner: WatchInner,
    pending: VecDeque<Update>,
}

pub(crate) enum WatchInner {
    Local(local::LocalWatch),
    Remote {
        client: ApiClient,
        /// `None` once the event stream failed: then the job is polled.
        stream: Option<EventStream>,
        state: Box<StreamState>,
        poll: tokio::time::Interval,
    },
}

impl Watch {
    pub fn id(&self) -> JobId {
        self.id
    }

    /// The next update. Cancel-safe: it may be dropped in a `select!` and called again.
    pub async fn next(&mut self) -> Result<Update> {
        loop {
            if let Some(u) = self.pending.pop_front() {
                return Ok(u);
            }
            let id = self.id;
            match &mut self.inner {
                WatchInner::Local(w) => return w.next(id).await,
                WatchInner::Remote {
                    client,
                    stream,
                    state,
                    poll,
                } => match stream {
                    Some(s) => match s.next().await {
                        Some(Ok(ev)) => {
                            self.pending.extend(updates_of(id, &ev, state)?);
                        }
                        Some(Err(e)) => {
                            tracing::warn!("progress events unavailable ({e}); polling the job");
                            *stream = None;
                        }
                        None => *stream = None,
                    },
                    None => {
                        poll.tick().await;
                        let job = client.get(id).await?.job;
                        return Ok(if job.status.is_terminal() {
                            Update::Done(job)
                        } else {
                            Update::Snapshot(job)
                        });
                    }
                },
            }
        }
    }

    /// Stop watching (locally: stop the in-process scheduler and wait for it).
    pub async fn close(self) {
        if let WatchInner::Local(w) = self.inner {
            w.close().await;
        }
    }
}

/// What one event of the daemon's stream means for the display.
fn updates_of(id: JobId, ev: &SseEvent, state: &mut StreamState) -> Result<Vec<Update>> {
    if ev.event == "job" {
        let job: JobView = serde_json::from_str(&ev.data)
            .map_err(|e| ClientError::Server(200, format!("bad final job event: {e}")))?;
        return Ok(vec![Update::Done(job)]);
    }
    let mut out = Vec::new();
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&ev.data)
        && v.get("type").and_then(|t| t.as_str()) == Some("agenticore")
    {
        let status = |status, detail: Option<String>| {
            Update::Event(JobEvent::new(id, EventKind::Status { status, detail }))
        };
        let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        match text("event").as_deref() {
            Some("status") => {
                if let Some(st) = text("status").and_then(|s| s.parse::<Status>().ok()) {
                    out.push(status(st, text("error")));
                }
            }
            Some("cancel") => out.push(status(
                Status::Running,
                Some(format!(
                    "cancelling ({})",
                    text("reason").unwrap_or_else(|| "requested".into())
                )),
            )),
            _ => {}
        }
        return Ok(out);
    }
    out.extend(
        state
            .feed(&ev.data)
            .into_iter()
            .map(|k| Update::Event(JobEvent::new(id, k))),
    );
    Ok(out)
}

/// A job's log lines as they come.
pub struct LogFollow {
    pub(crate) inner: FollowInner,
}

pub(crate) enum FollowInner {
    Local(tokio::sync::mpsc::Receiver<Result<String>>),
    Remote(EventStream),
}

impl LogFollow {
    /// The next log line (without its newline); `None` once the job is over and all is read.
    pub async fn next(&mut self) -> Option<Result<String>> {
        match &mut self.inner {
            FollowInner::Local(rx) => rx.recv().await,
            FollowInner::Remote(s) => match s.next().await? {
                Ok(ev) if ev.event == "job" => None,
                Ok(ev) => Some(Ok(ev.data)),
                Err(e) => Some(Err(e)),
            },
        }
    }
}

/// Counts folded into one change number.
fn load_number(queued: u64, running: u64, done: u64) -> u64 {
    queued
        .wrapping_mul(1 << 42)
        .wrapping_add(running.wrapping_mul(1 << 21))
        .wrapping_add(done)
}

/// The `pod_name` of the seed's job JSON: the host this runs on.
pub fn pod_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sse(event: &str, data: &str) -> SseEvent {
        SseEvent {
            id: Some("1".into()),
            event: event.into(),
            data: data.into(),
        }
    }

    #[test]
    fn log_lines_become_progress_events() {
        let id = JobId::new();
        let mut st = StreamState::default();
        let u = updates_of(
            id,
            &sse(
                "agenticore",
                r#"{"type":"agenticore","event":"status","status":"running","node":"n"}"#,
            ),
            &mut st,
        )
        .expect("ok");
        assert!(matches!(
            &u[..],
            [Update::Event(JobEvent {
                kind: EventKind::Status {
                    status: Status::Running,
                    ..
                },
                ..
            })]
        ));
        let line =
            r#"{"type":"assistant","message":{"id":"m1","content":[{"type":"text","text":"Hi"}]}}"#;
        let u = updates_of(id, &sse("assistant", line), &mut st).expect("ok");
        assert!(
            u.iter().any(|u| matches!(
                u,
                Update::Event(JobEvent {
                    kind: EventKind::Turn { turns: 1 },
                    ..
                })
            )),
            "{u:?}"
        );
        let u = updates_of(id, &sse("job", "not json"), &mut st);
        assert!(u.is_err());
    }
}
