//! Writing OTLP rows: one `INSERT ... SELECT FROM unnest(...)` per table and batch (column
//! arrays, not one statement per row), all tables of a batch in one transaction.

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_postgres::{Client, Transaction};
use uuid::Uuid;

use super::otel_rows::{EventRow, MetricRow, SpanRow, TelemetryRows};
use super::pg_lane::LaneWriter;

/// The telemetry lane of the PostgreSQL sink.
pub struct TelemetryWriter;

impl LaneWriter for TelemetryWriter {
    type Item = TelemetryRows;
    const WHAT: &'static str = "telemetry rows";

    fn rows(item: &TelemetryRows) -> u64 {
        item.len() as u64
    }

    async fn write(
        client: &mut Client,
        items: &[TelemetryRows],
    ) -> Result<(), tokio_postgres::Error> {
        let tx = client.transaction().await?;
        metrics(&tx, items.iter().flat_map(|r| &r.metrics).collect()).await?;
        events(&tx, items.iter().flat_map(|r| &r.events).collect()).await?;
        spans(&tx, items.iter().flat_map(|r| &r.spans).collect()).await?;
        tx.commit().await
    }
}

/// The columns every OTLP table shares.
struct Common<'a> {
    job_id: Vec<Option<Uuid>>,
    session_id: Vec<Option<&'a str>>,
    service_name: Vec<Option<&'a str>>,
    attributes: Vec<&'a Value>,
    resource: Vec<&'a Value>,
}

impl<'a> Common<'a> {
    fn with_capacity(n: usize) -> Common<'a> {
        Common {
            job_id: Vec::with_capacity(n),
            session_id: Vec::with_capacity(n),
            service_name: Vec::with_capacity(n),
            attributes: Vec::with_capacity(n),
            resource: Vec::with_capacity(n),
        }
    }

    fn push(
        &mut self,
        job_id: Option<Uuid>,
        session_id: &'a Option<String>,
        service_name: &'a Option<String>,
        attributes: &'a Value,
        resource: &'a Value,
    ) {
        self.job_id.push(job_id);
        self.session_id.push(session_id.as_deref());
        self.service_name.push(service_name.as_deref());
        self.attributes.push(attributes);
        self.resource.push(resource);
    }
}

const INSERT_METRICS: &str = "INSERT INTO agenticore_otel_metrics (
    job_id, session_id, service_name, attributes, resource,
    name, unit, kind, temporality, start_time, end_time, value, count)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::jsonb[],
    $6::text[], $7::text[], $8::text[], $9::text[], $10::timestamptz[], $11::timestamptz[],
    $12::float8[], $13::int8[])";

async fn metrics(tx: &Transaction<'_>, rows: Vec<&MetricRow>) -> Result<(), tokio_postgres::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut c = Common::with_capacity(rows.len());
    let mut name = Vec::with_capacity(rows.len());
    let mut unit: Vec<Option<&str>> = Vec::with_capacity(rows.len());
    let mut kind = Vec::with_capacity(rows.len());
    let mut temporality = Vec::with_capacity(rows.len());
    let mut start: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(rows.len());
    let mut end: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(rows.len());
    let mut value = Vec::with_capacity(rows.len());
    let mut count = Vec::with_capacity(rows.len());
    for r in &rows {
        c.push(
            r.job_id,
            &r.session_id,
            &r.service_name,
            &r.attributes,
            &r.resource,
        );
        name.push(r.name.as_str());
        unit.push(r.unit.as_deref());
        kind.push(r.kind);
        temporality.push(r.temporality);
        start.push(r.start_time);
        end.push(r.end_time);
        value.push(r.value);
        count.push(r.count);
    }
    tx.execute(
        INSERT_METRICS,
        &[
            &c.job_id,
            &c.session_id,
            &c.service_name,
            &c.attributes,
            &c.resource,
            &name,
            &unit,
            &kind,
            &temporality,
            &start,
            &end,
            &value,
            &count,
        ],
    )
    .await
    .map(drop)
}

const INSERT_EVENTS: &str = "INSERT INTO agenticore_otel_events (
    job_id, session_id, service_name, attributes, resource,
    name, event_time, sequence, prompt_id, severity, body, trace_id, span_id)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::jsonb[],
    $6::text[], $7::timestamptz[], $8::int8[], $9::text[], $10::text[], $11::text[],
    $12::text[], $13::text[])";

async fn events(tx: &Transaction<'_>, rows: Vec<&EventRow>) -> Result<(), tokio_postgres::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let n = rows.len();
    let mut c = Common::with_capacity(n);
    let mut name: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut time: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(n);
    let mut sequence = Vec::with_capacity(n);
    let mut prompt: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut severity: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut body: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut trace: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut span: Vec<Option<&str>> = Vec::with_capacity(n);
    for r in &rows {
        c.push(
            r.job_id,
            &r.session_id,
            &r.service_name,
            &r.attributes,
            &r.resource,
        );
        name.push(r.name.as_deref());
        time.push(r.event_time);
        sequence.push(r.sequence);
        prompt.push(r.prompt_id.as_deref());
        severity.push(r.severity.as_deref());
        body.push(r.body.as_deref());
        trace.push(r.trace_id.as_deref());
        span.push(r.span_id.as_deref());
    }
    tx.execute(
        INSERT_EVENTS,
        &[
            &c.job_id,
            &c.session_id,
            &c.service_name,
            &c.attributes,
            &c.resource,
            &name,
            &time,
            &sequence,
            &prompt,
            &severity,
            &body,
            &trace,
            &span,
        ],
    )
    .await
    .map(drop)
}

const INSERT_SPANS: &str = "INSERT INTO agenticore_otel_spans (
    job_id, session_id, service_name, attributes, resource,
    trace_id, span_id, parent_span_id, name, kind, start_time, end_time, duration_ms,
    status_code, status_message)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::jsonb[],
    $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::timestamptz[],
    $12::timestamptz[], $13::float8[], $14::text[], $15::text[])";

async fn spans(tx: &Transaction<'_>, rows: Vec<&SpanRow>) -> Result<(), tokio_postgres::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let n = rows.len();
    let mut c = Common::with_capacity(n);
    let mut trace = Vec::with_capacity(n);
    let mut span = Vec::with_capacity(n);
    let mut parent: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut name = Vec::with_capacity(n);
    let mut kind = Vec::with_capacity(n);
    let mut start: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(n);
    let mut end: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(n);
    let mut duration = Vec::with_capacity(n);
    let mut status = Vec::with_capacity(n);
    let mut message: Vec<Option<&str>> = Vec::with_capacity(n);
    for r in &rows {
        c.push(
            r.job_id,
            &r.session_id,
            &r.service_name,
            &r.attributes,
            &r.resource,
        );
        trace.push(r.trace_id.as_str());
        span.push(r.span_id.as_str());
        parent.push(r.parent_span_id.as_deref());
        name.push(r.name.as_str());
        kind.push(r.kind);
        start.push(r.start_time);
        end.push(r.end_time);
        duration.push(r.duration_ms);
        status.push(r.status_code);
        message.push(r.status_message.as_deref());
    }
    tx.execute(
        INSERT_SPANS,
        &[
            &c.job_id,
            &c.session_id,
            &c.service_name,
            &c.attributes,
            &c.resource,
            &trace,
            &span,
            &parent,
            &name,
            &kind,
            &start,
            &end,
            &duration,
            &status,
            &message,
        ],
    )
    .await
    .map(drop)
}
