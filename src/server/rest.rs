//! The seed's REST routes: `POST/GET /jobs`, `GET/DELETE /jobs/{id}`, `GET /profiles`,
//! `GET /health`, plus `GET /jobs/{id}/logs` (and `/jobs/{id}/events`, in `events.rs`) and
//! `GET /stats`.
//!
//! Every answer is one of the typed wire structs of `crate::api`; every error is an
//! `ErrorBody` with the right status, never axum's plain-text rejections.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path as FsPath;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Path, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::de::DeserializeOwned;

use super::AppState;
use crate::api::{
    ErrorBody, Health, JobEnvelope, JobList, JobView, ProfileList, Stats, SubmitBody,
};
use crate::engine::{EngineError, SubmitRequest};
use crate::job::{Job, JobId, Status};
use crate::store::{CancelOutcome, ListFilter, StoreError};

/// Largest request body accepted (413 above).
pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;
/// `GET /jobs` without `limit`.
pub const DEFAULT_LIST_LIMIT: usize = 20;
/// At most this much of a caller's text is echoed back in an error.
const ECHO_CHARS: usize = 100;
/// `/health` answers "degraded" when the store does not answer within this.
const HEALTH_STORE_TIMEOUT: Duration = Duration::from_secs(2);
/// Seed statuses agenticore never produces: filtering on them lists nothing.
const SEED_ONLY_STATUSES: &[&str] = &["rejected", "expired"];

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/jobs", get(list_jobs).post(submit_job))
        .route("/jobs/{id}", get(get_job).delete(cancel_job))
        .route("/jobs/{id}/logs", get(job_logs))
        .route("/jobs/{id}/events", get(super::events::job_events))
        .route("/profiles", get(list_profiles))
        .route("/stats", get(get_stats))
        .route("/health", get(health))
        .with_state(state)
}

// ---------------------------------------------------------------------------------------------
// Errors

/// An error answer: a status and the `ErrorBody` message.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// The seed's `Job not found: <id>`, with at most `ECHO_CHARS` of the id.
    pub fn job_not_found(raw_id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("Job not found: {}", clip(raw_id, ECHO_CHARS)),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorBody::new(self.message))).into_response()
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> ApiError {
        match e {
            EngineError::Invalid(m) => ApiError::bad_request(m),
            EngineError::NotFound(id) => ApiError::job_not_found(&id),
            EngineError::Store(e) => {
                let status = match e {
                    StoreError::Unreachable { .. } | StoreError::Backend { .. } => {
                        StatusCode::SERVICE_UNAVAILABLE
                    }
                    StoreError::Duplicate(_) | StoreError::Corrupt { .. } => {
                        StatusCode::INTERNAL_SERVER_ERROR
                    }
                };
                tracing::warn!("job store error: {e}");
                ApiError::new(status, e.to_string())
            }
        }
    }
}

/// At most `n` characters of `s`, with `...` when cut.
pub fn clip(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Extractors

/// A JSON object body whose every failure is an `ErrorBody`: 415 without a JSON content type, 413
/// over the body limit, 400 for anything unparsable. The content type is required so that a
/// web page cannot submit jobs to a local server with a "simple" cross-site request.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => too_large(),
                _ => ApiError::bad_request("could not read the request body"),
            })?;
        let invalid = |e: serde_json::Error| {
            ApiError::bad_request(format!(
                "invalid request body: {}",
                clip(&e.to_string(), 200)
            ))
        };
        // An object, not anything serde would map onto a struct (it takes `["t"]` too).
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(invalid)?;
        if !value.is_object() {
            return Err(ApiError::bad_request(
                "invalid request body: expected a JSON object",
            ));
        }
        T::deserialize(value).map(ApiJson).map_err(invalid)
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "request body too large (the limit is {} bytes)",
            BODY_LIMIT_BYTES
        ),
    )
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = ct.split(';').next().unwrap_or_default().trim();
    mime.eq_ignore_ascii_case("application/json")
        || mime.rsplit_once('+').is_some_and(|(t, suffix)| {
            t.starts_with("application/") && suffix.eq_ignore_ascii_case("json")
        })
}

/// The `{id}` of a job route, parsed; anything that is not a job id is a 404 like an unknown
/// one (the seed's answer), echoing at most `ECHO_CHARS` of it.
pub struct JobIdPath(pub JobId);

impl<S: Send + Sync> FromRequestParts<S> for JobIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::job_not_found("(unreadable id)"))?;
        raw.parse::<JobId>()
            .map(JobIdPath)
            .map_err(|_| ApiError::job_not_found(&raw))
    }
}

/// Decoded `key=value` pairs of a query string (first occurrence wins in `get`).
pub struct QueryPairs(Vec<(String, String)>);

impl QueryPairs {
    pub fn parse(query: Option<&str>) -> QueryPairs {
        QueryPairs(
            form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean flag: absent, empty, `false`, `0`, `no` are false; `true`, `1`, `yes` true.
    pub fn flag(&self, key: &str) -> Result<bool, ApiError> {
        match self
            .get(key)
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("" | "false" | "0" | "no") => Ok(false),
            Some("true" | "1" | "yes") => Ok(true),
            Some(v) => Err(ApiError::bad_request(format!(
                "{key} must be true or false, not {:?}",
                clip(v, ECHO_CHARS)
            ))),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers

fn envelope(state: &AppState, job: &Job) -> Json<JobEnvelope> {
    Json(JobEnvelope {
        success: true,
        job: JobView::from_job(job, &state.pod_name),
    })
}

/// Wait until the job is terminal, or answer 503 when the server shuts down first.
async fn wait_final(state: &AppState, id: JobId) -> Result<Job, ApiError> {
    tokio::select! {
        r = state.engine.wait_terminal(id) => Ok(r?),
        () = state.shutdown.cancelled() => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the server is shutting down; job {id} goes on (GET /jobs/{id})"),
        )),
    }
}

fn given(s: Option<String>) -> Option<String> {
    s.filter(|v| !v.trim().is_empty())
}

/// Map the seed's body to an engine request. Empty strings mean "not given"; so does a
/// `timeout` of 0; the seed's default `base_ref` "main" without a repo is dropped (the seed
/// ignored it, and its clients always send it).
pub fn submit_request(body: SubmitBody) -> SubmitRequest {
    let repo_url = given(body.repo_url);
    let base_ref = given(body.base_ref).filter(|r| repo_url.is_some() || r.trim() != "main");
    SubmitRequest {
        task: body.task,
        repo_url,
        base_ref,
        profile: given(body.profile),
        session_id: given(body.session_id),
        timeout_seconds: body.timeout.filter(|t| *t > 0),
        wait: body.wait,
        keep_worktree_on_failure: false,
    }
}

/// Submit a job; with `wait: true` the answer is the finished job.
#[utoipa::path(
    post,
    path = "/jobs",
    tag = "jobs",
    request_body(content = SubmitBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Queued (or, with wait, finished) job", body = JobEnvelope),
        (status = 400, description = "Invalid body, task, repo_url, ref, profile or timeout", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = super::auth::UnauthorizedBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = ErrorBody),
        (status = 503, description = "Job store unreachable", body = ErrorBody),
    )
)]
pub async fn submit_job(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SubmitBody>,
) -> Result<Json<JobEnvelope>, ApiError> {
    let wait = body.wait;
    let job = state.engine.submit(submit_request(body)).await?;
    let job = if wait {
        wait_final(&state, job.id).await?
    } else {
        job
    };
    Ok(envelope(&state, &job))
}

/// What a `status` filter of a job listing asks for (shared by `GET /jobs` and MCP `list_jobs`).
pub enum StatusFilter {
    /// No filter.
    Any,
    Only(Status),
    /// A seed status agenticore never produces: the list is empty.
    Never,
}

/// Parse a `status` filter: absent or empty is no filter; a seed-only status lists nothing.
pub fn status_filter(raw: Option<&str>) -> Result<StatusFilter, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(StatusFilter::Any),
        Some(s) if SEED_ONLY_STATUSES.iter().any(|x| x.eq_ignore_ascii_case(s)) => {
            Ok(StatusFilter::Never)
        }
        Some(s) => s.parse::<Status>().map(StatusFilter::Only).map_err(|_| {
            ApiError::bad_request(format!(
                "unknown status {:?} (expected one of: queued, running, succeeded, failed, cancelled)",
                clip(s, ECHO_CHARS)
            ))
        }),
    }
}

/// The filter of `GET /jobs`, or `None` when it asks for a status that never exists here.
fn list_filter(q: &QueryPairs) -> Result<Option<ListFilter>, ApiError> {
    let limit = match q.get("limit").map(str::trim) {
        None | Some("") => DEFAULT_LIST_LIMIT,
        Some(s) if s.bytes().all(|b| b.is_ascii_digit()) => {
            // All digits but too big for usize: as many as allowed (the engine clamps).
            s.parse::<usize>().unwrap_or(usize::MAX)
        }
        Some(s) => {
            return Err(ApiError::bad_request(format!(
                "limit must be a positive integer, not {:?}",
                clip(s, ECHO_CHARS)
            )));
        }
    };
    if limit == 0 {
        return Err(ApiError::bad_request("limit must be at least 1"));
    }
    let status = match status_filter(q.get("status"))? {
        StatusFilter::Any => None,
        StatusFilter::Only(s) => Some(s),
        StatusFilter::Never => return Ok(None),
    };
    let cursor = match q.get("cursor").map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(s.parse::<JobId>().map_err(|_| {
            ApiError::bad_request(format!(
                "cursor {:?} is not a job id (pass the cursor of the previous page)",
                clip(s, ECHO_CHARS)
            ))
        })?),
    };
    Ok(Some(ListFilter {
        status,
        limit,
        cursor,
    }))
}

/// Jobs, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/jobs",
    tag = "jobs",
    params(
        ("limit" = Option<usize>, Query, description = "Page size (default 20, at most 1000)"),
        ("status" = Option<String>, Query, description = "queued, running, succeeded, failed or cancelled"),
        ("cursor" = Option<String>, Query, description = "The cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of jobs, newest first", body = JobList),
        (status = 400, description = "Bad limit, status or cursor", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = super::auth::UnauthorizedBody),
        (status = 503, description = "Job store unreachable", body = ErrorBody),
    )
)]
pub async fn list_jobs(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<JobList>, ApiError> {
    let q = QueryPairs::parse(query.as_deref());
    let page = match list_filter(&q)? {
        Some(filter) => state.engine.list(filter).await?,
        None => Default::default(),
    };
    let jobs: Vec<JobView> = page
        .jobs
        .iter()
        .map(|j| JobView::from_job(j, &state.pod_name))
        .collect();
    Ok(Json(JobList {
        success: true,
        count: jobs.len(),
        jobs,
        cursor: page.next_cursor.map(|c| c.to_string()),
    }))
}

/// One job.
#[utoipa::path(
    get,
    path = "/jobs/{id}",
    tag = "jobs",
    params(("id" = String, Path, description = "Job id (UUID)")),
    responses(
        (status = 200, description = "The job", body = JobEnvelope),
        (status = 401, description = "Missing or wrong API key", body = super::auth::UnauthorizedBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 503, description = "Job store unreachable", body = ErrorBody),
    )
)]
pub async fn get_job(
    State(state): State<AppState>,
    JobIdPath(id): JobIdPath,
) -> Result<Json<JobEnvelope>, ApiError> {
    let job = state.engine.get(id).await?;
    Ok(envelope(&state, &job))
}

/// Cancel a job: a queued one at once; a running one is flagged (`cancel_requested`) and
/// killed by its runner. The answer waits until the job is terminal (at most the kill grace
/// plus 15 s); `?wait=false` answers at once.
#[utoipa::path(
    delete,
    path = "/jobs/{id}",
    tag = "jobs",
    params(
        ("id" = String, Path, description = "Job id (UUID)"),
        ("wait" = Option<bool>, Query, description = "Answer once the job is terminal (default true; bounded)"),
    ),
    responses(
        (status = 200, description = "The job after the cancel", body = JobEnvelope),
        (status = 400, description = "Bad wait flag", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = super::auth::UnauthorizedBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 503, description = "Job store unreachable", body = ErrorBody),
    )
)]
pub async fn cancel_job(
    State(state): State<AppState>,
    JobIdPath(id): JobIdPath,
    RawQuery(query): RawQuery,
) -> Result<Json<JobEnvelope>, ApiError> {
    // By default the answer waits (bounded) until the job is really over, so a script that
    // checks for "cancelled" right after DELETE sees it, and its processes are dead by then.
    let q = QueryPairs::parse(query.as_deref());
    let wait = q.get("wait").is_none() || q.flag("wait")?;
    let job = match state.engine.cancel(id, "cancelled by user").await? {
        CancelOutcome::CancelledQueued(j)
        | CancelOutcome::Requested(j)
        | CancelOutcome::AlreadyFinished(j) => j,
        CancelOutcome::NotFound => return Err(ApiError::job_not_found(&id.to_string())),
    };
    let job = if wait && !job.status().is_terminal() {
        let bound = Duration::from_secs(state.engine.config().claude.kill_grace_seconds + 15);
        match tokio::time::timeout(bound, wait_final(&state, id)).await {
            Ok(r) => r?,
            // Its runner has not confirmed yet (another node, or a dying process): say so.
            Err(_) => state.engine.get(id).await?,
        }
    } else {
        job
    };
    Ok(envelope(&state, &job))
}

/// The job's log (Claude Code's stream-json lines and agenticore's own), as NDJSON.
#[utoipa::path(
    get,
    path = "/jobs/{id}/logs",
    tag = "jobs",
    params(
        ("id" = String, Path, description = "Job id (UUID)"),
        ("tail" = Option<usize>, Query, description = "Only the last N lines"),
    ),
    responses(
        (status = 200, description = "The log (empty until the job writes one)", content_type = "application/x-ndjson", body = String),
        (status = 400, description = "Bad tail", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = super::auth::UnauthorizedBody),
        (status = 404, description = "No such job", body = ErrorBody),
    )
)]
pub async fn job_logs(
    State(state): State<AppState>,
    JobIdPath(id): JobIdPath,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let q = QueryPairs::parse(query.as_deref());
    let tail = match q.get("tail").map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(s.parse::<usize>().map_err(|_| {
            ApiError::bad_request(format!(
                "tail must be a number of lines, not {:?}",
                clip(s, ECHO_CHARS)
            ))
        })?),
    };
    state.engine.get(id).await?;
    let path = crate::engine::execute::log_path(state.engine.config(), id);
    let body = match tail {
        Some(n) => {
            let bytes = tokio::task::spawn_blocking(move || read_tail(&path, n))
                .await
                .map_err(|_| {
                    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "reading the log failed")
                })?
                .map_err(log_error)?;
            Body::from(bytes)
        }
        None => match tokio::fs::File::open(&path).await {
            Ok(file) => Body::from_stream(file_stream(file)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Body::empty(),
            Err(e) => return Err(log_error(e)),
        },
    };
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

fn log_error(e: std::io::Error) -> ApiError {
    tracing::warn!("reading a job log failed: {e}");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the job log could not be read",
    )
}

/// The file in 64 KiB chunks.
fn file_stream(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send {
    use tokio::io::AsyncReadExt;
    futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

/// The last `n` lines of the file (all of it when shorter; empty when it does not exist).
/// Reads backwards in blocks, so the cost is the size of the tail, not of the file.
pub fn read_tail(path: &FsPath, n: usize) -> std::io::Result<Vec<u8>> {
    const BLOCK: u64 = 64 * 1024;
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut pos = file.metadata()?.len();
    let mut buf: Vec<u8> = Vec::new();
    while pos > 0 {
        let start = pos.saturating_sub(BLOCK);
        let mut block = vec![0u8; usize::try_from(pos - start).unwrap_or(0)];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block)?;
        block.extend_from_slice(&buf);
        buf = block;
        pos = start;
        // A final newline ends the last line; it does not start another.
        let body = buf.strip_suffix(b"\n").unwrap_or(&buf);
        if let Some(cut) = body
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, b)| **b == b'\n')
            .nth(n - 1)
            .map(|(i, _)| i + 1)
        {
            return Ok(buf[cut..].to_vec());
        }
    }
    Ok(buf)
}

/// The profiles jobs can use, as the seed lists them.
#[utoipa::path(
    get,
    path = "/profiles",
    tag = "profiles",
    responses(
        (status = 200, description = "Valid profiles, by name", body = ProfileList),
        (status = 401, description = "Missing or wrong API key", body = super::auth::UnauthorizedBody),
    )
)]
pub async fn list_profiles(State(state): State<AppState>) -> Json<ProfileList> {
    let profiles: Vec<serde_json::Value> = state
        .engine
        .profiles()
        .valid()
        .map(|p| p.summary_json())
        .collect();
    Json(ProfileList {
        success: true,
        count: profiles.len(),
        profiles,
    })
}

/// The `since` of `GET /stats` and MCP `get_stats`: absent or empty is every job the store holds.
pub fn stats_since(raw: Option<&str>) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => crate::engine::stats::parse_since(s, chrono::Utc::now())
            .map(Some)
            .map_err(|e| ApiError::bad_request(e.to_string())),
    }
}

/// Job counts, success rate, cost, tokens, turns and run time, in total and by day, profile
/// and repository, of the jobs the store holds (finished jobs expire after their TTL).
#[utoipa::path(
    get,
    path = "/stats",
    tag = "jobs",
    params(
        ("since" = Option<String>, Query, description = "Only jobs created since: a duration back from now (90m, 24h, 7d, 2w), an RFC 3339 timestamp or a date (YYYY-MM-DD, midnight UTC); default: every job the store holds"),
    ),
    responses(
        (status = 200, description = "The figures", body = Stats),
        (status = 400, description = "Bad since", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = super::auth::UnauthorizedBody),
        (status = 503, description = "Job store unreachable", body = ErrorBody),
    )
)]
pub async fn get_stats(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Stats>, ApiError> {
    let q = QueryPairs::parse(query.as_deref());
    let since = stats_since(q.get("since"))?;
    let report = state.engine.stats(since).await?;
    Ok(Json(Stats::from_report(
        &report,
        state.engine.config().repos.job_ttl_seconds,
    )))
}

/// Liveness and load; open without an API key. 503 "degraded" when the job store does not
/// answer (within 2 s).
#[utoipa::path(
    get,
    path = "/health",
    tag = "server",
    security(()),
    responses(
        (status = 200, description = "Up", body = Health),
        (status = 503, description = "Up, but degraded (`store_warning` says why): the job store is unreachable, or Redis was unreachable at start and the local SQLite file stands in, or job results of this node wait to be written", body = Health),
    )
)]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let report = state.engine.health(HEALTH_STORE_TIMEOUT).await;
    // Degraded: the store does not answer, or this node cannot see the shared queue (a
    // fallback store), or holds results the store has not taken: keep a readiness probe's
    // traffic away.
    let code = if report.ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(Health::from_report(report)))
}

/// Unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "Not found")
}

/// A known route with another method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_reads_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        assert_eq!(read_tail(&p, 3).unwrap(), b"");
        std::fs::write(&p, "a\nb\nc\n").unwrap();
        assert_eq!(read_tail(&p, 2).unwrap(), b"b\nc\n");
        assert_eq!(read_tail(&p, 3).unwrap(), b"a\nb\nc\n");
        assert_eq!(read_tail(&p, 9).unwrap(), b"a\nb\nc\n");
        assert_eq!(read_tail(&p, 0).unwrap(), b"");
        std::fs::write(&p, "a\nb\nc").unwrap();
        assert_eq!(read_tail(&p, 1).unwrap(), b"c");
        let big: String = (0..50_000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&p, &big).unwrap();
        assert_eq!(read_tail(&p, 2).unwrap(), b"line 49998\nline 49999\n");
        let t = read_tail(&p, 20_000).unwrap();
        assert_eq!(t.iter().filter(|b| **b == b'\n').count(), 20_000);
        assert!(t.starts_with(b"line 30000\n"));
    }

    #[test]
    fn list_filter_rules() {
        let f = |q: &str| list_filter(&QueryPairs::parse(Some(q)));
        assert_eq!(f("").unwrap().unwrap().limit, DEFAULT_LIST_LIMIT);
        assert_eq!(f("limit=5&status=").unwrap().unwrap().limit, 5);
        assert_eq!(
            f("limit=99999999999999999999999").unwrap().unwrap().limit,
            usize::MAX
        );
        assert!(f("status=rejected").unwrap().is_none());
        assert!(f("status=EXPIRED").unwrap().is_none());
        assert_eq!(
            f("status=Running").unwrap().unwrap().status,
            Some(Status::Running)
        );
        for bad in [
            "limit=0",
            "limit=abc",
            "limit=-1",
            "status=bogus",
            "cursor=x",
        ] {
            assert_eq!(f(bad).unwrap_err().status, StatusCode::BAD_REQUEST, "{bad}");
        }
    }

    #[test]
    fn stats_since_rules() {
        assert_eq!(stats_since(None).unwrap(), None);
        assert_eq!(stats_since(Some(" ")).unwrap(), None);
        let t = stats_since(Some("2025-01-31")).unwrap().unwrap();
        assert_eq!(crate::api::timestamp(t), "2025-01-31T00:00:00.000000+00:00");
        assert!(stats_since(Some("1d")).unwrap().is_some());
        let e = stats_since(Some("garbage")).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("\"garbage\""), "{}", e.message);
    }

    #[test]
    fn submit_mapping_treats_empty_as_absent() {
        let r = submit_request(SubmitBody {
            task: "t".into(),
            repo_url: Some("".into()),
            profile: Some(" ".into()),
            base_ref: Some("main".into()),
            wait: true,
            session_id: Some("".into()),
            timeout: Some(0),
        });
        assert_eq!(r.repo_url, None);
        assert_eq!(r.profile, None);
        assert_eq!(r.base_ref, None);
        assert_eq!(r.session_id, None);
        assert_eq!(r.timeout_seconds, None);
        assert!(r.wait);
        let r = submit_request(SubmitBody {
            task: "t".into(),
            base_ref: Some("dev".into()),
            ..Default::default()
        });
        assert_eq!(r.base_ref.as_deref(), Some("dev"));
    }

    #[test]
    fn clip_and_json_types() {
        assert_eq!(clip("abc", 2), "ab...");
        assert_eq!(clip("abc", 3), "abc");
        let mut h = HeaderMap::new();
        assert!(!is_json(&h));
        h.insert(
            header::CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        assert!(is_json(&h));
        h.insert(
            header::CONTENT_TYPE,
            "application/vnd.x+json".parse().unwrap(),
        );
        assert!(is_json(&h));
        h.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert!(!is_json(&h));
    }
}
