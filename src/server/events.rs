//! `GET /jobs/{id}/events`: Server-Sent Events of a job's progress.
//!
//! The job's log file is its event journal (see `engine::joblog`), so this endpoint works for
//! jobs run by any process on the store, and resumes exactly: each log line is one event whose
//! id is its line number (`Last-Event-ID: 12` resumes at line 13). The event type is the line's
//! `type` (claude's `system`, `assistant`, `user`, `result`, or `agenticore` for our own lines:
//! status changes, spawn, cancel, timeout, stderr). When the job is terminal and its log has
//! been sent, a last `job` event carries the final job JSON, and the stream ends.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;

use super::AppState;
use super::rest::{ApiError, JobIdPath};
use crate::api::JobView;
use crate::engine::joblog::{Followed, LogFollower};

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
        log: LogFollower::new(&state.engine, job_id).until(state.shutdown.clone()),
        pod_name: state.pod_name.clone(),
        after,
        line_no: 0,
        done: false,
    };
    Ok(Sse::new(follower.into_stream())
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

/// Turns the lines of one job's log into numbered events, then the final job.
struct Follower {
    log: LogFollower,
    pod_name: std::sync::Arc<str>,
    /// Skip lines up to and including this one (Last-Event-ID).
    after: u64,
    line_no: u64,
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
            match self.log.next().await {
                Ok(Followed::Line(line)) => {
                    self.line_no += 1;
                    if self.line_no <= self.after || line.trim().is_empty() {
                        continue;
                    }
                    return Some(line_event(self.line_no, &line));
                }
                Ok(Followed::End(job)) => {
                    self.done = true;
                    let view = JobView::from_job(&job, &self.pod_name);
                    let data = serde_json::to_string(&view).unwrap_or_default();
                    return Some(Event::default().event("job").data(data));
                }
                // The server is stopping (the client resumes later with Last-Event-ID), or
                // the log or the store failed: end the stream.
                Ok(Followed::Stopped) | Err(_) => {
                    self.done = true;
                    return None;
                }
            }
        }
    }
}

fn line_event(n: u64, line: &str) -> Event {
    let kind = serde_json::from_str::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v.get("type")?.as_str().map(str::to_string))
        .unwrap_or_else(|| "log".to_string());
    Event::default().id(n.to_string()).event(kind).data(line)
}
