//! The seed's REST routes (to be written).

use axum::Router;
use axum::routing::get;

use super::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/jobs/{id}/events", get(super::events::job_events))
        .with_state(state)
}
