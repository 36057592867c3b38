//! The default job store: one SQLite file (`~/.agenticore/jobs.db`) in WAL mode, shared safely by
//! several processes (a `serve` daemon and an embedded `submit --wait`) and by several
//! `SqliteStore` instances in one process.
//!
//! # Layout (schema v1, `PRAGMA user_version = 1`)
//!
//! One table, `jobs`. The job itself is the serde JSON of [`Job`] in `data`; the other columns are
//! copies of what the queries need (`status`, `node`, `cancel_requested`, `expires_at_ms`) plus
//! the lease, which only lives in its column. Every write that changes `data` is a
//! read-modify-write inside a `BEGIN IMMEDIATE` transaction and rewrites the copied columns from
//! the job, so they cannot drift apart.
//!
//! Ids are UUID v7, so their hyphenated text sorts by creation time: lists are `ORDER BY id DESC`
//! over an index (the primary key, or `(status, id)`) with an `id < cursor` bound, and the queue is
//! `ORDER BY id ASC`.
//!
//! # Unreadable rows
//!
//! A row whose JSON does not parse (or whose JSON id differs from its row id) is "corrupt":
//! - `get`, `finish`, `request_cancel`, `set_pid`, `update_progress` on it return
//!   [`StoreError::Corrupt`];
//! - `list` and `claim_next` skip it with a `tracing::warn!` (one bad row must not hide every
//!   other job or stall the queue);
//! - `reap` marks a corrupt running row whose lease expired as `failed` in the `status` column only
//!   (its data is kept for inspection, it is not returned), so it stops taking a running slot.
//!
//! # Concurrency
//!
//! Each store holds one connection behind a mutex; every call runs on the blocking pool
//! (`spawn_blocking`). Across connections, SQLite's file locks plus a 10 s busy timeout serialize
//! the writers; `BEGIN IMMEDIATE` takes the write lock up front so a read-then-write never fails
//! half-way with `SQLITE_BUSY`. A store that stays busy past the timeout is `Unreachable`.

use std::collections::HashSet;
use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior, params};

use super::{
    CancelOutcome, ClaimRequest, Counts, JobStore, ListFilter, NodeLoad, Page, StoreError,
    StoreResult,
};
use crate::job::{Job, JobId, JobState, Outcome, Progress, Status};

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: i64 = 1;

/// How long a call waits for another connection's lock before the store is `Unreachable`.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    id               TEXT PRIMARY KEY NOT NULL,
    status           TEXT NOT NULL,
    node             TEXT,
    lease_until_ms   INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    expires_at_ms    INTEGER,
    data             TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_status_id ON jobs (status, id);
CREATE INDEX IF NOT EXISTS jobs_expires_at ON jobs (expires_at_ms) WHERE expires_at_ms IS NOT NULL;
";

/// The SQLite job store. Cheap to clone (clones share one connection).
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    location: String,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Open (or create) the store at `path`: creates missing parent directories (mode 0700) and
    /// the file (mode 0600), turns on WAL, and creates or checks the schema. A file written by a
    /// newer agenticore (higher `user_version`) or a SQLite file that is not a job store is
    /// refused, never modified. Blocking: call it at startup or from `spawn_blocking`.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        let location = path.display().to_string();
        let unreachable = |message: String| StoreError::Unreachable {
            location: location.clone(),
            message,
        };

        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && !parent.exists()
        {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|e| {
                    unreachable(format!("cannot create directory {}: {e}", parent.display()))
                })?;
        }
        // Create the file ourselves so that it is private from the start (SQLite would use the
        // umask); the -wal and -shm files inherit its mode.
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|e| unreachable(format!("cannot open the file: {e}")))?;

        // No SQLITE_OPEN_URI: a path is a path, even one that starts with `file:`.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags)
            .map_err(|e| db_err(&location, "cannot open the database", e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| db_err(&location, "cannot set the busy timeout", e))?;

        // Check the version before changing anything in the file.
        let version = user_version(&conn)
            .map_err(|e| db_err(&location, "cannot read the schema version", e))?;
        check_version(&location, version)?;

        let mode = set_wal(&conn).map_err(|e| db_err(&location, "cannot turn on WAL mode", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(
                store = %location,
                journal_mode = %mode,
                "SQLite refused WAL mode; concurrent access will be slower"
            );
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| db_err(&location, "cannot set synchronous=NORMAL", e))?;

        migrate(&mut conn, &location)?;

        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                location,
                conn: Mutex::new(conn),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Run `f` with the connection on the blocking pool.
    async fn run<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &str) -> StoreResult<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave a transaction open (dropping a
            // `Transaction` rolls it back), so a poisoned connection is still usable.
            let mut conn = inner.conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut conn, &inner.location)
        })
        .await
        .map_err(|e| StoreError::Backend {
            location: self.inner.location.clone(),
            message: format!("store task failed: {e}"),
        })?
    }
}

/// `PRAGMA journal_mode = WAL`, retried while another connection holds the file: switching a
/// new file to WAL needs an exclusive lock and SQLite reports `SQLITE_BUSY` at once, without
/// calling the busy handler, when several processes open it together. Returns the mode in force.
fn set_wal(conn: &Connection) -> rusqlite::Result<String> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    let mut pause = Duration::from_millis(1);
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)) {
            Err(e)
                if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

fn check_version(location: &str, version: i64) -> StoreResult<()> {
    if version > SCHEMA_VERSION {
        return Err(StoreError::Backend {
            location: location.to_string(),
            message: format!(
                "the job store has schema version {version}, newer than this agenticore \
                 understands (version {SCHEMA_VERSION}); upgrade agenticore or use another \
                 store file"
            ),
        });
    }
    if version < 0 {
        return Err(StoreError::Backend {
            location: location.to_string(),
            message: format!("the job store has an invalid schema version {version}"),
        });
    }
    Ok(())
}

/// Bring the schema to `SCHEMA_VERSION` (only v1 exists: create it on an empty file).
fn migrate(conn: &mut Connection, location: &str) -> StoreResult<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(ctx(
            location,
            "cannot lock the database to set up the schema",
        ))?;
    // Another process may have created (or upgraded) the schema since we looked.
    let version = user_version(&tx).map_err(ctx(location, "cannot read the schema version"))?;
    check_version(location, version)?;
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    let foreign: i64 = tx
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'",
            [],
            |r| r.get(0),
        )
        .map_err(ctx(location, "cannot read the schema"))?;
    if foreign > 0 {
        return Err(StoreError::Backend {
            location: location.to_string(),
            message: "this SQLite file is not an agenticore job store (it has tables but no \
                      schema version); refusing to modify it"
                .to_string(),
        });
    }
    tx.execute_batch(SCHEMA_V1)
        .map_err(ctx(location, "cannot create the schema"))?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(ctx(location, "cannot set the schema version"))?;
    tx.commit()
        .map_err(ctx(location, "cannot commit the schema"))
}

/// Map a rusqlite error to a `StoreError`: lock timeouts and open failures are `Unreachable`.
fn db_err(location: &str, context: &str, e: rusqlite::Error) -> StoreError {
    let location = location.to_string();
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Unreachable {
            location,
            message: format!(
                "{context}: the database is locked by another connection (waited up to {} s: \
                 {e})",
                BUSY_TIMEOUT.as_secs()
            ),
        },
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied | ErrorCode::ReadOnly) => {
            StoreError::Unreachable {
                location,
                message: format!("{context}: {e}"),
            }
        }
        Some(ErrorCode::NotADatabase) => StoreError::Backend {
            location,
            message: format!("{context}: the file is not a SQLite database ({e})"),
        },
        _ => StoreError::Backend {
            location,
            message: format!("{context}: {e}"),
        },
    }
}

/// A closure mapping a rusqlite error with `context`, for `map_err`.
fn ctx<'a>(location: &'a str, context: &'a str) -> impl Fn(rusqlite::Error) -> StoreError + 'a {
    move |e| db_err(location, context, e)
}

fn parse_job(id: &str, data: &str) -> StoreResult<Job> {
    let job: Job = serde_json::from_str(data).map_err(|e| StoreError::Corrupt {
        id: id.to_string(),
        message: format!("invalid job JSON: {e}"),
    })?;
    if job.id.to_string() != id {
        return Err(StoreError::Corrupt {
            id: id.to_string(),
            message: format!("the stored job says its id is {}", job.id),
        });
    }
    Ok(job)
}

fn to_json(location: &str, job: &Job) -> StoreResult<String> {
    serde_json::to_string(job).map_err(|e| StoreError::Backend {
        location: location.to_string(),
        message: format!("cannot serialize job {}: {e}", job.id),
    })
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn lease_until(now: DateTime<Utc>, lease: Duration) -> i64 {
    ms(now).saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX))
}

fn cancel_requested(state: &JobState) -> bool {
    matches!(
        state,
        JobState::Running {
            cancel_requested: true,
            ..
        }
    )
}

/// What to do with the lease column when a job is written back.
#[derive(Clone, Copy)]
enum Lease {
    Keep,
    Set(Option<i64>),
}

/// Read one job inside the current transaction; `None` if missing.
fn load(conn: &Connection, location: &str, id: &str) -> StoreResult<Option<Job>> {
    let data: Option<String> = conn
        .prepare_cached("SELECT data FROM jobs WHERE id = ?1")
        .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
        .map_err(ctx(location, "cannot read a job"))?;
    data.map(|d| parse_job(id, &d)).transpose()
}

/// Write `job` back (data and the columns copied from it) if its row still has status
/// `expected`. Returns whether a row was written.
fn save(
    conn: &Connection,
    location: &str,
    job: &Job,
    expected: Status,
    lease: Lease,
) -> StoreResult<bool> {
    let data = to_json(location, job)?;
    let (set_lease, lease_ms) = match lease {
        Lease::Keep => (false, None),
        Lease::Set(v) => (true, v),
    };
    let n = conn
        .prepare_cached(
            "UPDATE jobs SET status = ?2, node = ?3, cancel_requested = ?4, expires_at_ms = ?5,
                 data = ?6, lease_until_ms = CASE WHEN ?7 THEN ?8 ELSE lease_until_ms END
             WHERE id = ?1 AND status = ?9",
        )
        .and_then(|mut s| {
            s.execute(params![
                job.id.to_string(),
                job.status().as_str(),
                job.state.node(),
                cancel_requested(&job.state),
                job.expires_at().map(ms),
                data,
                set_lease,
                lease_ms,
                expected.as_str(),
            ])
        })
        .map_err(ctx(location, "cannot update a job"))?;
    Ok(n > 0)
}

fn immediate<'c>(
    conn: &'c mut Connection,
    location: &str,
) -> StoreResult<rusqlite::Transaction<'c>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(ctx(location, "cannot begin a write transaction"))
}

fn commit(tx: rusqlite::Transaction<'_>, location: &str) -> StoreResult<()> {
    tx.commit().map_err(ctx(location, "cannot commit"))
}

/// The list query for `filter` and its parameters (`status?`, `cursor?`, `limit + 1`).
fn list_query(filter: &ListFilter) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value;
    let mut sql = String::from("SELECT id, data FROM jobs");
    let mut args = Vec::new();
    let mut conds = Vec::new();
    if let Some(st) = filter.status {
        args.push(Value::Text(st.as_str().to_string()));
        conds.push(format!("status = ?{}", args.len()));
    }
    if let Some(c) = filter.cursor {
        args.push(Value::Text(c.to_string()));
        conds.push(format!("id < ?{}", args.len()));
    }
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    let fetch = i64::try_from(filter.limit.saturating_add(1)).unwrap_or(i64::MAX);
    args.push(Value::Integer(fetch));
    sql.push_str(&format!(" ORDER BY id DESC LIMIT ?{}", args.len()));
    (sql, args)
}

#[async_trait]
impl JobStore for SqliteStore {
    fn location(&self) -> String {
        self.inner.location.clone()
    }

    async fn insert(&self, job: &Job) -> StoreResult<()> {
        let job = job.clone();
        self.run(move |conn, loc| {
            let data = to_json(loc, &job)?;
            // Only a claim gives a lease. A job inserted as running has none, and `reap` treats
            // a missing lease as expired.
            let lease: Option<i64> = None;
            let res = conn
                .prepare_cached(
                    "INSERT INTO jobs (id, status, node, lease_until_ms, cancel_requested,
                         expires_at_ms, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        job.id.to_string(),
                        job.status().as_str(),
                        job.state.node(),
                        lease,
                        cancel_requested(&job.state),
                        job.expires_at().map(ms),
                        data,
                    ])
                });
            match res {
                Ok(_) => Ok(()),
                Err(rusqlite::Error::SqliteFailure(err, _))
                    if err.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
                {
                    Err(StoreError::Duplicate(job.id))
                }
                Err(e) => Err(db_err(loc, "cannot insert a job", e)),
            }
        })
        .await
    }

    async fn get(&self, id: JobId) -> StoreResult<Option<Job>> {
        self.run(move |conn, loc| load(conn, loc, &id.to_string()))
            .await
    }

    async fn list(&self, filter: &ListFilter) -> StoreResult<Page> {
        let filter = filter.clone();
        self.run(move |conn, loc| {
            let (sql, args) = list_query(&filter);
            let mut stmt = conn
                .prepare_cached(&sql)
                .map_err(ctx(loc, "cannot list jobs"))?;
            let rows: Vec<(String, String)> = stmt
                .query_map(rusqlite::params_from_iter(args), |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .and_then(|rows| rows.collect())
                .map_err(ctx(loc, "cannot list jobs"))?;
            let more = rows.len() > filter.limit;
            let mut jobs = Vec::with_capacity(filter.limit.min(rows.len()));
            let mut last_id = None;
            for (id, data) in rows.into_iter().take(filter.limit) {
                // Page on the row id even when its data is unreadable, so a bad row at the end
                // of a page does not end (or repeat) the listing.
                if let Ok(parsed) = id.parse::<JobId>() {
                    last_id = Some(parsed);
                }
                match parse_job(&id, &data) {
                    Ok(job) => jobs.push(job),
                    Err(e) => tracing::warn!(store = %loc, "skipping a job in list: {e}"),
                }
            }
            Ok(Page {
                jobs,
                next_cursor: if more { last_id } else { None },
            })
        })
        .await
    }

    async fn claim_next(&self, req: &ClaimRequest) -> StoreResult<Option<Job>> {
        let req = req.clone();
        self.run(move |conn, loc| {
            let tx = immediate(conn, loc)?;
            let running: i64 = tx
                .query_row(
                    "SELECT COUNT(*) FROM jobs WHERE status = 'running'",
                    [],
                    |r| r.get(0),
                )
                .map_err(ctx(loc, "cannot count running jobs"))?;
            if usize::try_from(running).unwrap_or(usize::MAX) >= req.max_running {
                return Ok(None);
            }

            let mut job = match req.only {
                Some(only) => {
                    let id = only.to_string();
                    let data: Option<String> = tx
                        .query_row(
                            "SELECT data FROM jobs WHERE id = ?1 AND status = 'queued'",
                            [&id],
                            |r| r.get(0),
                        )
                        .optional()
                        .map_err(ctx(loc, "cannot read the queue"))?;
                    match data {
                        Some(d) => parse_job(&id, &d)?,
                        None => return Ok(None),
                    }
                }
                None => {
                    let mut stmt = tx
                        .prepare_cached(
                            "SELECT id, data FROM jobs WHERE status = 'queued' ORDER BY id ASC",
                        )
                        .map_err(ctx(loc, "cannot read the queue"))?;
                    let mut rows = stmt.query([]).map_err(ctx(loc, "cannot read the queue"))?;
                    let mut found = None;
                    while let Some(row) = rows.next().map_err(ctx(loc, "cannot read the queue"))? {
                        let id: String = row.get(0).map_err(ctx(loc, "cannot read the queue"))?;
                        let data: String = row.get(1).map_err(ctx(loc, "cannot read the queue"))?;
                        match parse_job(&id, &data) {
                            Ok(job) => {
                                found = Some(job);
                                break;
                            }
                            Err(e) => {
                                tracing::warn!(store = %loc, "skipping a queued job: {e}");
                            }
                        }
                    }
                    match found {
                        Some(job) => job,
                        None => return Ok(None),
                    }
                }
            };

            let now = Utc::now();
            job.state = JobState::Running {
                started_at: now,
                node: req.node.clone(),
                pid: None,
                cancel_requested: false,
            };
            let lease = lease_until(now, req.lease);
            if !save(&tx, loc, &job, Status::Queued, Lease::Set(Some(lease)))? {
                // Cannot happen inside the write transaction; be safe anyway.
                return Ok(None);
            }
            commit(tx, loc)?;
            Ok(Some(job))
        })
        .await
    }

    async fn set_pid(&self, id: JobId, pid: u32) -> StoreResult<()> {
        self.run(move |conn, loc| {
            let tx = immediate(conn, loc)?;
            let Some(mut job) = load(&tx, loc, &id.to_string())? else {
                tracing::debug!(job = %id, "set_pid: no such job");
                return Ok(());
            };
            match &mut job.state {
                JobState::Running { pid: p, .. } => *p = Some(pid),
                other => {
                    // It finished (or was reaped) meanwhile: nothing to record.
                    tracing::debug!(job = %id, status = %other.status(), "set_pid: not running");
                    return Ok(());
                }
            }
            save(&tx, loc, &job, Status::Running, Lease::Keep)?;
            commit(tx, loc)
        })
        .await
    }

    async fn update_progress(&self, id: JobId, progress: &Progress) -> StoreResult<()> {
        let progress = progress.clone();
        self.run(move |conn, loc| {
            let tx = immediate(conn, loc)?;
            let Some(mut job) = load(&tx, loc, &id.to_string())? else {
                tracing::debug!(job = %id, "update_progress: no such job");
                return Ok(());
            };
            job.progress = progress;
            let status = job.status();
            save(&tx, loc, &job, status, Lease::Keep)?;
            commit(tx, loc)
        })
        .await
    }

    async fn finish(&self, id: JobId, outcome: Outcome) -> StoreResult<Option<Job>> {
        self.run(move |conn, loc| {
            let tx = immediate(conn, loc)?;
            let sid = id.to_string();
            let data: Option<String> = tx
                .query_row(
                    "SELECT data FROM jobs WHERE id = ?1 AND status = 'running'",
                    [&sid],
                    |r| r.get(0),
                )
                .optional()
                .map_err(ctx(loc, "cannot read a job"))?;
            let Some(data) = data else {
                return Ok(None);
            };
            let mut job = parse_job(&sid, &data)?;
            if job.status() != Status::Running {
                return Err(StoreError::Corrupt {
                    id: sid,
                    message: format!("row says running, data says {}", job.status()),
                });
            }
            job.state = outcome.into_state(job.state.started_at(), Utc::now());
            if !save(&tx, loc, &job, Status::Running, Lease::Set(None))? {
                return Ok(None);
            }
            commit(tx, loc)?;
            Ok(Some(job))
        })
        .await
    }

    async fn request_cancel(&self, id: JobId, reason: &str) -> StoreResult<CancelOutcome> {
        let reason = reason.to_string();
        self.run(move |conn, loc| {
            let tx = immediate(conn, loc)?;
            let Some(mut job) = load(&tx, loc, &id.to_string())? else {
                return Ok(CancelOutcome::NotFound);
            };
            let outcome = match &mut job.state {
                JobState::Queued => {
                    job.state = JobState::Cancelled {
                        started_at: None,
                        ended_at: Utc::now(),
                        exit_code: None,
                        reason,
                    };
                    save(&tx, loc, &job, Status::Queued, Lease::Set(None))?;
                    CancelOutcome::CancelledQueued(job)
                }
                JobState::Running {
                    cancel_requested, ..
                } => {
                    if !*cancel_requested {
                        *cancel_requested = true;
                        save(&tx, loc, &job, Status::Running, Lease::Keep)?;
                    }
                    CancelOutcome::Requested(job)
                }
                _ => CancelOutcome::AlreadyFinished(job),
            };
            commit(tx, loc)?;
            Ok(outcome)
        })
        .await
    }

    async fn heartbeat(
        &self,
        node: &str,
        running: &[JobId],
        lease: Duration,
    ) -> StoreResult<Vec<JobId>> {
        if running.is_empty() {
            return Ok(Vec::new());
        }
        let node = node.to_string();
        let ids = running.to_vec();
        self.run(move |conn, loc| {
            let tx = immediate(conn, loc)?;
            let until = lease_until(Utc::now(), lease);
            let mut cancelled = Vec::new();
            {
                let mut stmt = tx
                    .prepare_cached(
                        "UPDATE jobs SET lease_until_ms = ?1
                         WHERE id = ?2 AND status = 'running' AND node = ?3
                         RETURNING cancel_requested",
                    )
                    .map_err(ctx(loc, "cannot renew leases"))?;
                for id in ids {
                    let flag: Option<bool> = stmt
                        .query_row(params![until, id.to_string(), node], |r| r.get(0))
                        .optional()
                        .map_err(ctx(loc, "cannot renew leases"))?;
                    if flag == Some(true) {
                        cancelled.push(id);
                    }
                }
            }
            commit(tx, loc)?;
            Ok(cancelled)
        })
        .await
    }

    async fn reap(
        &self,
        now: DateTime<Utc>,
        check_leases: bool,
        is_dead: &(dyn for<'n> Fn(&'n str) -> bool + Send + Sync),
    ) -> StoreResult<Vec<Job>> {
        // Ask about the owners outside the database lock: `is_dead` may be slow.
        let nodes: Vec<String> = self
            .run(|conn, loc| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT DISTINCT node FROM jobs
                         WHERE status = 'running' AND node IS NOT NULL",
                    )
                    .map_err(ctx(loc, "cannot list running owners"))?;
                stmt.query_map([], |r| r.get(0))
                    .and_then(|rows| rows.collect())
                    .map_err(ctx(loc, "cannot list running owners"))
            })
            .await?;
        let dead: HashSet<String> = nodes.into_iter().filter(|n| is_dead(n)).collect();

        self.run(move |conn, loc| {
            let now_ms = ms(now);
            let stale = |node: &Option<String>, lease: Option<i64>| {
                (check_leases && lease.is_none_or(|l| l < now_ms))
                    || node.as_ref().is_some_and(|n| dead.contains(n))
            };
            // The usual answer is "nothing is stale": find that out without the write lock
            // (a reader never blocks the writers), and take it only when there is work.
            let candidates: Vec<(Option<String>, Option<i64>)> = conn
                .prepare_cached("SELECT node, lease_until_ms FROM jobs WHERE status = 'running'")
                .and_then(|mut s| {
                    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                        .and_then(|rows| rows.collect())
                })
                .map_err(ctx(loc, "cannot list running jobs"))?;
            if !candidates.iter().any(|(node, lease)| stale(node, *lease)) {
                return Ok(Vec::new());
            }
            let tx = immediate(conn, loc)?;
            let rows: Vec<(String, Option<String>, Option<i64>, String)> = tx
                .prepare_cached(
                    "SELECT id, node, lease_until_ms, data FROM jobs WHERE status = 'running'",
                )
                .and_then(|mut s| {
                    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                        .and_then(|rows| rows.collect())
                })
                .map_err(ctx(loc, "cannot list running jobs"))?;
            let mut reaped = Vec::new();
            for (id, node, lease, data) in rows {
                // Checked again under the lock: a lease may have been renewed meanwhile.
                if !stale(&node, lease) {
                    continue;
                }
                let mut job = match parse_job(&id, &data) {
                    Ok(job) => job,
                    Err(e) => {
                        tracing::warn!(
                            store = %loc,
                            "marking an unreadable running job failed: {e}"
                        );
                        tx.execute(
                            "UPDATE jobs SET status = 'failed', node = NULL, lease_until_ms = NULL,
                                 cancel_requested = 0
                             WHERE id = ?1 AND status = 'running'",
                            [&id],
                        )
                        .map_err(ctx(loc, "cannot reap a job"))?;
                        continue;
                    }
                };
                let owner = job
                    .state
                    .node()
                    .map(str::to_string)
                    .or(node)
                    .unwrap_or_else(|| "unknown".to_string());
                let outcome = if cancel_requested(&job.state) {
                    Outcome::Cancelled {
                        exit_code: None,
                        reason: "cancelled (its runner stopped)".to_string(),
                    }
                } else {
                    Outcome::Failed {
                        exit_code: None,
                        error: format!(
                            "interrupted: its runner ({owner}) stopped before the job finished"
                        ),
                        timeout: None,
                    }
                };
                job.state = outcome.into_state(job.state.started_at(), now);
                if save(&tx, loc, &job, Status::Running, Lease::Set(None))? {
                    reaped.push(job);
                }
            }
            commit(tx, loc)?;
            Ok(reaped)
        })
        .await
    }

    async fn release(&self, id: JobId, node: &str) -> StoreResult<bool> {
        let node = node.to_string();
        self.run(move |conn, loc| {
            let tx = immediate(conn, loc)?;
            let Some(mut job) = load(&tx, loc, &id.to_string())? else {
                return Ok(false);
            };
            if job.state.node() != Some(node.as_str())
                || job.status() != Status::Running
                || cancel_requested(&job.state)
            {
                return Ok(false);
            }
            job.state = JobState::Queued;
            let released = save(&tx, loc, &job, Status::Running, Lease::Set(None))?;
            commit(tx, loc)?;
            Ok(released)
        })
        .await
    }

    async fn nodes(&self) -> StoreResult<Vec<NodeLoad>> {
        self.run(|conn, loc| {
            let rows: Vec<(String, i64)> = conn
                .prepare_cached(
                    "SELECT node, COUNT(*) FROM jobs WHERE status = 'running' AND node IS NOT NULL
                     GROUP BY node ORDER BY node",
                )
                .and_then(|mut s| {
                    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                        .and_then(|rows| rows.collect())
                })
                .map_err(ctx(loc, "cannot count running jobs per node"))?;
            Ok(rows
                .into_iter()
                .map(|(node, n)| NodeLoad {
                    node,
                    running: u64::try_from(n).unwrap_or(0),
                    max_parallel_jobs: None,
                    last_seen: None,
                })
                .collect())
        })
        .await
    }

    async fn expire(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        self.run(move |conn, loc| {
            let n = conn
                .execute(
                    "DELETE FROM jobs WHERE expires_at_ms < ?1
                         AND status IN ('succeeded', 'failed', 'cancelled')",
                    [ms(now)],
                )
                .map_err(ctx(loc, "cannot delete expired jobs"))?;
            Ok(u64::try_from(n).unwrap_or(u64::MAX))
        })
        .await
    }

    async fn counts(&self) -> StoreResult<Counts> {
        self.run(|conn, loc| {
            let rows: Vec<(String, i64)> = conn
                .prepare_cached("SELECT status, COUNT(*) FROM jobs GROUP BY status")
                .and_then(|mut s| {
                    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                        .and_then(|rows| rows.collect())
                })
                .map_err(ctx(loc, "cannot count jobs"))?;
            let mut c = Counts::default();
            for (status, n) in rows {
                let n = u64::try_from(n).unwrap_or(0);
                match status.parse::<Status>() {
                    Ok(Status::Queued) => c.queued += n,
                    Ok(Status::Running) => c.running += n,
                    Ok(Status::Succeeded) => c.succeeded += n,
                    Ok(Status::Failed) => c.failed += n,
                    Ok(Status::Cancelled) => c.cancelled += n,
                    Err(_) => {
                        tracing::warn!(store = %loc, %status, "{n} jobs with an unknown status")
                    }
                }
            }
            Ok(c)
        })
        .await
    }

    /// `PRAGMA data_version` moves when another connection commits; this connection's own
    /// writes move `total_changes`. Both only grow, so their weighted sum changes on any write.
    async fn version(&self) -> StoreResult<Option<u64>> {
        self.run(|conn, loc| {
            let data_version: i64 = conn
                .query_row("PRAGMA data_version", [], |r| r.get(0))
                .map_err(ctx(loc, "cannot read the data version"))?;
            let others = u64::try_from(data_version).unwrap_or(0);
            Ok(Some(
                others
                    .wrapping_mul(1 << 32)
                    .wrapping_add(conn.total_changes()),
            ))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(conn: &Connection, filter: &ListFilter) -> Vec<String> {
        let (sql, args) = list_query(filter);
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("prepare");
        stmt.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))
            .expect("query")
            .collect::<rusqlite::Result<Vec<_>>>()
            .expect("rows")
    }

    #[test]
    fn list_uses_an_index_and_no_sort() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("jobs.db")).expect("open");
        let conn = store.inner.conn.lock().expect("lock");
        let cursor = Some(JobId::new());
        for (status, cursor) in [
            (None, None),
            (None, cursor),
            (Some(Status::Queued), None),
            (Some(Status::Succeeded), cursor),
        ] {
            let f = ListFilter {
                status,
                limit: 20,
                cursor,
            };
            let p = plan(&conn, &f).join(" | ");
            assert!(!p.contains("TEMP B-TREE"), "{f:?} sorts: {p}");
            assert!(
                p.contains("USING INDEX"),
                "{f:?} does not use an index: {p}"
            );
            if status.is_some() {
                assert!(p.contains("jobs_status_id"), "{f:?}: {p}");
            }
            if status.is_some() || cursor.is_some() {
                assert!(p.starts_with("SEARCH"), "{f:?} scans: {p}");
            }
        }
    }

    #[test]
    fn list_query_binds_in_order() {
        let (sql, args) = list_query(&ListFilter {
            status: Some(Status::Running),
            limit: 5,
            cursor: Some(JobId::new()),
        });
        assert_eq!(
            sql,
            "SELECT id, data FROM jobs WHERE status = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3"
        );
        assert_eq!(args.len(), 3);
        assert_eq!(args[2], rusqlite::types::Value::Integer(6));
    }

    #[test]
    fn open_creates_private_dir_and_file_with_wal() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a/b/jobs.db");
        let store = SqliteStore::open(&path).expect("open");
        assert_eq!(store.path(), path);
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&dir.path().join("a/b")), 0o700);
        assert_eq!(mode(&path), 0o600);
        // SQLite gives its side files the database file's mode.
        assert_eq!(mode(&dir.path().join("a/b/jobs.db-wal")), 0o600);
        assert_eq!(mode(&dir.path().join("a/b/jobs.db-shm")), 0o600);
        let conn = store.inner.conn.lock().expect("lock");
        let jm: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("pragma");
        assert_eq!(jm, "wal");
        assert_eq!(user_version(&conn).expect("version"), SCHEMA_VERSION);
        drop(conn);
        // Opening again is fine.
        SqliteStore::open(&path).expect("reopen");
    }

    #[test]
    fn concurrent_first_opens_agree_on_the_schema() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("jobs.db");
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || SqliteStore::open(&path).map(|_| ()))
            })
            .collect();
        for h in handles {
            h.join().expect("thread").expect("open");
        }
        let store = SqliteStore::open(&path).expect("open");
        let conn = store.inner.conn.lock().expect("lock");
        assert_eq!(user_version(&conn).expect("version"), SCHEMA_VERSION);
    }

    #[test]
    fn foreign_sqlite_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("other.db");
        let c = Connection::open(&path).expect("open");
        c.execute_batch("CREATE TABLE t (x)").expect("create");
        drop(c);
        let err = SqliteStore::open(&path).expect_err("foreign file accepted");
        assert!(
            err.to_string().contains("not an agenticore job store"),
            "{err}"
        );
    }

    #[test]
    fn non_database_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("junk.db");
        std::fs::write(&path, vec![b'x'; 4096]).expect("write");
        let err = SqliteStore::open(&path).expect_err("junk accepted");
        assert!(err.to_string().contains("not a SQLite database"), "{err}");
    }
}
