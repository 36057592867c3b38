//! A write lane of the PostgreSQL sink: a queue bounded in rows, and one background task that
//! batches what is queued (up to `max_rows` rows or `BATCH_WAIT`) and writes each batch in one
//! transaction, reconnecting with back-off while PostgreSQL is down. Rows it holds while
//! PostgreSQL is down stay queued (bounded by the lane's row budget) and are written when it
//! comes back; rows PostgreSQL refuses while it answers are dropped and counted.
//!
//! The sink has two lanes, each with its own connection: finished jobs, and Claude's OTLP
//! telemetry (far more rows). A flood of telemetry never delays or drops a job row.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_postgres::{Client, NoTls};

use super::migrations;
use crate::config::mask_url;

/// How long a batch waits for more rows after its first one.
pub const BATCH_WAIT: Duration = Duration::from_secs(1);
/// Longest a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// What a lane queues and how it writes it.
pub trait LaneWriter: Send + Sync + 'static {
    type Item: Send + 'static;
    /// What its rows are called in logs ("job rows", "telemetry rows").
    const WHAT: &'static str;
    /// Rows one item holds.
    fn rows(item: &Self::Item) -> u64;
    /// Write `items` in one transaction.
    fn write<'a>(
        client: &'a mut Client,
        items: &'a [Self::Item],
    ) -> impl Future<Output = Result<(), tokio_postgres::Error>> + Send + 'a;
}

/// Why an item was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the PostgreSQL queue is full (PostgreSQL down or slow?)")]
    QueueFull,
    #[error("the PostgreSQL sink has stopped")]
    Stopped,
}

/// A lane's counters since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LaneStatus {
    pub rows_written: u64,
    pub rows_dropped: u64,
    /// Rows queued or held, not written yet.
    pub pending_rows: u64,
    /// Whether the last attempt to reach PostgreSQL succeeded.
    pub up: bool,
}

#[derive(Default)]
struct Counters {
    written: AtomicU64,
    dropped: AtomicU64,
    pending: AtomicU64,
    up: AtomicBool,
    /// A burst of drops is under way (its warning was logged).
    dropping: AtomicBool,
}

impl Counters {
    fn done(&self, n: u64, written: bool) {
        let to = if written {
            &self.written
        } else {
            &self.dropped
        };
        to.fetch_add(n, Ordering::Relaxed);
        self.pending.fetch_sub(n, Ordering::Relaxed);
    }
}

pub struct Lane<W: LaneWriter> {
    url: String,
    budget: u64,
    max_batch_rows: u64,
    tx: mpsc::UnboundedSender<W::Item>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<W::Item>>>,
    counters: Arc<Counters>,
}

impl<W: LaneWriter> Lane<W> {
    /// A lane to `url` holding at most `budget` rows, writing up to `max_batch_rows` at once.
    pub fn new(url: &str, budget: u64, max_batch_rows: u64) -> Lane<W> {
        let (tx, rx) = mpsc::unbounded_channel();
        Lane {
            url: url.to_string(),
            budget,
            max_batch_rows: max_batch_rows.max(1),
            tx,
            rx: Mutex::new(Some(rx)),
            counters: Arc::new(Counters::default()),
        }
    }

    /// Spawn the background task, once; a no-op outside a Tokio runtime or when started.
    /// True when this call started it.
    pub fn start(&self) -> bool {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        let rx = match self.rx.lock() {
            Ok(mut g) => g.take(),
            Err(_) => None,
        };
        if let Some(rx) = rx {
            let task = Task::<W> {
                url: self.url.clone(),
                counters: self.counters.clone(),
                max_batch_rows: self.max_batch_rows,
                budget: self.budget,
                rx,
            };
            handle.spawn(task.run());
            return true;
        }
        false
    }

    fn started(&self) -> bool {
        self.rx.lock().map(|g| g.is_none()).unwrap_or(false)
    }

    /// Queue `item`. Never blocks: past the row budget it is refused, counted as dropped, and
    /// warned about once per burst.
    pub fn push(&self, item: W::Item) -> Result<(), Refused> {
        self.start();
        let c = &self.counters;
        let n = W::rows(&item);
        let before = c.pending.fetch_add(n, Ordering::Relaxed);
        let refused = if before + n > self.budget {
            Some(Refused::QueueFull)
        } else if self.tx.send(item).is_err() {
            Some(Refused::Stopped)
        } else {
            None
        };
        match refused {
            None => {
                if c.dropping.swap(false, Ordering::Relaxed) {
                    tracing::info!("PostgreSQL sink takes {} again", W::WHAT);
                }
                Ok(())
            }
            Some(why) => {
                c.done(n, false);
                if !c.dropping.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        dropped_total = c.dropped.load(Ordering::Relaxed),
                        "PostgreSQL sink drops {}: {why}",
                        W::WHAT
                    );
                }
                Err(why)
            }
        }
    }

    /// Wait until every queued row is written (or dropped), until `deadline`. Returns at once
    /// when the task never started. Rows left are logged.
    pub async fn flush(&self, deadline: Instant) {
        if !self.started() {
            return;
        }
        while self.counters.pending.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let left = self.counters.pending.load(Ordering::Relaxed);
        if left > 0 {
            tracing::warn!(
                rows = left,
                "PostgreSQL sink: {} not written before the stop",
                W::WHAT
            );
        }
    }

    pub fn status(&self) -> LaneStatus {
        let c = &self.counters;
        LaneStatus {
            rows_written: c.written.load(Ordering::Relaxed),
            rows_dropped: c.dropped.load(Ordering::Relaxed),
            pending_rows: c.pending.load(Ordering::Relaxed),
            up: c.up.load(Ordering::Relaxed),
        }
    }
}

/// The background task of one lane.
struct Task<W: LaneWriter> {
    url: String,
    counters: Arc<Counters>,
    max_batch_rows: u64,
    budget: u64,
    rx: mpsc::UnboundedReceiver<W::Item>,
}

impl<W: LaneWriter> Task<W> {
    /// Batch, connect (migrating on each new connection), write, repeat; ends once the lane is
    /// gone and everything it held is written, or PostgreSQL is unreachable by then.
    async fn run(mut self) {
        let masked = mask_url(&self.url);
        let mut client: Option<Client> = None;
        let mut backoff = BACKOFF_MIN;
        // Warn once per outage; note when it ends.
        let mut down_logged = false;
        let mut batch: Vec<W::Item> = Vec::new();
        let mut batch_rows = 0u64;
        // Connect at start, so the migrations run before the first row comes.
        let mut open = true;
        loop {
            if client.is_none() {
                match connect(&self.url).await {
                    Ok(c) => {
                        client = Some(c);
                        self.counters.up.store(true, Ordering::Relaxed);
                        backoff = BACKOFF_MIN;
                        if down_logged {
                            tracing::info!(url = %masked, "PostgreSQL sink: reachable again");
                            down_logged = false;
                        }
                    }
                    Err(e) => {
                        self.counters.up.store(false, Ordering::Relaxed);
                        if !down_logged {
                            tracing::warn!(
                                url = %masked,
                                "PostgreSQL sink: cannot reach PostgreSQL ({e}); {} are kept \
                                 (up to {}) and retried",
                                W::WHAT,
                                self.budget
                            );
                            down_logged = true;
                        } else {
                            tracing::debug!(url = %masked, "PostgreSQL sink: still down: {e}");
                        }
                        if !open && batch.is_empty() {
                            return;
                        }
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                        continue;
                    }
                }
            }
            if batch.is_empty() {
                if !open {
                    return;
                }
                open = self.fill(&mut batch, &mut batch_rows).await;
                if batch.is_empty() {
                    continue;
                }
            }
            let Some(c) = client.as_mut() else { continue };
            match W::write(c, &batch).await {
                Ok(()) => {
                    self.counters.done(batch_rows, true);
                    tracing::debug!(rows = batch_rows, "PostgreSQL sink: {} written", W::WHAT);
                    batch.clear();
                    batch_rows = 0;
                }
                Err(e) => {
                    // PostgreSQL refused the rows themselves when the connection still
                    // answers: retrying them would loop forever. Otherwise the connection
                    // broke: keep the batch and reconnect.
                    if still_answers(c).await {
                        self.counters.done(batch_rows, false);
                        tracing::error!(
                            rows = batch_rows,
                            "PostgreSQL sink: {} refused, dropped: {e}",
                            W::WHAT
                        );
                        batch.clear();
                        batch_rows = 0;
                    } else {
                        self.counters.up.store(false, Ordering::Relaxed);
                        tracing::warn!(
                            url = %masked,
                            "PostgreSQL sink: connection lost ({e}); {} kept, retrying",
                            W::WHAT
                        );
                        down_logged = true;
                        client = None;
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                    }
                }
            }
        }
    }

    /// Wait for a first item, then up to `BATCH_WAIT` for more, up to `max_batch_rows` rows.
    /// False once the queue is closed (the sink is gone).
    async fn fill(&mut self, batch: &mut Vec<W::Item>, rows: &mut u64) -> bool {
        match self.rx.recv().await {
            Some(item) => {
                *rows += W::rows(&item);
                batch.push(item);
            }
            None => return false,
        }
        let deadline = Instant::now() + BATCH_WAIT;
        while *rows < self.max_batch_rows {
            tokio::select! {
                r = self.rx.recv() => match r {
                    Some(item) => {
                        *rows += W::rows(&item);
                        batch.push(item);
                    }
                    None => return false,
                },
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        true
    }
}

async fn still_answers(c: &Client) -> bool {
    !c.is_closed()
        && tokio::time::timeout(CONNECT_TIMEOUT, c.simple_query("SELECT 1"))
            .await
            .is_ok_and(|r| r.is_ok())
}

async fn connect(url: &str) -> Result<Client, String> {
    let attempt = async {
        let (mut client, conn) = tokio_postgres::connect(url, NoTls)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("PostgreSQL sink connection ended: {e}");
            }
        });
        migrations::migrate(&mut client)
            .await
            .map_err(|e| format!("migrations failed: {e}"))?;
        Ok(client)
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs())),
    }
}
