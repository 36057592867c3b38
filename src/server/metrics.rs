//! `GET /metrics`: Prometheus text exposition (format 0.0.4). Cluster-wide gauges from the job
//! store (jobs by status, queue length, running jobs and cap per node, whether the store
//! answers) and this node's own counters since it started (jobs finished by status and
//! profile, their durations, Claude's cost, tokens and turns). Behind the API key like the
//! other routes, unless `AGENTICORE_METRICS_PUBLIC=true`.

use std::fmt::Write as _;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::engine::metrics::TOKEN_KINDS;
use crate::job::Status;

/// The store's part of a scrape waits at most this long (a scrape must not hang).
const STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// Prometheus's content type for the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "server",
    responses(
        (status = 200, description = "Prometheus text exposition (version 0.0.4)", content_type = "text/plain", body = String),
        (status = 401, description = "No valid API key (unless AGENTICORE_METRICS_PUBLIC=true)", body = crate::server::auth::UnauthorizedBody),
    )
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let text = render(&state).await;
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

async fn render(state: &AppState) -> String {
    let engine = &state.engine;
    let store = engine.store();
    let mut out = Exposition::default();
    let node = engine.node().to_string();

    out.family(
        "agenticore_build_info",
        "gauge",
        "The agenticore version of this node (always 1).",
    );
    out.sample(
        "agenticore_build_info",
        &[("version", env!("CARGO_PKG_VERSION")), ("node", &node)],
        1.0,
    );

    let counts = tokio::time::timeout(STORE_TIMEOUT, store.counts()).await;
    let counts = match counts {
        Ok(Ok(c)) => Some(c),
        _ => None,
    };
    out.family(
        "agenticore_store_up",
        "gauge",
        "1 when the job store answered this scrape and is the configured one (not a fallback).",
    );
    let up = counts.is_some() && store.degraded().is_none();
    out.sample("agenticore_store_up", &[], if up { 1.0 } else { 0.0 });
    out.family(
        "agenticore_unsaved_results",
        "gauge",
        "Job results of this node the store has not taken yet.",
    );
    out.sample(
        "agenticore_unsaved_results",
        &[],
        engine.unsaved_results() as f64,
    );

    if let Some(c) = &counts {
        out.family(
            "agenticore_jobs",
            "gauge",
            "Jobs held by the store, by status (every node).",
        );
        for (status, n) in [
            (Status::Queued, c.queued),
            (Status::Running, c.running),
            (Status::Succeeded, c.succeeded),
            (Status::Failed, c.failed),
            (Status::Cancelled, c.cancelled),
        ] {
            out.sample("agenticore_jobs", &[("status", status.as_str())], n as f64);
        }
        out.family(
            "agenticore_queue_length",
            "gauge",
            "Jobs waiting for a slot (every node).",
        );
        out.sample("agenticore_queue_length", &[], c.queued as f64);
    }
    if counts.is_some()
        && let Ok(Ok(nodes)) = tokio::time::timeout(STORE_TIMEOUT, store.nodes()).await
    {
        out.family(
            "agenticore_node_running_jobs",
            "gauge",
            "Jobs running on each node.",
        );
        for n in &nodes {
            out.sample(
                "agenticore_node_running_jobs",
                &[("node", &n.node)],
                n.running as f64,
            );
        }
        out.family(
            "agenticore_node_max_parallel_jobs",
            "gauge",
            "Each node's cap, where it announced one.",
        );
        for n in &nodes {
            if let Some(cap) = n.max_parallel_jobs {
                out.sample(
                    "agenticore_node_max_parallel_jobs",
                    &[("node", &n.node)],
                    cap as f64,
                );
            }
        }
    }
    out.family(
        "agenticore_running_jobs_here",
        "gauge",
        "Jobs running on this node.",
    );
    out.sample(
        "agenticore_running_jobs_here",
        &[],
        engine.running_here() as f64,
    );
    out.family(
        "agenticore_max_parallel_jobs",
        "gauge",
        "This node's cap (AGENTICORE_MAX_PARALLEL_JOBS).",
    );
    out.sample(
        "agenticore_max_parallel_jobs",
        &[],
        engine.config().repos.max_parallel_jobs as f64,
    );

    let m = engine.metrics();
    out.family(
        "agenticore_jobs_finished_total",
        "counter",
        "Jobs this node ran to their end since it started, by status and profile.",
    );
    for ((status, profile), n) in &m.finished {
        out.sample(
            "agenticore_jobs_finished_total",
            &[("status", status), ("profile", profile)],
            *n as f64,
        );
    }
    out.family(
        "agenticore_jobs_handed_back_total",
        "counter",
        "Claimed jobs this node handed back to the queue unstarted when it stopped.",
    );
    out.sample(
        "agenticore_jobs_handed_back_total",
        &[],
        m.handed_back as f64,
    );
    out.family(
        "agenticore_job_duration_seconds",
        "histogram",
        "How long this node's jobs ran, from start to end, by status.",
    );
    for (status, h) in &m.durations {
        for (le, n) in h.cumulative() {
            let le = le.map(fmt_value).unwrap_or_else(|| "+Inf".to_string());
            out.sample(
                "agenticore_job_duration_seconds_bucket",
                &[("status", status), ("le", &le)],
                n as f64,
            );
        }
        out.sample(
            "agenticore_job_duration_seconds_sum",
            &[("status", status)],
            h.sum,
        );
        out.sample(
            "agenticore_job_duration_seconds_count",
            &[("status", status)],
            h.count as f64,
        );
    }
    out.family(
        "agenticore_cost_usd_total",
        "counter",
        "USD Claude reported for this node's jobs, by profile.",
    );
    for (profile, c) in &m.cost_usd {
        out.sample("agenticore_cost_usd_total", &[("profile", profile)], *c);
    }
    out.family(
        "agenticore_tokens_total",
        "counter",
        "Tokens Claude reported for this node's jobs, by profile and kind.",
    );
    for ((profile, kind), n) in &m.tokens {
        debug_assert!(TOKEN_KINDS.contains(&kind.as_str()));
        out.sample(
            "agenticore_tokens_total",
            &[("profile", profile), ("kind", kind)],
            *n as f64,
        );
    }
    out.family(
        "agenticore_turns_total",
        "counter",
        "Turns Claude reported for this node's jobs, by profile.",
    );
    for (profile, n) in &m.turns {
        out.sample("agenticore_turns_total", &[("profile", profile)], *n as f64);
    }
    otlp_receiver(&mut out, &state.otlp);
    if let Some(t) = engine.telemetry_status() {
        postgres_sink(&mut out, &t);
    }
    out.text
}

/// The PostgreSQL sink's counters (only when `POSTGRES_URL` is set).
fn postgres_sink(out: &mut Exposition, t: &crate::telemetry::SinkStatus) {
    for (name, kind, help, value) in [
        (
            "agenticore_postgres_rows_written_total",
            "counter",
            "Finished-job rows this node wrote to PostgreSQL.",
            t.rows_written as f64,
        ),
        (
            "agenticore_postgres_rows_dropped_total",
            "counter",
            "Finished-job rows this node dropped (queue full, or refused by PostgreSQL).",
            t.rows_dropped as f64,
        ),
        (
            "agenticore_postgres_pending_rows",
            "gauge",
            "Finished-job rows queued for PostgreSQL, not written yet.",
            t.pending_rows as f64,
        ),
        (
            "agenticore_postgres_up",
            "gauge",
            "1 when this node's last attempt to reach PostgreSQL succeeded.",
            if t.up { 1.0 } else { 0.0 },
        ),
        (
            "agenticore_postgres_telemetry_rows_written_total",
            "counter",
            "OTLP rows (metric points, events, spans) this node wrote to PostgreSQL.",
            t.telemetry_rows_written as f64,
        ),
        (
            "agenticore_postgres_telemetry_rows_dropped_total",
            "counter",
            "OTLP rows this node dropped (queue full, or refused by PostgreSQL).",
            t.telemetry_rows_dropped as f64,
        ),
        (
            "agenticore_postgres_telemetry_pending_rows",
            "gauge",
            "OTLP rows queued for PostgreSQL, not written yet.",
            t.telemetry_pending_rows as f64,
        ),
    ] {
        out.family(name, kind, help);
        out.sample(name, &[], value);
    }
}

/// The OTLP receiver's counters (`/v1/metrics`, `/v1/logs`, `/v1/traces`).
fn otlp_receiver(out: &mut Exposition, c: &super::otlp::OtlpCounters) {
    use crate::telemetry::otlp::Signal;
    out.family(
        "agenticore_otlp_requests_total",
        "counter",
        "OTLP export requests this node received, by signal and answer \
         (accepted, partial, malformed, unavailable).",
    );
    for s in Signal::ALL {
        for (answer, n) in c.requests(s) {
            out.sample(
                "agenticore_otlp_requests_total",
                &[("signal", s.as_str()), ("answer", answer.as_str())],
                n as f64,
            );
        }
    }
    out.family(
        "agenticore_otlp_items_total",
        "counter",
        "OTLP items (metric points, log records, spans) received, by signal and outcome: \
         queued for PostgreSQL, rejected (no POSTGRES_URL), dropped (queue full).",
    );
    for s in Signal::ALL {
        for (outcome, n) in c.items(s) {
            out.sample(
                "agenticore_otlp_items_total",
                &[("signal", s.as_str()), ("outcome", outcome.as_str())],
                n as f64,
            );
        }
    }
}

/// The text format: `# HELP` and `# TYPE` once per family, then `name{labels} value` lines.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"{}\"", escape_label(v));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", fmt_value(value));
    }
}

fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// Label values escape `\`, `"` and newlines.
fn escape_label(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// HELP text escapes `\` and newlines.
fn escape_help(v: &str) -> String {
    v.replace('\\', r"\\").replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_escape_label_values_and_format_numbers() {
        let mut e = Exposition::default();
        e.family("x_total", "counter", "A \\ help\nline.");
        e.sample("x_total", &[("profile", "a\"b\\c\nd"), ("le", "+Inf")], 3.0);
        e.sample("x_total", &[], 0.0123);
        assert_eq!(
            e.text,
            "# HELP x_total A \\\\ help\\nline.\n# TYPE x_total counter\n\
             x_total{profile=\"a\\\"b\\\\c\\nd\",le=\"+Inf\"} 3\nx_total 0.0123\n"
        );
        assert_eq!(fmt_value(f64::INFINITY), "+Inf");
        assert_eq!(fmt_value(1e21), "1000000000000000000000");
    }
}
