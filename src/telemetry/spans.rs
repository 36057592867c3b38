//! agenticore's own job lifecycle as OpenTelemetry spans, exported over OTLP/HTTP (protobuf)
//! when `otel.traces_endpoint` (`AGENTICORE_OTEL_TRACES_ENDPOINT`) is set.
//!
//! The engine opens `tracing` spans with the target [`TARGET`] (a `job` root per run, with
//! children for its phases); [`JobSpans::layer`] turns exactly those, and nothing else, into
//! OpenTelemetry spans. A batch span processor (its own thread) hands them to
//! [`OtlpHttpExporter`], which POSTs them to `{endpoint}/v1/traces` on the Tokio runtime with a
//! short timeout. A job never waits for the collector: a slow or dead one costs dropped spans
//! and one warning per outage, nothing else.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter,
};
use prost::Message as _;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;

use crate::config::mask_url;

/// The `tracing` target of the job lifecycle spans: only spans of this target are exported.
/// (Not `agenticore::job`: that is a module, whose log lines must stay logs.)
pub const TARGET: &str = "agenticore::lifecycle";

/// Time limit of one export request (connecting included).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long [`JobSpans::shutdown`] waits for the last spans to go out.
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(3);
/// How often finished spans are sent.
const SEND_EVERY: Duration = Duration::from_secs(2);
/// Spans waiting to be sent; more are dropped (a collector that is down must not grow memory).
const MAX_QUEUED: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum SpansError {
    #[error("the traces endpoint {0} is not an http:// or https:// URL")]
    BadEndpoint(String),
    #[error("cannot build the HTTP client of the span exporter: {0}")]
    Client(String),
}

/// The URL spans are POSTed to: `{endpoint}/v1/traces`, unless `endpoint` already ends so.
pub fn traces_url(endpoint: &str) -> Result<String, SpansError> {
    let base = endpoint.trim();
    let lower = base.to_ascii_lowercase();
    let (_, rest) = base
        .split_once("://")
        .filter(|_| lower.starts_with("http://") || lower.starts_with("https://"))
        .ok_or_else(|| SpansError::BadEndpoint(mask_url(base)))?;
    if rest.is_empty() || base.contains(char::is_whitespace) {
        return Err(SpansError::BadEndpoint(mask_url(base)));
    }
    let base = base.trim_end_matches('/');
    Ok(if base.ends_with("/v1/traces") {
        base.to_string()
    } else {
        format!("{base}/v1/traces")
    })
}

/// What the spans say about where they come from.
#[derive(Debug, Clone)]
pub struct SpanSource {
    /// `service.instance.id`: the node name (`host:pid`).
    pub instance_id: Option<String>,
    /// Sent as `X-API-Key`: only when the endpoint is agenticore's own receiver (a key of
    /// this very configuration, going back to it).
    pub own_api_key: Option<String>,
}

/// The tracer provider of the job spans; keep it to [`shutdown`](JobSpans::shutdown) at exit.
#[derive(Debug)]
pub struct JobSpans {
    provider: SdkTracerProvider,
}

impl JobSpans {
    /// Spans of this process go to `endpoint` (see [`traces_url`]); the requests run on
    /// `runtime`. Must be called before any job span is opened.
    pub fn start(
        endpoint: &str,
        runtime: tokio::runtime::Handle,
        source: SpanSource,
    ) -> Result<JobSpans, SpansError> {
        let mut exporter = OtlpHttpExporter::new(endpoint, runtime)?;
        exporter.api_key = source.own_api_key.clone();
        let mut attrs = vec![
            KeyValue::new("service.name", "agenticore"),
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
        ];
        if let Some(id) = source.instance_id {
            attrs.push(KeyValue::new("service.instance.id", id));
        }
        let resource = Resource::builder_empty().with_attributes(attrs).build();
        let batch = BatchConfigBuilder::default()
            .with_max_queue_size(MAX_QUEUED)
            .with_scheduled_delay(SEND_EVERY)
            .build();
        let processor = BatchSpanProcessor::new(exporter, batch);
        let provider = SdkTracerProvider::builder()
            .with_resource(resource)
            .with_span_processor(processor)
            .build();
        Ok(JobSpans { provider })
    }

    /// The `tracing` layer that makes OpenTelemetry spans of the job lifecycle spans (target
    /// [`TARGET`]) and of nothing else.
    pub fn layer<S>(&self) -> impl Layer<S> + Send + Sync + 'static
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        let tracer = self.provider.tracer("agenticore");
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_target(false)
            .with_filter(Targets::new().with_target(TARGET, tracing::Level::TRACE))
    }

    /// Send what is still queued, waiting at most [`SHUTDOWN_WAIT`]. The runtime given to
    /// `start` must still be alive.
    pub fn shutdown(&self) {
        if let Err(e) = self.provider.shutdown_with_timeout(SHUTDOWN_WAIT) {
            tracing::debug!("job spans: shutdown: {e}");
        }
    }
}

/// A [`SpanExporter`] that POSTs an OTLP `ExportTraceServiceRequest` (protobuf) per batch.
pub struct OtlpHttpExporter {
    client: reqwest::Client,
    url: String,
    /// `url` with its credentials masked: the only form that is ever logged.
    shown: String,
    runtime: tokio::runtime::Handle,
    resource: ResourceAttributesWithSchema,
    /// The last export failed: the warning was given, the next success says so.
    failing: AtomicBool,
    shut_down: AtomicBool,
    /// `X-API-Key` of agenticore's own receiver (never logged).
    api_key: Option<String>,
}

impl std::fmt::Debug for OtlpHttpExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpHttpExporter")
            .field("url", &self.shown)
            .finish_non_exhaustive()
    }
}

impl OtlpHttpExporter {
    pub fn new(endpoint: &str, runtime: tokio::runtime::Handle) -> Result<Self, SpansError> {
        let url = traces_url(endpoint)?;
        // reqwest is built without a default TLS crypto provider; ring is ours.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            // A collector answers; a redirect would be an error (and must not carry the body
            // and credentials elsewhere).
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("agenticore/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SpansError::Client(e.without_url().to_string()))?;
        Ok(OtlpHttpExporter {
            client,
            shown: mask_url(&url),
            url,
            runtime,
            resource: ResourceAttributesWithSchema::default(),
            failing: AtomicBool::new(false),
            shut_down: AtomicBool::new(false),
            api_key: None,
        })
    }

    /// The protobuf body of one batch.
    fn encode(&self, batch: Vec<SpanData>) -> Vec<u8> {
        ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(batch, &self.resource),
        }
        .encode_to_vec()
    }
}

/// One failed export, worded without the URL (it may hold credentials).
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    // The innermost cause says most (connection refused, DNS, TLS); never the URL.
    while let Some(s) = source {
        if s.source().is_none() {
            text.push_str(": ");
            text.push_str(&s.to_string());
        }
        source = s.source();
    }
    text
}

impl SpanExporter for OtlpHttpExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        if self.shut_down.load(Ordering::Relaxed) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        let count = batch.len();
        let body = self.encode(batch);
        let mut request = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
            .body(body);
        if let Some(key) = &self.api_key {
            request = request.header("x-api-key", key);
        }
        // reqwest needs the Tokio runtime; this runs on the batch processor's own thread.
        let sent = self.runtime.spawn(async move {
            match request.send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err(format!("the collector answered {}", r.status())),
                Err(e) => Err(describe(&e)),
            }
        });
        let result = match sent.await {
            Ok(r) => r,
            Err(e) => Err(format!("the export was interrupted: {e}")),
        };
        match result {
            Ok(()) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(url = %self.shown, "job spans: exporting again");
                }
                Ok(())
            }
            Err(why) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "job spans: cannot export to {}: {why}; dropping spans until it answers",
                        self.shown
                    );
                } else {
                    tracing::debug!(spans = count, "job spans: export failed: {why}");
                }
                Err(OTelSdkError::InternalFailure(why))
            }
        }
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.shut_down.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = ResourceAttributesWithSchema::from(resource);
    }
}

// ---------------------------------------------------------------------------------------------
// The spans the engine opens.

/// Longest `otel.status_description` of a span (an error can quote a long stderr).
const MAX_DESCRIPTION: usize = 1000;

/// The root span of one run of `job` on `node`: `job.id`, `job.profile`, `job.repo` (without
/// credentials), `job.base_ref`, `job.queue_wait_ms` (queued to claimed) at the start; the end is
/// recorded by [`record_end`]. It has no parent: each run is its own trace.
pub fn job_span(job: &crate::job::Job, node: &str) -> tracing::Span {
    use tracing::field::Empty;
    let span = tracing::info_span!(
        target: TARGET,
        parent: None,
        "job",
        job.id = %job.id,
        // What agenticore's OTLP receiver links a row to its job by.
        agenticore.job_id = %job.id,
        job.profile = %job.spec.profile,
        job.node = %node,
        job.repo = Empty,
        job.base_ref = Empty,
        job.queue_wait_ms = Empty,
        job.status = Empty,
        job.exit_code = Empty,
        job.cost_usd = Empty,
        job.num_turns = Empty,
        job.pr_url = Empty,
        otel.status_code = Empty,
        otel.status_description = Empty,
    );
    if span.is_disabled() {
        return span;
    }
    if let Some(repo) = &job.spec.repo_url {
        span.record("job.repo", mask_url(repo));
    }
    if let Some(base) = &job.spec.base_ref {
        span.record("job.base_ref", base.as_str());
    }
    if let Some(started) = job.state.started_at() {
        let waited = (started - job.created_at).num_milliseconds().max(0);
        span.record("job.queue_wait_ms", waited);
    }
    span
}

/// How the run of `span` ([`job_span`]) ended: status, exit code, cost, turns, pull request;
/// a failed job's span has the error status with the error as its description.
pub fn record_end(
    span: &tracing::Span,
    outcome: &crate::job::Outcome,
    progress: &crate::job::Progress,
) {
    use crate::job::Outcome;
    if span.is_disabled() {
        return;
    }
    span.record("job.status", outcome.status().as_str());
    if let Some(code) = exit_code(outcome) {
        span.record("job.exit_code", i64::from(code));
    }
    if let Some(cost) = progress.cost_usd {
        span.record("job.cost_usd", cost);
    }
    if let Some(turns) = progress.num_turns {
        // Integers are i64: tracing-opentelemetry records a u64 as text.
        span.record("job.num_turns", i64::try_from(turns).unwrap_or(i64::MAX));
    }
    if let Some(url) = &progress.pr_url {
        span.record("job.pr_url", url.as_str());
    }
    match outcome {
        Outcome::Failed { error: e, .. } => {
            span.record("otel.status_code", "error");
            span.record("otel.status_description", truncate(e, MAX_DESCRIPTION));
        }
        Outcome::Succeeded { .. } | Outcome::Cancelled { .. } => {
            span.record("otel.status_code", "ok");
        }
    }
}

/// The exit code of claude in `outcome`, if it exited.
pub fn exit_code(outcome: &crate::job::Outcome) -> Option<i32> {
    use crate::job::Outcome;
    match outcome {
        Outcome::Succeeded { exit_code } => Some(*exit_code),
        Outcome::Failed { exit_code, .. } | Outcome::Cancelled { exit_code, .. } => *exit_code,
    }
}

/// Mark a phase span failed with `error` (a no-op when spans are off).
pub fn record_error(span: &tracing::Span, error: &str) {
    if !span.is_disabled() {
        span.record("otel.status_code", "error");
        span.record("otel.status_description", truncate(error, MAX_DESCRIPTION));
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_url() {
        let ok = |e: &str| traces_url(e).expect(e);
        assert_eq!(ok("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(ok(" https://c:4318/ "), "https://c:4318/v1/traces");
        assert_eq!(ok("http://c/otlp"), "http://c/otlp/v1/traces");
        assert_eq!(ok("http://c:4318/v1/traces"), "http://c:4318/v1/traces");
        assert_eq!(ok("HTTP://c:4318"), "HTTP://c:4318/v1/traces");
        for bad in ["grpc://c:4317", "c:4318", "http://", "", "http://a b"] {
            assert!(traces_url(bad).is_err(), "{bad}");
        }
        let err = traces_url("ftp://u:secret@c").expect_err("ftp");
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
