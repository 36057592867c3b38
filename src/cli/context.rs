//! What every engine-backed command needs: the config, the store and the engine.
//! (A remote backend over HTTP joins this with the `serve` daemon.)

use std::sync::Arc;

use agenticore::config::Config;
use agenticore::engine::Engine;
use agenticore::job::JobId;
use agenticore::store::sqlite::SqliteStore;

use super::{CliError, exit};

pub struct Ctx {
    pub engine: Engine,
}

impl Ctx {
    pub fn load() -> Result<Ctx, CliError> {
        let config = load_config()?;
        let store = SqliteStore::open(&config.jobs_db_path())
            .map_err(|e| CliError::new(exit::UNREACHABLE, e.to_string()))?;
        let exe = std::env::current_exe().map_err(|e| {
            CliError::new(
                exit::UNREACHABLE,
                format!("cannot find the agenticore binary itself: {e}"),
            )
        })?;
        Ok(Ctx {
            engine: Engine::new(config, Arc::new(store), exe),
        })
    }

    pub fn config(&self) -> &Config {
        self.engine.config()
    }

    /// Before showing jobs: reap those whose runner died, and make sure queued jobs have a
    /// worker (it may have crashed), so nothing waits forever unseen.
    pub async fn reconcile(&self) {
        self.engine.reconcile().await;
        if self
            .engine
            .store()
            .counts()
            .await
            .is_ok_and(|c| c.queued > 0)
        {
            super::worker::ensure_running(self.config());
        }
    }
}

pub fn load_config() -> Result<Config, CliError> {
    Config::load().map_err(|e| CliError::usage(e.to_string()))
}

pub fn parse_id(s: &str) -> Result<JobId, CliError> {
    s.parse::<JobId>()
        .map_err(|e| CliError::new(exit::NOT_FOUND, format!("{e}; no such job")))
}
