//! The job dashboard (`agenticore` on a terminal): a live list of jobs with filters and search,
//! a job's detail and live log, and the actions cancel, new, retry, open PR, copy id. It goes
//! through the same `Backend` as the CLI, so it shows the daemon's jobs or the local store's.
//!
//! `app` is the state and its pure key handling, `ui` draws it, `event` runs the loop, `data`
//! reads through the backend, `term` owns the real terminal, `form` is the new-job form.

pub mod app;
pub mod data;
pub mod event;
pub mod form;
pub mod term;
pub mod ui;

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Utc;

use crate::client::Backend;

static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Whether the dashboard owns the terminal (then log lines must not go to stderr).
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

fn set_active(on: bool) {
    ACTIVE.store(on, Ordering::Relaxed);
}

/// "local store PATH" or "daemon URL": the header's first fact.
pub fn backend_label(backend: &Backend) -> String {
    match backend {
        Backend::Local(l) => format!("local store {}", l.engine.store().location()),
        Backend::Remote(c) => format!("daemon {}", c.base_url()),
    }
}

/// Run the dashboard until the user quits; the terminal is restored however it ends.
pub async fn run(backend: Backend) -> std::io::Result<()> {
    let app = app::App::new(backend_label(&backend), Utc::now());
    let (mut terminal, guard) = term::enter()?;
    set_active(true);
    let result = event::run(&mut terminal, backend, app).await;
    set_active(false);
    drop(guard);
    result
}
#[cfg(test)]
mod tests;
