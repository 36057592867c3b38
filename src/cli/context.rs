//! What the commands need: the embedded engine (`Ctx`, for the background worker) and the
//! backend every job command goes through (`choose_backend`): the daemon when there is one,
//! else the embedded engine on the local store.

use std::time::Duration;

use agenticore::client::{ApiClient, Backend, ClientError, Local};
use agenticore::config::{Config, Source};
use agenticore::engine::Engine;
use agenticore::job::JobId;

use super::{CliError, exit};

/// How long the default address may take to answer `/health` before the CLI runs the engine
/// itself.
const PROBE_TIMEOUT: Duration = Duration::from_millis(300);

pub struct Ctx {
    pub engine: Engine,
}

impl Ctx {
    pub async fn load() -> Result<Ctx, CliError> {
        Self::with_config(load_config()?).await
    }

    /// The engine over the configured store: Redis when `REDIS_URL` is set (an unreachable
    /// Redis falls back to the SQLite file, loudly, unless `redis.required`: then exit 5), else
    /// the SQLite file.
    pub async fn with_config(config: Config) -> Result<Ctx, CliError> {
        let store = agenticore::store::open(&config)
            .await
            .map_err(|e| CliError::new(exit::UNREACHABLE, e.to_string()))?;
        let exe = std::env::current_exe().map_err(|e| {
            CliError::new(
                exit::UNREACHABLE,
                format!("cannot find the agenticore binary itself: {e}"),
            )
        })?;
        Ok(Ctx {
            engine: Engine::new(config, store, exe),
        })
    }

    pub fn config(&self) -> &Config {
        self.engine.config()
    }
}

/// Where the backend came from: it decides what an "unreachable" error advises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `AGENTICORE_URL`.
    Env,
    /// `server.url` in config.yml.
    ConfigFile,
    /// A daemon answered on the default address.
    Discovered,
    /// No daemon: the embedded engine.
    Local,
}

impl Origin {
    /// Advice appended to an "unreachable" error.
    pub fn hint(self) -> &'static str {
        match self {
            Origin::Env => "; unset AGENTICORE_URL to use the local engine",
            Origin::ConfigFile => "; remove server.url from config.yml to use the local engine",
            Origin::Discovered => "; the daemon stopped answering (is `agenticore serve` running?)",
            Origin::Local => "",
        }
    }
}

/// The backend every job command uses. An explicit URL (`AGENTICORE_URL`, `server.url`) is
/// used as is (if it does not answer, commands fail with exit 5). Otherwise a daemon answering
/// `/health` as agenticore on `server.host:server.port` is used, and without one the embedded
/// engine runs on the local store.
pub async fn choose_backend() -> Result<(Backend, Origin), CliError> {
    let config = load_config()?;
    let key = api_key(&config);
    if let Some(url) = config.server.url.clone() {
        let origin = match config.source_of("server.url") {
            Source::Env(_) => Origin::Env,
            _ => Origin::ConfigFile,
        };
        let client = ApiClient::new(&url, key.as_deref()).map_err(to_cli)?;
        tracing::info!(
            "using the agenticore server at {} (from {})",
            client.base_url(),
            config.source_of("server.url")
        );
        return Ok((Backend::Remote(client), origin));
    }
    let url = default_url(&config.server.host, config.server.port);
    if let Ok(client) = ApiClient::new(&url, key.as_deref()) {
        match client.probe(PROBE_TIMEOUT).await {
            Ok(h) if h.service == "agenticore" => {
                tracing::info!(
                    "using the agenticore daemon at {} (version {}, store {})",
                    client.base_url(),
                    h.version,
                    h.store
                );
                return Ok((Backend::Remote(client), Origin::Discovered));
            }
            Ok(h) => tracing::info!(
                "{url} answers but is not agenticore (service {:?})",
                h.service
            ),
            Err(e) => tracing::debug!("no daemon at {url}: {e}"),
        }
    }
    let ctx = Ctx::with_config(config).await?;
    let backend = Backend::Local(Local::new(ctx.engine, super::worker::ensure_running));
    tracing::info!("no daemon answers at {url}: using {}", backend.describe());
    Ok((backend, Origin::Local))
}

/// The API key the client sends: `AGENTICORE_API_KEY`, else the first of `server.api_keys`.
pub(super) fn api_key(config: &Config) -> Option<String> {
    std::env::var("AGENTICORE_API_KEY")
        .ok()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .or_else(|| config.server.api_keys.first().cloned())
}

/// `http://host:port` of the configured bind address; a wildcard bind is reached on loopback.
fn default_url(host: &str, port: u16) -> String {
    let h = host.trim().trim_start_matches('[').trim_end_matches(']');
    let h = match h {
        "" | "0.0.0.0" | "::" => "127.0.0.1",
        h => h,
    };
    if h.contains(':') {
        format!("http://[{h}]:{port}")
    } else {
        format!("http://{h}:{port}")
    }
}

pub fn load_config() -> Result<Config, CliError> {
    Config::load().map_err(|e| CliError::usage(e.to_string()))
}

pub fn parse_id(s: &str) -> Result<JobId, CliError> {
    s.parse::<JobId>()
        .map_err(|e| CliError::new(exit::NOT_FOUND, format!("{e}; no such job")))
}

/// The exit code and message of a backend error.
pub fn to_cli(e: ClientError) -> CliError {
    let code = match &e {
        ClientError::Unreachable { .. } | ClientError::Store(_) => exit::UNREACHABLE,
        ClientError::Server(s, _) if *s >= 500 => exit::UNREACHABLE,
        ClientError::NotFound(_) => exit::NOT_FOUND,
        ClientError::Unauthorized | ClientError::Invalid(_) | ClientError::Server(..) => {
            exit::USAGE
        }
    };
    CliError::new(code, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_url_reaches_a_wildcard_bind_on_loopback() {
        assert_eq!(default_url("0.0.0.0", 8200), "http://127.0.0.1:8200");
        assert_eq!(default_url("::", 1), "http://127.0.0.1:1");
        assert_eq!(default_url("127.0.0.1", 9), "http://127.0.0.1:9");
        assert_eq!(default_url("::1", 9), "http://[::1]:9");
        assert_eq!(default_url("[::1]", 9), "http://[::1]:9");
        assert_eq!(default_url("box.local", 9), "http://box.local:9");
    }
}
