//! `GET /openapi.json`: the OpenAPI 3.1 document of every route, generated with utoipa from the
//! handlers' `#[utoipa::path]` attributes and the wire types of `crate::api`.

use std::sync::LazyLock;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::auth::UnauthorizedBody;
use super::rest;
use crate::api::{
    ErrorBody, Health, JobEnvelope, JobList, JobView, ProfileList, Stats, StatsFigures, StatsGroup,
    SubmitBody, TokensView,
};

/// The security schemes: `X-API-Key`, `Authorization: Bearer`, `?api_key=` (any one).
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key_header",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "api_key_query",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::new("api_key"))),
        );
    }
}

/// Server-Sent Events of a job's progress (`status`, `progress`, ... events), until it ends.
/// Documented here; the handler lives in `events.rs`.
#[utoipa::path(
    get,
    path = "/jobs/{id}/events",
    tag = "jobs",
    params(("id" = String, Path, description = "Job id (UUID)")),
    responses(
        (status = 200, description = "An event stream of the job's progress", content_type = "text/event-stream", body = String),
        (status = 401, description = "Missing or wrong API key", body = UnauthorizedBody),
        (status = 404, description = "No such job", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn job_events_doc() {}

macro_rules! otlp_doc {
    ($name:ident, $path:literal, $what:literal) => {
        #[doc = concat!("OTLP/HTTP export of ", $what, " (the OTLP specification's request and answer).")]
        #[utoipa::path(
            post,
            path = $path,
            tag = "telemetry",
            description = concat!(
                "An OTLP/HTTP export request of ", $what, ", as `application/x-protobuf` or ",
                "`application/json` (optionally `Content-Encoding: gzip` or `deflate`, 16 MiB at ",
                "most). Stored in PostgreSQL (`POSTGRES_URL`), linked to the job. Takes an API key, ",
                "or the job ingest token agenticore gives each job's Claude ",
                "(`x-agenticore-job-token`, valid on these routes only)."
            ),
            request_body(content((Vec<u8> = "application/x-protobuf"), (Vec<u8> = "application/json"))),
            responses(
                (status = 200, description = "Taken; a partialSuccess names what was not stored and why (no POSTGRES_URL)", content((Vec<u8> = "application/x-protobuf"), (Vec<u8> = "application/json"))),
                (status = 400, description = "The body does not decode (a google.rpc.Status in the request's encoding)", body = Vec<u8>),
                (status = 401, description = "Missing or wrong API key or job token", body = UnauthorizedBody),
                (status = 413, description = "Larger than 16 MiB (after decompression)", body = Vec<u8>),
                (status = 415, description = "Another Content-Type or Content-Encoding", body = Vec<u8>),
                (status = 503, description = "The PostgreSQL queue is full: retry after Retry-After seconds", body = Vec<u8>),
            )
        )]
        #[allow(dead_code)]
        fn $name() {}
    };
}
otlp_doc!(otlp_metrics_doc, "/v1/metrics", "metrics");
otlp_doc!(otlp_logs_doc, "/v1/logs", "logs (Claude Code's events)");
otlp_doc!(otlp_traces_doc, "/v1/traces", "traces");

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "server",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object),
        (status = 401, description = "Missing or wrong API key", body = UnauthorizedBody),
    )
)]
pub async fn openapi_json() -> Response {
    match DOC.as_ref() {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json.clone()).into_response(),
        Err(e) => rest::ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the OpenAPI document could not be built: {e}"),
        )
        .into_response(),
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "agenticore",
        description = "Run Claude Code (`claude -p`) as managed jobs: the seed-compatible REST API."
    ),
    paths(
        rest::submit_job,
        rest::list_jobs,
        rest::get_job,
        rest::cancel_job,
        rest::job_logs,
        job_events_doc,
        rest::list_profiles,
        rest::get_stats,
        rest::health,
        super::metrics::metrics,
        otlp_metrics_doc,
        otlp_logs_doc,
        otlp_traces_doc,
        openapi_json,
    ),
    components(schemas(
        SubmitBody,
        JobEnvelope,
        JobView,
        TokensView,
        JobList,
        ProfileList,
        Health,
        Stats,
        StatsFigures,
        StatsGroup,
        ErrorBody,
        UnauthorizedBody
    )),
    modifiers(&Security),
    security(("api_key_header" = []), ("bearer" = []), ("api_key_query" = []))
)]
pub struct ApiDoc;

/// Built once: the document never changes while the process runs.
static DOC: LazyLock<Result<String, String>> =
    LazyLock::new(|| document().to_json().map_err(|e| e.to_string()));

/// The document, as a value (for tests and `--print-openapi` style uses).
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}
