//! OTLP/HTTP bodies: decode an export request (protobuf or JSON, optionally gzip or deflate
//! compressed) with the `opentelemetry-proto` messages, and encode the answers the OTLP
//! specification asks for (a partial-success response, or a `google.rpc.Status` on error).

use std::borrow::Cow;
use std::io::Read;

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

/// Largest body accepted, compressed or not (a compressed body may not inflate past it).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The three OTLP signals, one per route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    Metrics,
    Logs,
    Traces,
}

impl Signal {
    pub const ALL: [Signal; 3] = [Signal::Metrics, Signal::Logs, Signal::Traces];

    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
            Signal::Traces => "traces",
        }
    }

    /// The route it is posted to.
    pub fn path(self) -> &'static str {
        match self {
            Signal::Metrics => "/v1/metrics",
            Signal::Logs => "/v1/logs",
            Signal::Traces => "/v1/traces",
        }
    }
}

/// How a body is encoded (from its `Content-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// From a `Content-Type` value; parameters (`; charset=utf-8`) are ignored.
    pub fn from_content_type(value: &str) -> Result<Encoding, DecodeError> {
        let media = value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match media.as_str() {
            "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
            "application/json" => Ok(Encoding::Json),
            _ => Err(DecodeError::MediaType(value.to_string())),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// A decoded export request.
#[derive(Debug, Clone, PartialEq)]
pub enum Export {
    Metrics(ExportMetricsServiceRequest),
    Logs(ExportLogsServiceRequest),
    Traces(ExportTraceServiceRequest),
}

impl Export {
    /// Data points, log records or spans it carries.
    pub fn items(&self) -> usize {
        match self {
            Export::Metrics(r) => r
                .resource_metrics
                .iter()
                .flat_map(|rm| &rm.scope_metrics)
                .flat_map(|sm| &sm.metrics)
                .map(super::otel_rows::points_of)
                .sum(),
            Export::Logs(r) => r
                .resource_logs
                .iter()
                .flat_map(|rl| &rl.scope_logs)
                .map(|sl| sl.log_records.len())
                .sum(),
            Export::Traces(r) => r
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error(
        "unsupported Content-Type {0:?}: OTLP/HTTP takes application/x-protobuf or application/json"
    )]
    MediaType(String),
    #[error("unsupported Content-Encoding {0:?}: send gzip, deflate or none")]
    ContentEncoding(String),
    #[error("body larger than {MAX_BODY_BYTES} bytes (after decompression)")]
    TooLarge,
    #[error("body is not valid {what}: {reason}")]
    Malformed { what: &'static str, reason: String },
}

/// Inflate `body` per its `Content-Encoding`, never past `MAX_BODY_BYTES` (an uncompressed
/// body is used as it is, not copied).
fn inflate<'b>(
    content_encoding: Option<&str>,
    body: &'b [u8],
) -> Result<Cow<'b, [u8]>, DecodeError> {
    let coding = content_encoding
        .map(|c| c.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let malformed = |e: std::io::Error| DecodeError::Malformed {
        what: "compressed data",
        reason: e.to_string(),
    };
    let reader: Box<dyn Read + '_> = match coding.as_str() {
        "" | "identity" => {
            if body.len() > MAX_BODY_BYTES {
                return Err(DecodeError::TooLarge);
            }
            return Ok(Cow::Borrowed(body));
        }
        "gzip" | "x-gzip" => Box::new(flate2::read::GzDecoder::new(body)),
        "deflate" => Box::new(flate2::read::ZlibDecoder::new(body)),
        other => return Err(DecodeError::ContentEncoding(other.to_string())),
    };
    let mut out = Vec::new();
    // One byte past the limit tells "exactly at the limit" from "over it".
    reader
        .take(MAX_BODY_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(malformed)?;
    if out.len() > MAX_BODY_BYTES {
        return Err(DecodeError::TooLarge);
    }
    Ok(Cow::Owned(out))
}

fn from_protobuf<M: Message + Default>(bytes: &[u8]) -> Result<M, DecodeError> {
    M::decode(bytes).map_err(|e| DecodeError::Malformed {
        what: "OTLP protobuf",
        reason: e.to_string(),
    })
}

fn from_json<M: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<M, DecodeError> {
    serde_json::from_slice(bytes).map_err(|e| DecodeError::Malformed {
        what: "OTLP JSON",
        reason: e.to_string(),
    })
}

/// Decode one export request of `signal`.
pub fn decode(
    signal: Signal,
    encoding: Encoding,
    content_encoding: Option<&str>,
    body: &[u8],
) -> Result<Export, DecodeError> {
    let bytes = inflate(content_encoding, body)?;
    Ok(match (signal, encoding) {
        (Signal::Metrics, Encoding::Protobuf) => Export::Metrics(from_protobuf(&bytes)?),
        (Signal::Metrics, Encoding::Json) => Export::Metrics(from_json(&bytes)?),
        (Signal::Logs, Encoding::Protobuf) => Export::Logs(from_protobuf(&bytes)?),
        (Signal::Logs, Encoding::Json) => Export::Logs(from_json(&bytes)?),
        (Signal::Traces, Encoding::Protobuf) => Export::Traces(from_protobuf(&bytes)?),
        (Signal::Traces, Encoding::Json) => Export::Traces(from_json(&bytes)?),
    })
}

fn encode<M: Message + serde::Serialize>(encoding: Encoding, m: &M) -> Vec<u8> {
    match encoding {
        Encoding::Protobuf => m.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(m).unwrap_or_else(|_| b"{}".to_vec()),
    }
}

/// The success answer: `rejected` items refused (0 = all taken), with a message when some
/// were refused or something is worth telling the sender.
pub fn success_body(signal: Signal, encoding: Encoding, rejected: i64, message: &str) -> Vec<u8> {
    let told = rejected > 0 || !message.is_empty();
    if !told && encoding == Encoding::Json {
        // The serde form would spell the absent field `null`.
        return b"{}".to_vec();
    }
    let error_message = message.to_string();
    match signal {
        Signal::Metrics => encode(
            encoding,
            &ExportMetricsServiceResponse {
                partial_success: told.then_some(ExportMetricsPartialSuccess {
                    rejected_data_points: rejected,
                    error_message,
                }),
            },
        ),
        Signal::Logs => encode(
            encoding,
            &ExportLogsServiceResponse {
                partial_success: told.then_some(ExportLogsPartialSuccess {
                    rejected_log_records: rejected,
                    error_message,
                }),
            },
        ),
        Signal::Traces => encode(
            encoding,
            &ExportTraceServiceResponse {
                partial_success: told.then_some(ExportTracePartialSuccess {
                    rejected_spans: rejected,
                    error_message,
                }),
            },
        ),
    }
}

/// `google.rpc.Status`, the body of an OTLP/HTTP error answer.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// gRPC status codes used in error bodies.
pub mod code {
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const UNAUTHENTICATED: i32 = 16;
    pub const INTERNAL: i32 = 13;
    pub const UNAVAILABLE: i32 = 14;
}

/// An error answer's body, in the request's encoding.
pub fn error_body(encoding: Encoding, code: i32, message: &str) -> Vec<u8> {
    encode(
        encoding,
        &RpcStatus {
            code,
            message: message.to_string(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).expect("gzip");
        e.finish().expect("gzip")
    }

    /// As the OpenTelemetry JavaScript exporter (Claude Code's) writes it: 64-bit integers as
    /// strings, ids in hex, enums as numbers.
    const LOGS_JSON: &str = r#"{"resourceLogs":[{"resource":{"attributes":[
        {"key":"service.name","value":{"stringValue":"claude-code"}}]},
        "scopeLogs":[{"scope":{"name":"com.anthropic.claude_code.events"},"logRecords":[
        {"timeUnixNano":"1795503174417000000","severityNumber":9,
         "body":{"stringValue":"claude_code.api_request"},
         "attributes":[{"key":"event.name","value":{"stringValue":"api_request"}},
                       {"key":"cost_usd","value":{"doubleValue":0.0123}},
                       {"key":"input_tokens","value":{"intValue":"42"}}],
         "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}]}]}]}"#;

    #[test]
    fn json_as_the_javascript_exporter_writes_it_decodes() {
        let Export::Logs(r) =
            decode(Signal::Logs, Encoding::Json, None, LOGS_JSON.as_bytes()).expect("decodes")
        else {
            panic!("not logs")
        };
        let rec = &r.resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!(rec.time_unix_nano, 1_795_503_174_417_000_000);
        assert_eq!(rec.attributes.len(), 3);
        assert_eq!(rec.trace_id.len(), 16);
    }

    #[test]
    fn protobuf_round_trips_compressed_or_not() {
        let Export::Logs(req) =
            decode(Signal::Logs, Encoding::Json, None, LOGS_JSON.as_bytes()).expect("json")
        else {
            panic!("not logs")
        };
        let pb = req.encode_to_vec();
        for (coding, body) in [
            (None, pb.clone()),
            (Some("gzip"), gzip(&pb)),
            (Some("identity"), pb.clone()),
        ] {
            let got = decode(Signal::Logs, Encoding::Protobuf, coding, &body).expect("pb");
            assert_eq!(got, Export::Logs(req.clone()), "{coding:?}");
            assert_eq!(got.items(), 1);
        }
    }

    #[test]
    fn bad_bodies_are_refused_with_a_reason() {
        assert!(matches!(
            decode(
                Signal::Metrics,
                Encoding::Json,
                None,
                b"{\"resourceMetrics\": 7}"
            ),
            Err(DecodeError::Malformed {
                what: "OTLP JSON",
                ..
            })
        ));
        assert!(matches!(
            decode(
                Signal::Traces,
                Encoding::Protobuf,
                None,
                &[0xff, 0xff, 0xff]
            ),
            Err(DecodeError::Malformed { .. })
        ));
        assert!(matches!(
            decode(
                Signal::Traces,
                Encoding::Protobuf,
                Some("gzip"),
                b"not gzip"
            ),
            Err(DecodeError::Malformed { .. })
        ));
        assert_eq!(
            decode(Signal::Logs, Encoding::Json, Some("br"), b"{}"),
            Err(DecodeError::ContentEncoding("br".into()))
        );
        assert!(Encoding::from_content_type("text/plain").is_err());
        assert_eq!(
            Encoding::from_content_type("application/json; charset=utf-8"),
            Ok(Encoding::Json)
        );
    }

    #[test]
    fn a_compression_bomb_stops_at_the_limit() {
        let zeros = vec![0u8; MAX_BODY_BYTES + 10];
        let bomb = gzip(&zeros);
        assert!(bomb.len() < 100_000, "compresses well: {}", bomb.len());
        assert_eq!(
            decode(Signal::Logs, Encoding::Protobuf, Some("gzip"), &bomb),
            Err(DecodeError::TooLarge)
        );
    }

    #[test]
    fn answers_follow_the_spec() {
        // All taken: an empty response ("{}" in JSON), no partial_success.
        assert_eq!(success_body(Signal::Metrics, Encoding::Json, 0, ""), b"{}");
        assert!(success_body(Signal::Metrics, Encoding::Protobuf, 0, "").is_empty());
        let told: serde_json::Value =
            serde_json::from_slice(&success_body(Signal::Logs, Encoding::Json, 3, "queue full"))
                .expect("json");
        assert_eq!(told["partialSuccess"]["errorMessage"], "queue full");
        let pb = success_body(Signal::Traces, Encoding::Protobuf, 2, "x");
        let back = ExportTraceServiceResponse::decode(pb.as_slice()).expect("pb");
        assert_eq!(back.partial_success.map(|p| p.rejected_spans), Some(2));
        let status = RpcStatus::decode(
            error_body(Encoding::Protobuf, code::INVALID_ARGUMENT, "bad").as_slice(),
        )
        .expect("status");
        assert_eq!((status.code, status.message.as_str()), (3, "bad"));
    }
}
