//! The per-job log, `~/.agenticore/logs/<id>.jsonl`: every stdout line of claude as it came,
//! plus agenticore's own lines (`{"type":"agenticore",...}`: status changes, spawn, cancel,
//! timeout, stderr). It is the job's durable event journal: `logs -f` and the SSE endpoint
//! replay and follow it, with the line number as the event id.

use tokio::io::AsyncWriteExt;

/// The per-job log file. Logging must never fail a job: errors are reported once and the
/// log is then skipped.
pub struct JobLog {
    file: Option<tokio::fs::File>,
}

impl JobLog {
    pub async fn open(path: &std::path::Path) -> JobLog {
        if let Some(dir) = path.parent() {
            let _ = tokio::fs::create_dir_all(dir).await;
        }
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await;
        match file {
            Ok(f) => JobLog { file: Some(f) },
            Err(e) => {
                tracing::warn!("cannot write job log {}: {e}", path.display());
                JobLog { file: None }
            }
        }
    }

    pub async fn raw(&mut self, line: &str) {
        if let Some(f) = &mut self.file {
            let mut buf = Vec::with_capacity(line.len() + 1);
            buf.extend_from_slice(line.as_bytes());
            buf.push(b'\n');
            if f.write_all(&buf).await.is_err() {
                self.file = None;
            }
        }
    }

    pub async fn note(&mut self, mut v: serde_json::Value) {
        if let Some(obj) = v.as_object_mut() {
            obj.insert("type".into(), "agenticore".into());
            obj.insert("at".into(), chrono::Utc::now().to_rfc3339().into());
        }
        self.raw(&v.to_string()).await;
    }
}

/// How often a follower looks for new lines when no in-process event woke it (the job may be
/// run by another process).
const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// Reads a job's log as it is written, line by line, until the job is terminal and the log has
/// been read to its end: what `logs -f` and the SSE endpoint both consume. Works for jobs run
/// by any process on the store (it polls), and wakes early on this engine's own events.
pub struct LogFollower {
    engine: super::Engine,
    id: crate::job::JobId,
    path: std::path::PathBuf,
    reader: Option<tokio::io::BufReader<tokio::fs::File>>,
    /// A line being written: kept until its newline arrives.
    partial: String,
    wake: tokio::sync::broadcast::Receiver<super::events::JobEvent>,
    /// Ends the follow early (a server shutting down).
    stop: Option<tokio_util::sync::CancellationToken>,
    /// The terminal job, once the log has been read to its end.
    finished: Option<crate::job::Job>,
}

/// What the follower saw next.
pub enum Followed {
    Line(String),
    /// The job is terminal and every line was given; the final record.
    End(Box<crate::job::Job>),
    /// `stop` fired before the job ended.
    Stopped,
}

impl LogFollower {
    pub fn new(engine: &super::Engine, id: crate::job::JobId) -> LogFollower {
        LogFollower {
            wake: engine.subscribe(),
            path: super::execute::log_path(engine.config(), id),
            engine: engine.clone(),
            id,
            reader: None,
            partial: String::new(),
            stop: None,
            finished: None,
        }
    }

    pub fn until(mut self, stop: tokio_util::sync::CancellationToken) -> LogFollower {
        self.stop = Some(stop);
        self
    }

    pub async fn next(&mut self) -> Result<Followed, FollowError> {
        loop {
            if let Some(job) = &self.finished {
                return Ok(Followed::End(Box::new(job.clone())));
            }
            if let Some(line) = self.read_line().await? {
                return Ok(Followed::Line(line));
            }
            // Nothing new: is the job over? (Checked after a read, so the lines written before
            // the end were given; one more read covers the race.)
            let job = self.engine.get(self.id).await?;
            if job.status().is_terminal() {
                if let Some(line) = self.read_line().await? {
                    return Ok(Followed::Line(line));
                }
                self.finished = Some(job);
                let rest = std::mem::take(&mut self.partial);
                if !rest.trim().is_empty() {
                    return Ok(Followed::Line(rest));
                }
                continue;
            }
            if self.stop.as_ref().is_some_and(|s| s.is_cancelled()) {
                return Ok(Followed::Stopped);
            }
            self.wait().await;
        }
    }

    /// The next complete line, if one is there now.
    async fn read_line(&mut self) -> Result<Option<String>, FollowError> {
        use tokio::io::AsyncBufReadExt;
        if self.reader.is_none() {
            match tokio::fs::File::open(&self.path).await {
                Ok(f) => self.reader = Some(tokio::io::BufReader::new(f)),
                // The log appears when the job starts.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(FollowError::read(&self.path, e)),
            }
        }
        let Some(reader) = self.reader.as_mut() else {
            return Ok(None);
        };
        let mut buf = String::new();
        match reader.read_line(&mut buf).await {
            Ok(0) => Ok(None),
            Ok(_) if buf.ends_with('\n') => {
                let mut line = std::mem::take(&mut self.partial);
                line.push_str(buf.trim_end_matches(['\n', '\r']));
                Ok(Some(line))
            }
            Ok(_) => {
                self.partial.push_str(&buf);
                Ok(None)
            }
            Err(e) => Err(FollowError::read(&self.path, e)),
        }
    }

    async fn wait(&mut self) {
        let woken = super::events::next_for(&mut self.wake, self.id);
        let stop = self.stop.clone();
        let stopped = async move {
            match stop {
                Some(s) => s.cancelled().await,
                None => std::future::pending().await,
            }
        };
        let _ = tokio::time::timeout(FOLLOW_POLL, async {
            tokio::select! {
                _ = stopped => {},
                _ = woken => {},
            }
        })
        .await;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error("reading {path}: {message}")]
    Read { path: String, message: String },
    #[error(transparent)]
    Engine(#[from] super::EngineError),
}

impl FollowError {
    fn read(path: &std::path::Path, e: std::io::Error) -> FollowError {
        FollowError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    }
}
