//! `GET /jobs/{id}/events`: Server-Sent Events of a job's progress.
//!
//! The job's log file is its event journal (see `engine::joblog`), so this endpoint works for
//! jobs run by any process on the store, and resumes exactly: each log line is one event whose
//! id is its line number (`Last-Event-ID: 12` resumes at line 13). The event type is the line's
//! `type` (claude's `system`, `assistant`, `user`, `result`, or `agenticore` for our own lines:
//! status changes, spawn, cancel, timeout, stderr). When the job is terminal and its log has
//! been sent, a last `job` event carries the final job JSON, and the stream ends.

use std::convert::Infallible;
use std::path::PathBuf;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::broadcast;

use super::AppState;
use super::rest::{ApiError, JobIdPath};
use crate::api::JobView;
use crate::engine::events::{JobEvent, next_for};
use crate::engine::execute::log_path;
use crate::job::JobId;

/// How often a follower looks for new lines when no in-process event woke it.
const POLL: Duration = Duration::from_millis(200);

pub async fn job_events(
    State(state): State<AppState>,
    JobIdPath(job_id): JobIdPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Same id parsing, 404 and store-error answers as every REST route.
    state.engine.get(job_id).await?;
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let follower = Follower {
        wake: state.engine.subscribe(),
        path: log_path(state.engine.config(), job_id),
        state,
        id: job_id,
        after,
        line_no: 0,
        reader: None,
        partial: String::new(),
        done: false,
    };
    Ok(Sse::new(follower.into_stream())
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

/// Tails one job's log and turns its lines into events.
struct Follower {
    state: AppState,
    id: JobId,
    path: PathBuf,
    /// Skip lines up to and including this one (Last-Event-ID).
    after: u64,
    line_no: u64,
    reader: Option<BufReader<tokio::fs::File>>,
    /// A line being written: kept until its newline arrives.
    partial: String,
    wake: broadcast::Receiver<JobEvent>,
    done: bool,
}

impl Follower {
    fn into_stream(self) -> impl Stream<Item = Result<Event, Infallible>> {
        futures_util::stream::unfold(self, |mut f| async move {
            let ev = f.next_event().await?;
            Some((Ok(ev), f))
        })
    }

    async fn next_event(&mut self) -> Option<Event> {
        if self.done {
            return None;
        }
        loop {
            if let Some(line) = self.read_line().await {
                self.line_no += 1;
                if self.line_no <= self.after || line.trim().is_empty() {
                    continue;
                }
                return Some(line_event(self.line_no, &line));
            }
            // Nothing new: is the job over? (Checked after a read, so the last lines written
            // before the end were already sent; one more read covers the race.)
            let job = self.state.engine.get(self.id).await.ok();
            if let Some(job) = job.filter(|j| j.status().is_terminal()) {
                if let Some(line) = self.read_line().await {
                    self.line_no += 1;
                    if self.line_no > self.after && !line.trim().is_empty() {
                        return Some(line_event(self.line_no, &line));
                    }
                    continue;
                }
                self.done = true;
                let view = JobView::from_job(&job, &self.state.pod_name);
                let data = serde_json::to_string(&view).unwrap_or_default();
                return Some(Event::default().event("job").data(data));
            }
            if self.state.shutdown.is_cancelled() {
                // The server is stopping: end the stream; the client resumes elsewhere or
                // later with Last-Event-ID.
                self.done = true;
                return None;
            }
            self.wait().await;
        }
    }

    /// The next complete line, if one is there now.
    async fn read_line(&mut self) -> Option<String> {
        if self.reader.is_none() {
            let file = tokio::fs::File::open(&self.path).await.ok()?;
            self.reader = Some(BufReader::new(file));
        }
        let reader = self.reader.as_mut()?;
        let mut buf = String::new();
        match reader.read_line(&mut buf).await {
            Ok(0) | Err(_) => None,
            Ok(_) if buf.ends_with('\n') => {
                let mut line = std::mem::take(&mut self.partial);
                line.push_str(buf.trim_end_matches(['\n', '\r']));
                Some(line)
            }
            Ok(_) => {
                self.partial.push_str(&buf);
                None
            }
        }
    }

    /// Until this engine reports something about the job, or the poll interval passes (the
    /// job may be run by another process).
    async fn wait(&mut self) {
        let id = self.id;
        let stop = self.state.shutdown.clone();
        let wake = &mut self.wake;
        let woken = next_for(wake, id);
        let _ = tokio::time::timeout(POLL, async {
            tokio::select! {
                _ = stop.cancelled() => {},
                _ = woken => {},
            }
        })
        .await;
    }
}

fn line_event(n: u64, line: &str) -> Event {
    let kind = serde_json::from_str::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v.get("type")?.as_str().map(str::to_string))
        .unwrap_or_else(|| "log".to_string());
    Event::default().id(n.to_string()).event(kind).data(line)
}
