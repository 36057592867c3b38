//! Flatten decoded OTLP exports into table rows: one row per metric data point, per log
//! record (Claude's events), per span. Each row names the job it belongs to.
//!
//! The job a row belongs to is, first found: the job of the ingest token the request came
//! with (`x-agenticore-job-token`, which cannot be forged), the resource attribute
//! `agenticore.job_id` (set by the runner in `OTEL_RESOURCE_ATTRIBUTES`), the same attribute
//! on the item. `session.id` comes from the item, else from the resource; a row with no job
//! id still joins to its job through `agenticore_jobs.session_id`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{Metric, metric};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::otlp::Export;

/// Resource attribute the runner sets to the job id.
pub const JOB_ID_ATTRIBUTE: &str = "agenticore.job_id";
/// Attribute Claude Code puts on every data point and event.
pub const SESSION_ID_ATTRIBUTE: &str = "session.id";

/// Where a row came from, shared by the rows of one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    pub job_id: Option<Uuid>,
    pub session_id: Option<String>,
    pub service_name: Option<String>,
    /// The resource's attributes as a JSON object.
    pub resource: Arc<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    pub job_id: Option<Uuid>,
    pub session_id: Option<String>,
    pub service_name: Option<String>,
    pub name: String,
    pub unit: Option<String>,
    /// `sum`, `gauge`, `histogram`, `exponential_histogram` or `summary`.
    pub kind: &'static str,
    /// `delta` or `cumulative` (sums and histograms).
    pub temporality: Option<&'static str>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    /// The point's value; for histograms and summaries, their sum.
    pub value: Option<f64>,
    /// Histograms and summaries: how many measurements.
    pub count: Option<i64>,
    pub attributes: Value,
    pub resource: Arc<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub job_id: Option<Uuid>,
    pub session_id: Option<String>,
    pub service_name: Option<String>,
    /// `event.name` (Claude: `api_request`, `tool_result`, ...), else the record's event
    /// name, else its body when it is a string.
    pub name: Option<String>,
    pub event_time: Option<DateTime<Utc>>,
    pub sequence: Option<i64>,
    pub prompt_id: Option<String>,
    pub severity: Option<String>,
    pub body: Option<String>,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub attributes: Value,
    pub resource: Arc<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpanRow {
    pub job_id: Option<Uuid>,
    pub session_id: Option<String>,
    pub service_name: Option<String>,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub name: String,
    pub kind: &'static str,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub duration_ms: Option<f64>,
    pub status_code: &'static str,
    pub status_message: Option<String>,
    pub attributes: Value,
    pub resource: Arc<Value>,
}

/// The rows of one or more exports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TelemetryRows {
    pub metrics: Vec<MetricRow>,
    pub events: Vec<EventRow>,
    pub spans: Vec<SpanRow>,
}

impl TelemetryRows {
    pub fn len(&self) -> usize {
        self.metrics.len() + self.events.len() + self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Move `other`'s rows in.
    pub fn append(&mut self, mut other: TelemetryRows) {
        self.metrics.append(&mut other.metrics);
        self.events.append(&mut other.events);
        self.spans.append(&mut other.spans);
    }
}

/// An attribute value as JSON (64-bit integers stay numbers; bytes become hex).
pub fn any_to_json(v: &AnyValue) -> Value {
    match &v.value {
        None | Some(any_value::Value::StringValueStrindex(_)) => Value::Null,
        Some(any_value::Value::StringValue(s)) => Value::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => Value::Bool(*b),
        Some(any_value::Value::IntValue(i)) => Value::from(*i),
        Some(any_value::Value::DoubleValue(d)) => {
            serde_json::Number::from_f64(*d).map_or(Value::Null, Value::Number)
        }
        Some(any_value::Value::ArrayValue(a)) => {
            Value::Array(a.values.iter().map(any_to_json).collect())
        }
        Some(any_value::Value::KvlistValue(l)) => attrs_to_json(&l.values),
        Some(any_value::Value::BytesValue(b)) => Value::String(hex(b)),
    }
}

/// Attributes as one JSON object (a repeated key keeps its last value).
pub fn attrs_to_json(kvs: &[KeyValue]) -> Value {
    let mut m = Map::with_capacity(kvs.len());
    for kv in kvs {
        m.insert(
            kv.key.clone(),
            kv.value.as_ref().map_or(Value::Null, any_to_json),
        );
    }
    Value::Object(m)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn non_empty_hex(bytes: &[u8]) -> Option<String> {
    (!bytes.is_empty() && bytes.iter().any(|b| *b != 0)).then(|| hex(bytes))
}

fn text(attrs: &Value, key: &str) -> Option<String> {
    match attrs.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn int(attrs: &Value, key: &str) -> Option<i64> {
    match attrs.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn job_of(attrs: &Value) -> Option<Uuid> {
    text(attrs, JOB_ID_ATTRIBUTE).and_then(|s| Uuid::parse_str(&s).ok())
}

/// Nanoseconds since the epoch; 0 means "not set".
fn time(nanos: u64) -> Option<DateTime<Utc>> {
    if nanos == 0 {
        return None;
    }
    let secs = i64::try_from(nanos / 1_000_000_000).ok()?;
    DateTime::from_timestamp(secs, (nanos % 1_000_000_000) as u32)
}

/// Claude's `event.timestamp` attribute (RFC 3339).
fn rfc3339(attrs: &Value, key: &str) -> Option<DateTime<Utc>> {
    let s = text(attrs, key)?;
    DateTime::parse_from_rfc3339(&s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn origin(resource: Option<&Resource>, forced_job: Option<Uuid>) -> Origin {
    let attrs = resource.map_or_else(
        || Value::Object(Map::new()),
        |r| attrs_to_json(&r.attributes),
    );
    Origin {
        job_id: forced_job.or_else(|| job_of(&attrs)),
        session_id: text(&attrs, SESSION_ID_ATTRIBUTE),
        service_name: text(&attrs, "service.name"),
        resource: Arc::new(attrs),
    }
}

/// The job and session of an item with attributes `attrs` under `o`.
fn link(o: &Origin, forced_job: Option<Uuid>, attrs: &Value) -> (Option<Uuid>, Option<String>) {
    let job = forced_job.or(o.job_id).or_else(|| job_of(attrs));
    let session = text(attrs, SESSION_ID_ATTRIBUTE).or_else(|| o.session_id.clone());
    (job, session)
}

/// Data points in a metric.
pub fn points_of(m: &Metric) -> usize {
    match &m.data {
        None => 0,
        Some(metric::Data::Gauge(g)) => g.data_points.len(),
        Some(metric::Data::Sum(s)) => s.data_points.len(),
        Some(metric::Data::Histogram(h)) => h.data_points.len(),
        Some(metric::Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(metric::Data::Summary(s)) => s.data_points.len(),
    }
}

fn temporality(t: i32) -> Option<&'static str> {
    match t {
        1 => Some("delta"),
        2 => Some("cumulative"),
        _ => None,
    }
}

fn number(
    v: Option<&opentelemetry_proto::tonic::metrics::v1::number_data_point::Value>,
) -> Option<f64> {
    use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as N;
    match v? {
        N::AsDouble(d) => Some(*d),
        N::AsInt(i) => Some(*i as f64),
    }
}

fn count(n: u64) -> Option<i64> {
    Some(i64::try_from(n).unwrap_or(i64::MAX))
}

fn metric_rows(o: &Origin, forced: Option<Uuid>, m: &Metric, out: &mut Vec<MetricRow>) {
    let unit = (!m.unit.is_empty()).then(|| m.unit.clone());
    let mut push = |kind: &'static str,
                    temp: Option<&'static str>,
                    attrs: &[KeyValue],
                    start: u64,
                    end: u64,
                    value: Option<f64>,
                    n: Option<i64>| {
        let attributes = attrs_to_json(attrs);
        let (job_id, session_id) = link(o, forced, &attributes);
        out.push(MetricRow {
            job_id,
            session_id,
            service_name: o.service_name.clone(),
            name: m.name.clone(),
            unit: unit.clone(),
            kind,
            temporality: temp,
            start_time: time(start),
            end_time: time(end),
            value,
            count: n,
            attributes,
            resource: o.resource.clone(),
        });
    };
    match &m.data {
        None => {}
        Some(metric::Data::Gauge(g)) => {
            for p in &g.data_points {
                let v = number(p.value.as_ref());
                push(
                    "gauge",
                    None,
                    &p.attributes,
                    p.start_time_unix_nano,
                    p.time_unix_nano,
                    v,
                    None,
                );
            }
        }
        Some(metric::Data::Sum(s)) => {
            let t = temporality(s.aggregation_temporality);
            for p in &s.data_points {
                let v = number(p.value.as_ref());
                push(
                    "sum",
                    t,
                    &p.attributes,
                    p.start_time_unix_nano,
                    p.time_unix_nano,
                    v,
                    None,
                );
            }
        }
        Some(metric::Data::Histogram(h)) => {
            let t = temporality(h.aggregation_temporality);
            for p in &h.data_points {
                let (s, e) = (p.start_time_unix_nano, p.time_unix_nano);
                push("histogram", t, &p.attributes, s, e, p.sum, count(p.count));
            }
        }
        Some(metric::Data::ExponentialHistogram(h)) => {
            let t = temporality(h.aggregation_temporality);
            for p in &h.data_points {
                let (s, e) = (p.start_time_unix_nano, p.time_unix_nano);
                push(
                    "exponential_histogram",
                    t,
                    &p.attributes,
                    s,
                    e,
                    p.sum,
                    count(p.count),
                );
            }
        }
        Some(metric::Data::Summary(sm)) => {
            for p in &sm.data_points {
                let (s, e) = (p.start_time_unix_nano, p.time_unix_nano);
                push(
                    "summary",
                    None,
                    &p.attributes,
                    s,
                    e,
                    Some(p.sum),
                    count(p.count),
                );
            }
        }
    }
}

fn severity(number: i32, text: &str) -> Option<String> {
    if !text.is_empty() {
        return Some(text.to_string());
    }
    let s = match number {
        1..=4 => "TRACE",
        5..=8 => "DEBUG",
        9..=12 => "INFO",
        13..=16 => "WARN",
        17..=20 => "ERROR",
        21..=24 => "FATAL",
        _ => return None,
    };
    Some(s.to_string())
}

fn span_kind(k: i32) -> &'static str {
    match k {
        1 => "internal",
        2 => "server",
        3 => "client",
        4 => "producer",
        5 => "consumer",
        _ => "unspecified",
    }
}

fn status_code(c: i32) -> &'static str {
    match c {
        1 => "ok",
        2 => "error",
        _ => "unset",
    }
}

/// The rows of `export`; `forced_job` (from an ingest token) overrides any job id in it.
pub fn flatten(export: &Export, forced_job: Option<Uuid>) -> TelemetryRows {
    let mut rows = TelemetryRows::default();
    match export {
        Export::Metrics(r) => {
            for rm in &r.resource_metrics {
                let o = origin(rm.resource.as_ref(), forced_job);
                for m in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
                    metric_rows(&o, forced_job, m, &mut rows.metrics);
                }
            }
        }
        Export::Logs(r) => {
            for rl in &r.resource_logs {
                let o = origin(rl.resource.as_ref(), forced_job);
                for rec in rl.scope_logs.iter().flat_map(|s| &s.log_records) {
                    let attributes = attrs_to_json(&rec.attributes);
                    let (job_id, session_id) = link(&o, forced_job, &attributes);
                    let body = rec.body.as_ref().map(any_to_json).and_then(|b| match b {
                        Value::Null => None,
                        Value::String(s) => Some(s),
                        other => Some(other.to_string()),
                    });
                    let event_name = (!rec.event_name.is_empty()).then(|| rec.event_name.clone());
                    rows.events.push(EventRow {
                        job_id,
                        session_id,
                        service_name: o.service_name.clone(),
                        name: text(&attributes, "event.name")
                            .or(event_name)
                            .or_else(|| body.clone()),
                        event_time: time(rec.time_unix_nano)
                            .or_else(|| rfc3339(&attributes, "event.timestamp"))
                            .or_else(|| time(rec.observed_time_unix_nano)),
                        sequence: int(&attributes, "event.sequence"),
                        prompt_id: text(&attributes, "prompt.id"),
                        severity: severity(rec.severity_number, &rec.severity_text),
                        body,
                        trace_id: non_empty_hex(&rec.trace_id),
                        span_id: non_empty_hex(&rec.span_id),
                        attributes,
                        resource: o.resource.clone(),
                    });
                }
            }
        }
        Export::Traces(r) => {
            for rs in &r.resource_spans {
                let o = origin(rs.resource.as_ref(), forced_job);
                for s in rs.scope_spans.iter().flat_map(|s| &s.spans) {
                    let attributes = attrs_to_json(&s.attributes);
                    let (job_id, session_id) = link(&o, forced_job, &attributes);
                    let (start, end) = (time(s.start_time_unix_nano), time(s.end_time_unix_nano));
                    let duration_ms = (s.end_time_unix_nano >= s.start_time_unix_nano
                        && s.start_time_unix_nano > 0)
                        .then(|| (s.end_time_unix_nano - s.start_time_unix_nano) as f64 / 1e6);
                    let status = s.status.as_ref();
                    rows.spans.push(SpanRow {
                        job_id,
                        session_id,
                        service_name: o.service_name.clone(),
                        trace_id: hex(&s.trace_id),
                        span_id: hex(&s.span_id),
                        parent_span_id: non_empty_hex(&s.parent_span_id),
                        name: s.name.clone(),
                        kind: span_kind(s.kind),
                        start_time: start,
                        end_time: end,
                        duration_ms,
                        status_code: status_code(status.map_or(0, |st| st.code)),
                        status_message: status
                            .map(|st| st.message.clone())
                            .filter(|m| !m.is_empty()),
                        attributes,
                        resource: o.resource.clone(),
                    });
                }
            }
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::otlp::{Encoding, Signal, decode};

    const JOB: &str = "0b5e6a4c-3c59-4d8f-9d0e-6f8f4f0a1b2c";

    fn metrics_json(resource_job: Option<&str>) -> String {
        let job_attr = resource_job.map_or(String::new(), |j| {
            format!(r#",{{"key":"agenticore.job_id","value":{{"stringValue":"{j}"}}}}"#)
        });
        format!(
            r#"{{"resourceMetrics":[{{"resource":{{"attributes":[
            {{"key":"service.name","value":{{"stringValue":"claude-code"}}}}{job_attr}]}},
            "scopeMetrics":[{{"metrics":[
              {{"name":"claude_code.cost.usage","unit":"USD","sum":{{"aggregationTemporality":1,
                "isMonotonic":true,"dataPoints":[{{"attributes":[
                  {{"key":"session.id","value":{{"stringValue":"s-1"}}}},
                  {{"key":"model","value":{{"stringValue":"m"}}}}],
                  "startTimeUnixNano":"1795503174015000000","timeUnixNano":"1795503174417000000",
                  "asDouble":0.25}}]}}}},
              {{"name":"claude_code.token.usage","unit":"tokens","sum":{{"aggregationTemporality":2,
                "dataPoints":[{{"attributes":[{{"key":"type","value":{{"stringValue":"input"}}}}],
                  "timeUnixNano":"1795503174417000000","asInt":"1200"}}]}}}},
              {{"name":"h","histogram":{{"aggregationTemporality":1,"dataPoints":[
                {{"count":"3","sum":4.5,"timeUnixNano":"1795503174417000000"}}]}}}}
            ]}}]}}]}}"#
        )
    }

    fn rows(signal: Signal, json: &str, forced: Option<Uuid>) -> TelemetryRows {
        let e = decode(signal, Encoding::Json, None, json.as_bytes()).expect("decodes");
        let r = flatten(&e, forced);
        assert_eq!(r.len(), e.items(), "one row per item");
        r
    }

    #[test]
    fn a_metric_point_becomes_a_row_linked_to_its_job_and_session() {
        let r = rows(Signal::Metrics, &metrics_json(Some(JOB)), None);
        let job = Uuid::parse_str(JOB).ok();
        let cost = &r.metrics[0];
        assert_eq!(cost.name, "claude_code.cost.usage");
        assert_eq!(cost.job_id, job);
        assert_eq!(cost.session_id.as_deref(), Some("s-1"));
        assert_eq!(cost.service_name.as_deref(), Some("claude-code"));
        assert_eq!((cost.kind, cost.temporality), ("sum", Some("delta")));
        assert_eq!(cost.value, Some(0.25));
        assert_eq!(cost.unit.as_deref(), Some("USD"));
        assert_eq!(cost.attributes["model"], "m");
        assert!(cost.start_time.is_some() && cost.end_time > cost.start_time);
        let tokens = &r.metrics[1];
        assert_eq!(
            (tokens.value, tokens.temporality),
            (Some(1200.0), Some("cumulative"))
        );
        assert_eq!(tokens.session_id, None);
        assert_eq!(tokens.start_time, None, "0 is not a time");
        let h = &r.metrics[2];
        assert_eq!(
            (h.kind, h.value, h.count),
            ("histogram", Some(4.5), Some(3))
        );
    }

    #[test]
    fn a_token_job_wins_over_what_the_payload_claims() {
        let mine = Uuid::new_v4();
        let r = rows(Signal::Metrics, &metrics_json(Some(JOB)), Some(mine));
        assert!(r.metrics.iter().all(|m| m.job_id == Some(mine)));
        let none = rows(Signal::Metrics, &metrics_json(None), None);
        assert!(none.metrics.iter().all(|m| m.job_id.is_none()));
        let junk = rows(Signal::Metrics, &metrics_json(Some("not-a-uuid")), None);
        assert!(junk.metrics.iter().all(|m| m.job_id.is_none()));
    }

    #[test]
    fn an_event_keeps_its_name_time_sequence_and_attributes() {
        let json = format!(
            r#"{{"resourceLogs":[{{"resource":{{"attributes":[]}},"scopeLogs":[{{"logRecords":[
            {{"body":{{"stringValue":"claude_code.api_request"}},"attributes":[
              {{"key":"event.name","value":{{"stringValue":"api_request"}}}},
              {{"key":"event.timestamp","value":{{"stringValue":"2026-12-07T10:00:00.500Z"}}}},
              {{"key":"event.sequence","value":{{"intValue":"4"}}}},
              {{"key":"prompt.id","value":{{"stringValue":"p-9"}}}},
              {{"key":"session.id","value":{{"stringValue":"s-2"}}}},
              {{"key":"agenticore.job_id","value":{{"stringValue":"{JOB}"}}}},
              {{"key":"cost_usd","value":{{"doubleValue":0.5}}}}],"severityNumber":9}}]}}]}}]}}"#
        );
        let r = rows(Signal::Logs, &json, None);
        let e = &r.events[0];
        assert_eq!(e.name.as_deref(), Some("api_request"));
        assert_eq!(
            e.job_id,
            Uuid::parse_str(JOB).ok(),
            "an item attribute links too"
        );
        assert_eq!(e.session_id.as_deref(), Some("s-2"));
        assert_eq!(e.sequence, Some(4));
        assert_eq!(e.prompt_id.as_deref(), Some("p-9"));
        assert_eq!(e.severity.as_deref(), Some("INFO"));
        assert_eq!(e.body.as_deref(), Some("claude_code.api_request"));
        assert_eq!(
            e.event_time.map(|t| t.to_rfc3339()),
            Some("2026-12-07T10:00:00.500+00:00".into())
        );
        assert_eq!(e.attributes["cost_usd"], 0.5);
        assert_eq!((e.trace_id.as_ref(), e.span_id.as_ref()), (None, None));
    }

    #[test]
    fn a_span_keeps_its_ids_parent_duration_and_status() {
        let json = r#"{"resourceSpans":[{"resource":{"attributes":[
            {"key":"session.id","value":{"stringValue":"s-3"}}]},"scopeSpans":[{"spans":[
            {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
             "parentSpanId":"","name":"claude_code.llm_request","kind":3,
             "startTimeUnixNano":"1795503174000000000","endTimeUnixNano":"1795503174250000000",
             "status":{"code":2,"message":"overloaded"},
             "attributes":[{"key":"ttft_ms","value":{"intValue":"12"}}]}]}]}]}"#;
        let r = rows(Signal::Traces, json, None);
        let s = &r.spans[0];
        assert_eq!(s.trace_id, "5b8efff798038103d269b633813fc60c");
        assert_eq!(s.span_id, "eee19b7ec3c1b174");
        assert_eq!(s.parent_span_id, None);
        assert_eq!((s.kind, s.status_code), ("client", "error"));
        assert_eq!(s.status_message.as_deref(), Some("overloaded"));
        assert_eq!(s.duration_ms, Some(250.0));
        assert_eq!(s.session_id.as_deref(), Some("s-3"), "from the resource");
        assert_eq!(s.attributes["ttft_ms"], 12);
    }
}
