//! `ApiClient`: the daemon's REST routes over reqwest, returning the `api` wire types.
//! The API key goes in the `X-API-Key` header only (never in a URL, never in logs or Debug).

use std::time::Duration;

use futures_util::Stream;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use super::ClientError;
use super::sse::{SseEvent, SseParser};
use crate::api::{ErrorBody, Health, JobEnvelope, JobList, ProfileList, Stats, SubmitBody};
use crate::job::{JobId, Status};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Plain calls (everything but `wait` and event streams).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// `GET /stats` reads every job the store holds (up to a million): give it longer.
const STATS_TIMEOUT: Duration = Duration::from_secs(300);
/// An event stream silent this long is presumed dead and reopened (with `Last-Event-ID`).
const SSE_IDLE: Duration = Duration::from_secs(90);
/// Reconnects in a row without a single event before the stream gives up.
const SSE_MAX_RETRIES: u32 = 20;

/// A client of one agenticore server. Cheap to clone.
#[derive(Clone)]
pub struct ApiClient {
    base: String,
    http: reqwest::Client,
    headers: HeaderMap,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base_url())
            .field("api_key", &self.headers.contains_key("x-api-key"))
            .finish()
    }
}

/// Query strings are built by hand (reqwest's `query` feature is off); every value put in one
/// is a number, a status name, a job id, or a value escaped with `escape`.
fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// `s` percent-encoded for a query string (everything but RFC 3986's unreserved characters).
fn escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

impl ApiClient {
    /// A client of the server at `base_url` (`http://host:port`, optionally with a path prefix).
    pub fn new(base_url: &str, api_key: Option<&str>) -> Result<ApiClient, ClientError> {
        // reqwest is built without a default TLS crypto provider; ring is ours.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let base = base_url.trim().trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::Invalid(format!(
                "server URL {:?} must start with http:// or https://",
                crate::config::mask_url(&base)
            )));
        }
        let mut headers = HeaderMap::new();
        if let Some(key) = api_key.filter(|k| !k.is_empty()) {
            let mut v = HeaderValue::from_str(key).map_err(|_| {
                ClientError::Invalid("the API key holds characters a header cannot carry".into())
            })?;
            v.set_sensitive(true);
            headers.insert("x-api-key", v);
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("agenticore/", env!("CARGO_PKG_VERSION")));
        if is_loopback_url(&base) {
            // A proxy from the environment has no business with a local daemon.
            builder = builder.no_proxy();
        }
        if base.starts_with("http://") {
            // Plain HTTP needs no trust store: loading the system's (hundreds of files) was
            // most of a CLI command's start-up. A redirect to https then fails, as it should.
            builder = builder.tls_certs_only(std::iter::empty());
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Invalid(format!("cannot build the HTTP client: {e}")))?;
        Ok(ApiClient {
            base,
            http,
            headers,
        })
    }

    /// The server's URL with any credentials masked (for messages).
    pub fn base_url(&self) -> String {
        crate::config::mask_url(&self.base)
    }

    fn unreachable(&self, e: &reqwest::Error) -> ClientError {
        ClientError::Unreachable {
            url: self.base_url(),
            reason: reason_of(e),
        }
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        timeout: Option<Duration>,
    ) -> reqwest::RequestBuilder {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .headers(self.headers.clone());
        if let Some(t) = timeout {
            r = r.timeout(t);
        }
        r
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, ClientError> {
        let resp = req.send().await.map_err(|e| self.unreachable(&e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let text = resp.text().await.unwrap_or_default();
        Err(error_from(status, &text))
    }

    async fn call<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let resp = self.send(req).await?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| self.unreachable(&e))?;
        serde_json::from_str(&text).map_err(|e| {
            ClientError::Server(
                status.as_u16(),
                format!(
                    "unexpected response from {}: {e}: {}",
                    self.base_url(),
                    crate::engine::events::truncate_chars(text.trim(), 200)
                ),
            )
        })
    }

    /// `GET /health` (public even when keys are set). A degraded server (503, its store does
    /// not answer) still says who it is: that is a `Health` with status `degraded`.
    pub async fn health(&self) -> Result<Health, ClientError> {
        self.health_within(CALL_TIMEOUT).await
    }

    /// `GET /health` with a short overall deadline: is an agenticore daemon there?
    pub async fn probe(&self, within: Duration) -> Result<Health, ClientError> {
        self.health_within(within).await
    }

    async fn health_within(&self, within: Duration) -> Result<Health, ClientError> {
        let resp = self
            .request(Method::GET, "/health", Some(within))
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| self.unreachable(&e))?;
        if (status.is_success() || status == StatusCode::SERVICE_UNAVAILABLE)
            && let Ok(h) = serde_json::from_str::<Health>(&text)
        {
            return Ok(h);
        }
        Err(if status.is_success() {
            ClientError::Server(
                status.as_u16(),
                format!("{} does not answer /health as agenticore", self.base_url()),
            )
        } else {
            error_from(status, &text)
        })
    }

    /// `POST /jobs`. With `body.wait` the call holds (no deadline) until the job ends.
    pub async fn submit(&self, body: &SubmitBody) -> Result<JobEnvelope, ClientError> {
        let timeout = (!body.wait).then_some(CALL_TIMEOUT);
        self.call(self.request(Method::POST, "/jobs", timeout).json(body))
            .await
    }

    /// `GET /jobs?limit=&status=&cursor=`, newest first.
    pub async fn list(
        &self,
        limit: usize,
        status: Option<Status>,
        cursor: Option<JobId>,
    ) -> Result<JobList, ClientError> {
        let q = query(&[
            ("limit", Some(limit.to_string())),
            ("status", status.map(|s| s.to_string())),
            ("cursor", cursor.map(|c| c.to_string())),
        ]);
        self.call(self.request(Method::GET, &format!("/jobs{q}"), Some(CALL_TIMEOUT)))
            .await
    }

    /// `GET /jobs/{id}`.
    pub async fn get(&self, id: JobId) -> Result<JobEnvelope, ClientError> {
        self.call(self.request(Method::GET, &format!("/jobs/{id}"), Some(CALL_TIMEOUT)))
            .await
    }

    /// `DELETE /jobs/{id}[?wait=true]`; with `wait` it returns once the job's processes are dead.
    pub async fn cancel(&self, id: JobId, wait: bool) -> Result<JobEnvelope, ClientError> {
        let (path, timeout) = if wait {
            (format!("/jobs/{id}?wait=true"), None)
        } else {
            (format!("/jobs/{id}?wait=false"), Some(CALL_TIMEOUT))
        };
        self.call(self.request(Method::DELETE, &path, timeout))
            .await
    }

    /// `GET /profiles`.
    pub async fn profiles(&self) -> Result<ProfileList, ClientError> {
        self.call(self.request(Method::GET, "/profiles", Some(CALL_TIMEOUT)))
            .await
    }

    /// `GET /stats[?since=]`.
    pub async fn stats(
        &self,
        since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Stats, ClientError> {
        let q = query(&[("since", since.map(|t| escape(&crate::api::timestamp(t))))]);
        self.call(self.request(Method::GET, &format!("/stats{q}"), Some(STATS_TIMEOUT)))
            .await
    }

    /// `GET /jobs/{id}/logs[?tail=N]`: the job's log (JSON lines), as text.
    pub async fn logs(&self, id: JobId, tail: Option<usize>) -> Result<String, ClientError> {
        let q = query(&[("tail", tail.map(|t| t.to_string()))]);
        let resp = self
            .send(self.request(Method::GET, &format!("/jobs/{id}/logs{q}"), None))
            .await?;
        resp.text().await.map_err(|e| self.unreachable(&e))
    }

    /// `GET /jobs/{id}/events`: the job's log lines as SSE, then a final `job` event. A dropped
    /// connection is reopened with `Last-Event-ID` until that final event arrives.
    pub fn events(
        &self,
        id: JobId,
        last_event_id: Option<String>,
    ) -> impl Stream<Item = Result<SseEvent, ClientError>> + Send + 'static {
        let mut parser = SseParser::new();
        parser.set_last_event_id(last_event_id);
        let state = EventStream {
            client: self.clone(),
            id,
            parser,
            resp: None,
            done: false,
            failures: 0,
        };
        futures_util::stream::unfold(state, |mut st| async move {
            let item = st.next_event().await?;
            Some((item, st))
        })
    }

    async fn open_events(
        &self,
        id: JobId,
        last_event_id: Option<&str>,
    ) -> Result<reqwest::Response, ClientError> {
        let mut req = self
            .request(Method::GET, &format!("/jobs/{id}/events"), None)
            .header("accept", "text/event-stream");
        if let Some(last) = last_event_id {
            req = req.header("last-event-id", last);
        }
        self.send(req).await
    }
}

struct EventStream {
    client: ApiClient,
    id: JobId,
    parser: SseParser,
    resp: Option<reqwest::Response>,
    /// The final `job` event was delivered, or the stream failed for good.
    done: bool,
    /// Failed or empty connections in a row.
    failures: u32,
}

impl EventStream {
    async fn next_event(&mut self) -> Option<Result<SseEvent, ClientError>> {
        loop {
            if let Some(ev) = self.parser.pop() {
                self.failures = 0;
                if ev.event == "job" {
                    self.done = true;
                    self.resp = None;
                }
                return Some(Ok(ev));
            }
            if self.done {
                return None;
            }
            let Some(resp) = self.resp.as_mut() else {
                if self.failures > 0 {
                    let base = self.parser.retry_ms().unwrap_or(250).clamp(50, 5_000);
                    let backoff = base.saturating_mul(u64::from(self.failures.min(8)));
                    tokio::time::sleep(Duration::from_millis(backoff.min(5_000))).await;
                }
                let last = self.parser.last_event_id().map(str::to_string);
                match self.client.open_events(self.id, last.as_deref()).await {
                    Ok(r) => self.resp = Some(r),
                    Err(e) => {
                        let retryable = matches!(
                            e,
                            ClientError::Unreachable { .. } | ClientError::Server(500.., _)
                        );
                        self.failures += 1;
                        if !retryable || self.failures > SSE_MAX_RETRIES {
                            self.done = true;
                            return Some(Err(e));
                        }
                        tracing::debug!("event stream: {e}; retrying");
                    }
                }
                continue;
            };
            match tokio::time::timeout(SSE_IDLE, resp.chunk()).await {
                Ok(Ok(Some(chunk))) => self.parser.feed(&chunk),
                end => {
                    // Ended, broke, or went silent before the final event: reopen where we were.
                    match end {
                        Ok(Err(e)) => tracing::debug!("event stream broke: {}", reason_of(&e)),
                        Err(_) => tracing::debug!("event stream silent for {SSE_IDLE:?}"),
                        _ => tracing::debug!("event stream ended early"),
                    }
                    self.resp = None;
                    self.parser.reset_connection();
                    self.failures += 1;
                    if self.failures > SSE_MAX_RETRIES {
                        self.done = true;
                        return Some(Err(ClientError::Unreachable {
                            url: self.client.base_url(),
                            reason: "the event stream keeps breaking".into(),
                        }));
                    }
                }
            }
        }
    }
}

/// The HTTP error of a response, from its status and its `{"error": ...}` body.
pub(crate) fn error_from(status: StatusCode, body: &str) -> ClientError {
    let msg = serde_json::from_str::<ErrorBody>(body)
        .map(|b| b.error)
        .or_else(|_| {
            serde_json::from_str::<serde_json::Value>(body).map(|v| {
                v.get("error")
                    .and_then(|e| e.as_str())
                    .unwrap_or_default()
                    .to_string()
            })
        })
        .unwrap_or_default();
    let msg = if msg.is_empty() {
        let t = crate::engine::events::truncate_chars(body.trim(), 200);
        if t.is_empty() { status.to_string() } else { t }
    } else {
        msg
    };
    match status.as_u16() {
        401 | 403 => ClientError::Unauthorized,
        404 => ClientError::NotFound(msg),
        400 | 413 | 422 => ClientError::Invalid(msg),
        s => ClientError::Server(s, msg),
    }
}

/// The innermost cause of a transport error, in a few words ("connection refused").
fn reason_of(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text = cause.to_string();
    // io::Error's text carries "(os error 111)": drop it.
    let text = match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    let lower = text.to_lowercase();
    if lower.starts_with("connection refused") {
        "connection refused".into()
    } else {
        lower
    }
}

fn is_loopback_url(base: &str) -> bool {
    let rest = base.split_once("://").map(|(_, r)| r).unwrap_or(base);
    let authority = rest.split('/').next().unwrap_or("");
    let host = authority
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(authority);
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host.split(':').next().unwrap_or("")
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_from_status_and_body() {
        let e = error_from(
            StatusCode::NOT_FOUND,
            r#"{"success":false,"error":"Job not found: x"}"#,
        );
        assert!(matches!(e, ClientError::NotFound(ref m) if m == "Job not found: x"));
        let e = error_from(
            StatusCode::UNAUTHORIZED,
            r#"{"error":"Invalid or missing API key"}"#,
        );
        assert!(matches!(e, ClientError::Unauthorized));
        let e = error_from(StatusCode::PAYLOAD_TOO_LARGE, "");
        assert!(matches!(e, ClientError::Invalid(ref m) if m.contains("413")));
        let e = error_from(StatusCode::SERVICE_UNAVAILABLE, r#"{"error":"store down"}"#);
        assert!(matches!(e, ClientError::Server(503, ref m) if m == "store down"));
        let e = error_from(StatusCode::BAD_GATEWAY, "<html>nginx</html>");
        assert!(matches!(e, ClientError::Server(502, ref m) if m.contains("nginx")));
    }

    #[test]
    fn loopback_detection() {
        for (u, want) in [
            ("http://127.0.0.1:8200", true),
            ("http://localhost", true),
            ("http://[::1]:80/x", true),
            ("http://u:p@127.0.0.2:1", true),
            ("https://agenticore.example.com", false),
            ("http://10.0.0.1:8200", false),
        ] {
            assert_eq!(is_loopback_url(u), want, "{u}");
        }
    }

    #[test]
    fn the_api_key_is_not_in_debug_output() {
        let c = ApiClient::new("http://127.0.0.1:1/", Some("sekrit-key")).expect("client");
        let d = format!("{c:?}");
        assert!(!d.contains("sekrit"), "{d}");
        assert_eq!(c.base_url(), "http://127.0.0.1:1");
        assert!(ApiClient::new("ftp://x", None).is_err());
    }

    #[test]
    fn query_strings() {
        assert_eq!(query(&[("a", None)]), "");
        assert_eq!(
            query(&[
                ("limit", Some("5".into())),
                ("status", None),
                ("c", Some("x".into()))
            ]),
            "?limit=5&c=x"
        );
        assert_eq!(
            escape("2025-01-31T00:00:00.000000+00:00"),
            "2025-01-31T00%3A00%3A00.000000%2B00%3A00"
        );
    }
}
