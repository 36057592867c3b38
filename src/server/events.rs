//! `GET /jobs/{id}/events`: Server-Sent Events of a job's progress (to be written).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::AppState;

pub async fn job_events(
    State(_state): State<AppState>,
    Path(_id): Path<String>,
    _headers: HeaderMap,
) -> Response {
    axum::http::StatusCode::NOT_IMPLEMENTED.into_response()
}
