//! The OTLP/HTTP receiver on the `serve` port: `POST /v1/metrics`, `/v1/logs`, `/v1/traces`,
//! protobuf or JSON, gzip/deflate or not. Claude Code can export straight to it, or an
//! OpenTelemetry Collector can forward to it (`otlphttp` exporter). What it takes goes to the
//! PostgreSQL sink (`agenticore_otel_metrics`, `_events`, `_spans`), linked to its job.
//!
//! Answers follow the OTLP/HTTP specification: 200 with an `Export*ServiceResponse` (a
//! partial success names what was not kept and why), 400 for a body that does not decode,
//! 413 past [`MAX_BODY_BYTES`], 415 for another media type, 503 with `Retry-After` while the
//! sink's queue is full; errors carry a `google.rpc.Status` in the request's encoding.
//!
//! Auth: an API key as on every route, or (here only) a job's ingest token
//! ([`crate::telemetry::job_token`]); rows sent with a token belong to the token's job.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use uuid::Uuid;

use super::AppState;
use crate::telemetry::Refused;
use crate::telemetry::otel_rows::flatten;
use crate::telemetry::otlp::{
    DecodeError, Encoding, MAX_BODY_BYTES, Signal, code, decode, error_body, success_body,
};

/// Seconds a sender is asked to wait when the sink's queue is full.
const RETRY_AFTER_SECONDS: u64 = 5;

/// Set by the auth middleware when the request came with a valid job ingest token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestJob(pub Uuid);

/// Is `path` one of the receiver's routes?
pub fn is_otlp_path(path: &str) -> bool {
    Signal::ALL.iter().any(|s| s.path() == path)
}

pub fn router(state: AppState) -> Router {
    let mut r = Router::new();
    for s in Signal::ALL {
        r = r.route(
            s.path(),
            post(move |st: State<AppState>, req: Request| ingest(st, s, req)),
        );
    }
    r.with_state(state)
}

/// How a request was answered (a label of `agenticore_otlp_requests_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Accepted,
    /// 200, but nothing stored (no `POSTGRES_URL`).
    Partial,
    Malformed,
    /// 503: the queue is full.
    Unavailable,
}

impl Answer {
    pub const ALL: [Answer; 4] = [
        Answer::Accepted,
        Answer::Partial,
        Answer::Malformed,
        Answer::Unavailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Answer::Accepted => "accepted",
            Answer::Partial => "partial",
            Answer::Malformed => "malformed",
            Answer::Unavailable => "unavailable",
        }
    }
}

/// What became of a request's items (a label of `agenticore_otlp_items_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemOutcome {
    Queued,
    /// Not stored: no `POSTGRES_URL`.
    Rejected,
    /// The queue was full.
    Dropped,
}

impl ItemOutcome {
    pub const ALL: [ItemOutcome; 3] = [
        ItemOutcome::Queued,
        ItemOutcome::Rejected,
        ItemOutcome::Dropped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ItemOutcome::Queued => "queued",
            ItemOutcome::Rejected => "rejected",
            ItemOutcome::Dropped => "dropped",
        }
    }
}

/// Counters for `/metrics`, per signal (indexed by the enums' order).
#[derive(Debug, Default)]
pub struct OtlpCounters {
    requests: [[AtomicU64; Answer::ALL.len()]; Signal::ALL.len()],
    items: [[AtomicU64; ItemOutcome::ALL.len()]; Signal::ALL.len()],
    /// "No POSTGRES_URL" was logged.
    told_no_sink: AtomicBool,
}

impl OtlpCounters {
    fn request(&self, s: Signal, answer: Answer) {
        self.requests[s as usize][answer as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn item(&self, s: Signal, outcome: ItemOutcome, n: usize) {
        self.items[s as usize][outcome as usize].fetch_add(n as u64, Ordering::Relaxed);
    }

    /// `(answer, requests)` of signal `s`.
    pub fn requests(&self, s: Signal) -> Vec<(Answer, u64)> {
        let row = &self.requests[s as usize];
        Answer::ALL
            .into_iter()
            .map(|a| (a, row[a as usize].load(Ordering::Relaxed)))
            .collect()
    }

    /// `(outcome, items)` of signal `s`.
    pub fn items(&self, s: Signal) -> Vec<(ItemOutcome, u64)> {
        let row = &self.items[s as usize];
        ItemOutcome::ALL
            .into_iter()
            .map(|o| (o, row[o as usize].load(Ordering::Relaxed)))
            .collect()
    }
}

/// The message of a partial success when nothing can be stored.
pub const NO_SINK_MESSAGE: &str =
    "agenticore has no POSTGRES_URL: telemetry is received but not stored";

fn answer(status: StatusCode, encoding: Encoding, body: Vec<u8>) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(encoding.content_type()),
    );
    resp
}

fn error(status: StatusCode, encoding: Encoding, code: i32, message: String) -> Response {
    answer(status, encoding, error_body(encoding, code, &message))
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn ingest(State(state): State<AppState>, signal: Signal, req: Request) -> Response {
    let counters = &state.otlp;
    let forced = req.extensions().get::<IngestJob>().map(|j| j.0);
    let (parts, body) = req.into_parts();
    let content_type = header_str(&parts.headers, header::CONTENT_TYPE).unwrap_or_default();
    let encoding = match Encoding::from_content_type(content_type) {
        Ok(e) => e,
        Err(e) => {
            counters.request(signal, Answer::Malformed);
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Encoding::Json,
                code::INVALID_ARGUMENT,
                e.to_string(),
            );
        }
    };
    let bytes = match axum::body::to_bytes(Body::new(body), MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            counters.request(signal, Answer::Malformed);
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                encoding,
                code::INVALID_ARGUMENT,
                DecodeError::TooLarge.to_string(),
            );
        }
    };
    let content_encoding = header_str(&parts.headers, header::CONTENT_ENCODING).map(str::to_string);
    let sink = state.engine.telemetry_sink();
    let want_rows = sink.is_some();
    // Inflating and decoding up to 16 MiB is CPU work: off the async threads.
    let decoded = tokio::task::spawn_blocking(move || {
        let export = decode(signal, encoding, content_encoding.as_deref(), &bytes)?;
        let rows = want_rows.then(|| flatten(&export, forced));
        Ok::<_, DecodeError>((export.items(), rows))
    })
    .await;
    let (items, rows) = match decoded {
        Ok(Ok(decoded)) => decoded,
        Ok(Err(e)) => {
            counters.request(signal, Answer::Malformed);
            let status = match e {
                DecodeError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                DecodeError::MediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                DecodeError::ContentEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                DecodeError::Malformed { .. } => StatusCode::BAD_REQUEST,
            };
            tracing::debug!(signal = signal.as_str(), "OTLP request refused: {e}");
            return error(status, encoding, code::INVALID_ARGUMENT, e.to_string());
        }
        Err(e) => {
            tracing::error!(signal = signal.as_str(), "OTLP decoding failed: {e}");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                encoding,
                code::INTERNAL,
                "the request could not be decoded".to_string(),
            );
        }
    };
    let (Some(sink), Some(rows)) = (sink, rows) else {
        if !counters.told_no_sink.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "OTLP telemetry received, but POSTGRES_URL is not set: it is not stored \
                 (senders are told so in each answer)"
            );
        }
        counters.request(signal, Answer::Partial);
        counters.item(signal, ItemOutcome::Rejected, items);
        let rejected = i64::try_from(items).unwrap_or(i64::MAX);
        return answer(
            StatusCode::OK,
            encoding,
            success_body(signal, encoding, rejected, NO_SINK_MESSAGE),
        );
    };
    match sink.send_telemetry(rows) {
        Ok(()) => {
            counters.request(signal, Answer::Accepted);
            counters.item(signal, ItemOutcome::Queued, items);
            answer(
                StatusCode::OK,
                encoding,
                success_body(signal, encoding, 0, ""),
            )
        }
        Err(why) => {
            counters.request(signal, Answer::Unavailable);
            counters.item(signal, ItemOutcome::Dropped, items);
            let mut resp = error(
                StatusCode::SERVICE_UNAVAILABLE,
                encoding,
                code::UNAVAILABLE,
                why.to_string(),
            );
            if why == Refused::QueueFull {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
            }
            resp
        }
    }
}
