//! API keys: `X-API-Key`, `Authorization: Bearer`, or `?api_key=`; compared in constant time.
//!
//! Every route but `/health` needs a key once keys are configured. The 401 body is the seed's,
//! byte for byte: `{"error":"Invalid or missing API key"}` (its middleware has no `success`).
//! Keys are never logged and never appear in `Debug` output: only their SHA-256 digests are
//! kept, and a presented key is hashed before it is compared, so neither its length nor the
//! position of its first wrong byte changes how long the comparison takes.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use crate::telemetry::job_token::{self, KeyDigest};

/// The routes open without a key.
const PUBLIC_PATHS: &[&str] = &["/health"];

/// The seed's message of a refused request.
pub const UNAUTHORIZED_MESSAGE: &str = "Invalid or missing API key";

/// The accepted keys (never logged, never in Debug output).
pub struct ApiKeys {
    digests: Vec<KeyDigest>,
}

impl ApiKeys {
    pub fn new(keys: Vec<String>) -> ApiKeys {
        ApiKeys {
            digests: keys
                .iter()
                .map(|k| k.trim())
                .filter(|k| !k.is_empty())
                .map(|k| digest(k.as_bytes()))
                .collect(),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.digests.is_empty()
    }

    /// Is `candidate` one of the keys? Takes the same time whichever key matches, or none:
    /// every key is compared, every byte of each, and the results are folded without branching.
    pub fn accepts(&self, candidate: &[u8]) -> bool {
        let d = digest(candidate);
        let mut any = 0u8;
        for k in &self.digests {
            any |= ct_eq(k, &d);
        }
        std::hint::black_box(any) == 1 && !candidate.is_empty()
    }

    /// The job of an ingest token signed with any of the keys.
    pub fn verify_job_token(&self, token: &[u8]) -> Option<Uuid> {
        let token = std::str::from_utf8(token).ok()?;
        job_token::verify(&self.digests, token)
    }
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys({} keys)", self.digests.len())
    }
}

fn digest(bytes: &[u8]) -> KeyDigest {
    job_token::key_digest(bytes)
}

/// 1 when the two digests are equal, else 0, without an early exit.
fn ct_eq(a: &KeyDigest, b: &KeyDigest) -> u8 {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b.iter()) {
        diff |= x ^ y;
    }
    let diff = std::hint::black_box(diff);
    // 0 -> 1, anything else -> 0.
    (((u16::from(diff)).wrapping_sub(1) >> 8) & 1) as u8
}

/// The body of a 401: the seed's `{"error":"Invalid or missing API key"}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UnauthorizedBody {
    pub error: String,
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(axum::http::header::WWW_AUTHENTICATE, "Bearer")],
        axum::Json(UnauthorizedBody {
            error: UNAUTHORIZED_MESSAGE.to_string(),
        }),
    )
        .into_response()
}

/// Middleware: refuse requests without a valid key when keys are configured. The OTLP routes
/// (`/v1/*`) also take a job's ingest token (`x-agenticore-job-token`), and mark the request
/// with that job ([`super::otlp::IngestJob`]).
pub async fn require_key(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let public = PUBLIC_PATHS.contains(&path)
        || (path == "/metrics" && state.engine.config().server.metrics_public);
    if !state.keys.enabled() || public {
        return next.run(req).await;
    }
    if super::otlp::is_otlp_path(path) {
        let job = req
            .headers()
            .get(job_token::HEADER)
            .and_then(|t| state.keys.verify_job_token(t.as_bytes()));
        if let Some(job) = job {
            req.extensions_mut().insert(super::otlp::IngestJob(job));
            return next.run(req).await;
        }
    }
    if presented_keys(req.headers(), req.uri().query())
        .iter()
        .any(|k| state.keys.accepts(k))
    {
        next.run(req).await
    } else {
        unauthorized()
    }
}

/// Every key the request carries: `X-API-Key`, `Authorization: Bearer <key>`, `?api_key=`
/// (both as sent and percent-decoded: the seed compared the raw query text).
fn presented_keys(headers: &HeaderMap, query: Option<&str>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for v in headers.get_all("x-api-key") {
        out.push(v.as_bytes().trim_ascii().to_vec());
    }
    for v in headers.get_all(axum::http::header::AUTHORIZATION) {
        let v = v.as_bytes().trim_ascii();
        if v.len() > 7 && v[..7].eq_ignore_ascii_case(b"bearer ") {
            out.push(v[7..].trim_ascii().to_vec());
        }
    }
    for pair in query.unwrap_or_default().split('&') {
        if let Some(raw) = pair.strip_prefix("api_key=") {
            let decoded = form_urlencoded::parse(pair.as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            if decoded.as_bytes() != raw.as_bytes() {
                out.push(decoded.into_bytes());
            }
            out.push(raw.as_bytes().to_vec());
        }
    }
    out.retain(|k| !k.is_empty());
    out
}

/// Is `host` (a bind address, maybe `[v6]` or with a `:port`) a loopback address or name?
/// `serve` refuses to listen anywhere else without API keys.
pub fn is_loopback(host: &str) -> bool {
    let h = host.trim();
    // Strip a port: "[::1]:8200", "127.0.0.1:8200"; a bare IPv6 address has several colons.
    let h = if let Some(rest) = h.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else if h.matches(':').count() == 1 {
        h.split(':').next().unwrap_or_default()
    } else {
        h
    };
    if h.eq_ignore_ascii_case("localhost") || h.to_ascii_lowercase().ends_with(".localhost") {
        return true;
    }
    match h.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => a.is_loopback(),
        Ok(std::net::IpAddr::V6(a)) => {
            a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_configured_keys() {
        let keys = ApiKeys::new(vec!["secret-1".into(), "".into(), " other ".into()]);
        assert!(keys.enabled());
        assert!(keys.accepts(b"secret-1"));
        assert!(keys.accepts(b"other"));
        assert!(!keys.accepts(b"secret-"));
        assert!(!keys.accepts(b"secret-12"));
        assert!(!keys.accepts(b""));
        assert!(!ApiKeys::new(vec![String::new()]).enabled());
        assert_eq!(format!("{keys:?}"), "ApiKeys(2 keys)");
    }

    #[test]
    fn a_job_token_verifies_under_any_key_and_only_for_its_job() {
        let configured: Vec<String> = vec!["k1".into(), "k2".into()];
        let keys = ApiKeys::new(configured.clone());
        let job = Uuid::new_v4();
        // As the runner makes it for a job's Claude.
        let token = job_token::for_first_key(&configured, job).expect("keys on");
        assert!(!token.contains("k1"));
        assert_eq!(keys.verify_job_token(token.as_bytes()), Some(job));
        let rotated = ApiKeys::new(vec!["k3".into(), "k1".into()]);
        assert_eq!(rotated.verify_job_token(token.as_bytes()), Some(job));
        let gone = ApiKeys::new(vec!["k2".into()]);
        assert_eq!(gone.verify_job_token(token.as_bytes()), None);
        let other = Uuid::new_v4();
        let forged = token.replacen(&job.to_string(), &other.to_string(), 1);
        assert_eq!(keys.verify_job_token(forged.as_bytes()), None);
        assert_eq!(job_token::for_first_key(&[], job), None);
        assert_eq!(keys.verify_job_token(b"\xff"), None);
    }

    #[test]
    fn ct_eq_is_exact() {
        let a = digest(b"a");
        let mut b = a;
        assert_eq!(ct_eq(&a, &b), 1);
        b[31] ^= 0x80;
        assert_eq!(ct_eq(&a, &b), 0);
    }

    #[test]
    fn keys_from_headers_bearer_and_query() {
        let mut h = HeaderMap::new();
        h.insert("x-api-key", "k1".parse().unwrap());
        h.insert("authorization", "Bearer k2".parse().unwrap());
        let got = presented_keys(&h, Some("a=1&api_key=k%2B3&b=2"));
        assert_eq!(
            got,
            vec![
                b"k1".to_vec(),
                b"k2".to_vec(),
                b"k+3".to_vec(),
                b"k%2B3".to_vec()
            ]
        );
        assert!(presented_keys(&HeaderMap::new(), Some("xapi_key=1")).is_empty());
    }

    #[test]
    fn a_query_key_is_taken_decoded_and_as_sent() {
        let got = presented_keys(
            &HeaderMap::new(),
            Some("api_key=a%20b+c&api_key=%zz%4&api_key=%41"),
        );
        let got: Vec<String> = got
            .into_iter()
            .map(|k| String::from_utf8_lossy(&k).into())
            .collect();
        assert_eq!(got, ["a b c", "a%20b+c", "%zz%4", "A", "%41"]);
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
            "[::1]:8200",
            "localhost",
            "LOCALHOST",
            "127.0.0.1:8200",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "0.0.0.0",
            "::",
            "192.168.1.2",
            "example.com",
            "",
            "10.0.0.1:80",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
