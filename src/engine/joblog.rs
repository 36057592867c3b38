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
