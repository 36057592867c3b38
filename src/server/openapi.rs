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
