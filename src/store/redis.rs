//! The Redis job store (`REDIS_URL`): several `serve` nodes share one queue, each job runs once.
//!
//! # Keys (all under `{prefix}:`)
//!
//! - `job:{id}`: a hash a human can read (`redis-cli HGETALL`): `status`, `task`, `repo_url`,
//!   `base_ref`, `profile`, `mode`, `created_at`, `started_at`, `ended_at`, `node`, `pid`,
//!   `exit_code`, `error`, `cancel_requested`, `lease_until_ms`, `ttl_seconds`,
//!   `expires_at_ms`, plus `spec` and `progress` (JSON) and `timeout` (JSON). The job is rebuilt
//!   from these fields; the state fields are written by the Lua scripts, never as a JSON blob,
//!   so a state change needs no JSON in Lua. A terminal job's hash gets a Redis TTL
//!   (`PEXPIREAT` a minute after its expiry), so Redis deletes it even if no node runs `expire`.
//! - `jobs` and `jobs:{status}`: sorted sets of ids, all with score 0, ordered by member: ids are
//!   UUID v7, whose text sorts by creation time, so `ZREVRANGEBYLEX` lists newest first from a
//!   cursor in O(log n + page).
//! - `expiry`: terminal ids scored by their expiry time (ms), for `expire`.
//! - `queue`: a stream with the consumer group `agenticore`; one entry per queued job
//!   (`XADD` on insert). A claim reads with `XREADGROUP` (consumer = node name) one entry at a
//!   time and only while the node is below its cap; entries a dead node read but never
//!   confirmed are taken over with `XAUTOCLAIM` once idle longer than the lease; a running job's
//!   owner keeps its entry fresh with `XCLAIM … JUSTID` at each heartbeat; the entry is acked
//!   and deleted when the job is terminal, so the stream's length is the number of unfinished
//!   jobs: what KEDA's `redis-streams` trigger scales on (`streamLength`; not the group's lag,
//!   which is 0 while every job runs and unknown to Redis after a queued entry is deleted).
//! - `released`: a list of ids a stopping node handed back (`release`): queued again, their
//!   stream entries still pending; claims take them first, so they keep their place.
//! - `node:{node}:running`: the ids a node runs (its cap).
//! - `nodes` (node names scored by when each last announced itself, ms) and `node_caps` (a
//!   hash: node → its `max_parallel_jobs`): the live nodes for `status`, `/health` and the
//!   dashboard; a node that leaves is removed, one silent for an hour is forgotten.
//! - `version`: `INCR`ed by every write (the dashboard's and `/health`'s `changes`).
//! - `cancel`: a pub/sub channel a cancel of a running job is published on, which
//!   `cancel_hints` relays to the scheduler so the owner acts at once; the durable form is the
//!   job's `cancel_requested` field, which the owner's heartbeat returns.
//!
//! Every state change is one Lua script (see `redis_lua.rs`), so it is atomic.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::redis_lua as lua;
use super::{
    CancelOutcome, ClaimRequest, Counts, JobStore, ListFilter, NodeLoad, Page, StoreError,
    StoreResult,
};
use crate::config::mask_url;
use crate::job::{Job, JobId, JobSpec, JobState, Outcome, Progress, Status, TimeoutKind};

/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one command may take.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// A queue consumer (a node process) idle this long with nothing pending is gone.
pub const CONSUMER_IDLE: Duration = Duration::from_secs(3600);
/// `nodes` lists a node without running jobs if it announced itself this recently (nodes
/// announce themselves every couple of seconds).
pub const NODE_SEEN_WITHIN: Duration = Duration::from_secs(15);

struct Scripts {
    insert: Script,
    claim: Script,
    set_pid: Script,
    progress: Script,
    finish: Script,
    cancel: Script,
    heartbeat: Script,
    reap: Script,
    expire: Script,
    forget: Script,
    prune_consumers: Script,
    release: Script,
    announce: Script,
    leave: Script,
    nodes: Script,
}

impl Scripts {
    fn new() -> Scripts {
        let s = |body: &str| Script::new(&format!("{}\n{body}", lua::PRELUDE));
        Scripts {
            insert: s(lua::INSERT),
            claim: s(lua::CLAIM),
            set_pid: s(lua::SET_PID),
            progress: s(lua::PROGRESS),
            finish: s(lua::FINISH),
            cancel: s(lua::CANCEL),
            heartbeat: s(lua::HEARTBEAT),
            reap: s(lua::REAP),
            expire: s(lua::EXPIRE),
            forget: s(lua::FORGET),
            prune_consumers: s(lua::PRUNE_CONSUMERS),
            release: s(lua::RELEASE),
            announce: s(lua::ANNOUNCE),
            leave: s(lua::LEAVE),
            nodes: s(lua::NODES),
        }
    }
}

/// The Redis job store. Cheap to clone (clones share one multiplexed connection).
#[derive(Clone)]
pub struct RedisStore {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
    location: String,
    scripts: std::sync::Arc<Scripts>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connect to `url` (checked with a PING) and use keys under `prefix:`. The URL's password
    /// never appears in errors or `location`.
    pub async fn connect(url: &str, prefix: &str) -> StoreResult<RedisStore> {
        let location = format!("{} (prefix {prefix})", mask_url(url));
        let unreachable = |message: String| StoreError::Unreachable {
            location: location.clone(),
            message,
        };
        if url.starts_with("rediss:") {
            // The redis crate is built without TLS (it would pull a second TLS stack).
            return Err(StoreError::Backend {
                location,
                message: "rediss:// (TLS) is not supported by this build yet; use redis:// on a \
                          private network or a TLS-terminating proxy"
                    .to_string(),
            });
        }
        let client = redis::Client::open(url)
            .map_err(|e| unreachable(format!("invalid Redis URL: {}", clean(&e, url))))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let mut conn = tokio::time::timeout(
            CONNECT_TIMEOUT + Duration::from_secs(1),
            ConnectionManager::new_with_config(client.clone(), config),
        )
        .await
        .map_err(|_| {
            unreachable(format!(
                "no connection within {} s",
                CONNECT_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| unreachable(clean(&e, url)))?;
        let pong: String =
            tokio::time::timeout(RESPONSE_TIMEOUT, redis::cmd("PING").query_async(&mut conn))
                .await
                .map_err(|_| unreachable("PING timed out".to_string()))?
                .map_err(|e| unreachable(clean(&e, url)))?;
        if pong != "PONG" {
            return Err(unreachable(format!("unexpected PING answer {pong:?}")));
        }
        Ok(RedisStore {
            client,
            conn,
            prefix: prefix.to_string(),
            location,
            scripts: std::sync::Arc::new(Scripts::new()),
        })
    }

    /// The key prefix (without the trailing `:`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }

    fn err(&self, context: &str, e: redis::RedisError) -> StoreError {
        let message = format!("{context}: {e}");
        if e.is_io_error()
            || e.is_timeout()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
        {
            StoreError::Unreachable {
                location: self.location.clone(),
                message,
            }
        } else {
            StoreError::Backend {
                location: self.location.clone(),
                message,
            }
        }
    }

    fn timeout_err(&self, context: &str) -> StoreError {
        StoreError::Unreachable {
            location: self.location.clone(),
            message: format!(
                "{context}: no answer within {} s",
                RESPONSE_TIMEOUT.as_secs()
            ),
        }
    }

    /// Run a script with `args` (the prefix is prepended), bounded by the response timeout.
    async fn run<T: redis::FromRedisValue>(
        &self,
        context: &str,
        script: &Script,
        args: &[String],
    ) -> StoreResult<T> {
        let mut inv = script.prepare_invoke();
        inv.arg(&self.prefix);
        for a in args {
            inv.arg(a);
        }
        let mut conn = self.conn.clone();
        match tokio::time::timeout(RESPONSE_TIMEOUT * 2, inv.invoke_async(&mut conn)).await {
            Ok(r) => r.map_err(|e| self.err(context, e)),
            Err(_) => Err(self.timeout_err(context)),
        }
    }

    async fn query<T: redis::FromRedisValue>(
        &self,
        context: &str,
        cmd: &redis::Cmd,
    ) -> StoreResult<T> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(RESPONSE_TIMEOUT * 2, cmd.query_async(&mut conn)).await {
            Ok(r) => r.map_err(|e| self.err(context, e)),
            Err(_) => Err(self.timeout_err(context)),
        }
    }

    async fn pipe<T: redis::FromRedisValue>(
        &self,
        context: &str,
        pipe: &redis::Pipeline,
    ) -> StoreResult<T> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(RESPONSE_TIMEOUT * 2, pipe.query_async(&mut conn)).await {
            Ok(r) => r.map_err(|e| self.err(context, e)),
            Err(_) => Err(self.timeout_err(context)),
        }
    }

    /// Delete the queue's consumers that have nothing pending and were idle longer than `idle`
    /// (nodes that are gone: every node process is one consumer). Returns how many.
    pub async fn prune_consumers(&self, idle: Duration) -> StoreResult<u64> {
        let ms = i64::try_from(idle.as_millis()).unwrap_or(i64::MAX);
        self.run(
            "cannot prune the queue's consumers",
            &self.scripts.prune_consumers,
            &[ms.to_string()],
        )
        .await
    }

    /// Forward ids published on `{prefix}:cancel` to `tx` until it closes; resubscribes after
    /// a lost connection.
    async fn relay_cancels(
        client: redis::Client,
        channel: String,
        location: String,
        tx: tokio::sync::mpsc::UnboundedSender<JobId>,
    ) {
        use futures_util::StreamExt;
        loop {
            let subscribed = async {
                let mut ps = tokio::time::timeout(CONNECT_TIMEOUT, client.get_async_pubsub())
                    .await
                    .map_err(|_| "no connection in time".to_string())?
                    .map_err(|e| e.to_string())?;
                tokio::time::timeout(RESPONSE_TIMEOUT, ps.subscribe(&channel))
                    .await
                    .map_err(|_| "SUBSCRIBE timed out".to_string())?
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>(ps)
            };
            let ps = tokio::select! {
                _ = tx.closed() => return,
                r = subscribed => r,
            };
            match ps {
                Ok(ps) => {
                    let mut messages = ps.into_on_message();
                    loop {
                        tokio::select! {
                            _ = tx.closed() => return,
                            m = messages.next() => match m {
                                Some(msg) => {
                                    let id = msg
                                        .get_payload::<String>()
                                        .ok()
                                        .and_then(|p| p.parse::<JobId>().ok());
                                    if let Some(id) = id
                                        && tx.send(id).is_err()
                                    {
                                        return;
                                    }
                                }
                                None => break,
                            },
                        }
                    }
                    tracing::debug!(store = %location, "cancel channel closed; resubscribing");
                }
                Err(e) => {
                    tracing::debug!(store = %location, "cannot subscribe to the cancel channel: {e}")
                }
            }
            tokio::select! {
                _ = tx.closed() => return,
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
    }

    /// Drop index entries of jobs whose hash Redis expired.
    async fn forget(&self, ids: Vec<String>) {
        if ids.is_empty() {
            return;
        }
        if let Err(e) = self
            .run::<i64>("cannot clean the job index", &self.scripts.forget, &ids)
            .await
        {
            tracing::debug!(store = %self.location, "{e}");
        }
    }
}

/// A Redis error's text with the URL's password masked (the client may echo the URL).
fn clean(e: &redis::RedisError, url: &str) -> String {
    let text = e.to_string();
    let masked = mask_url(url);
    if masked != url {
        text.replace(url, &masked)
    } else {
        text
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn lease_until(now: DateTime<Utc>, lease: Duration) -> i64 {
    ms(now).saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX))
}

fn json<T: serde::Serialize>(location: &str, what: &str, v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Backend {
        location: location.to_string(),
        message: format!("cannot serialize {what}: {e}"),
    })
}

/// The hash fields of a job (everything but `entry`).
fn fields(location: &str, job: &Job) -> StoreResult<Vec<(&'static str, String)>> {
    let mut f = vec![
        ("id", job.id.to_string()),
        ("status", job.status().as_str().to_string()),
        ("task", job.spec.task.clone()),
        ("profile", job.spec.profile.clone()),
        ("mode", job.spec.mode.as_str().to_string()),
        ("created_at", ts(job.created_at)),
        ("ttl_seconds", job.spec.ttl_seconds.to_string()),
        ("spec", json(location, "the job spec", &job.spec)?),
        (
            "progress",
            json(location, "the job progress", &job.progress)?,
        ),
    ];
    if let Some(r) = &job.spec.repo_url {
        f.push(("repo_url", r.clone()));
    }
    if let Some(b) = &job.spec.base_ref {
        f.push(("base_ref", b.clone()));
    }
    if let Some(s) = job.state.started_at() {
        f.push(("started_at", ts(s)));
    }
    if let Some(e) = job.state.ended_at() {
        f.push(("ended_at", ts(e)));
    }
    if let Some(c) = job.state.exit_code() {
        f.push(("exit_code", c.to_string()));
    }
    if let Some(e) = job.state.error() {
        f.push(("error", e.to_string()));
    }
    if let Some(x) = job.expires_at() {
        f.push(("expires_at_ms", ms(x).to_string()));
    }
    match &job.state {
        JobState::Running {
            node,
            pid,
            cancel_requested,
            ..
        } => {
            f.push(("node", node.clone()));
            if let Some(p) = pid {
                f.push(("pid", p.to_string()));
            }
            f.push((
                "cancel_requested",
                if *cancel_requested { "1" } else { "0" }.to_string(),
            ));
        }
        JobState::Failed {
            timeout: Some(t), ..
        } => f.push(("timeout", json(location, "the timeout", t)?)),
        _ => {}
    }
    Ok(f)
}

/// Rebuild a job from its hash fields.
fn parse_job(id: &str, mut m: HashMap<String, String>) -> StoreResult<Job> {
    let corrupt = |message: String| StoreError::Corrupt {
        id: id.to_string(),
        message,
    };
    let mut take = |k: &str| m.remove(k).filter(|v| !v.is_empty());
    let time = |k: &str, v: Option<String>| -> StoreResult<Option<DateTime<Utc>>> {
        v.map(|s| {
            DateTime::parse_from_rfc3339(&s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| corrupt(format!("invalid {k} {s:?}: {e}")))
        })
        .transpose()
    };
    let need = |k: &str, v: Option<DateTime<Utc>>| v.ok_or_else(|| corrupt(format!("no {k}")));
    let stored_id = take("id").ok_or_else(|| corrupt("no id field".into()))?;
    let job_id: JobId = stored_id
        .parse()
        .map_err(|e| corrupt(format!("invalid id field: {e}")))?;
    if stored_id != id {
        return Err(corrupt(format!(
            "the stored job says its id is {stored_id}"
        )));
    }
    let spec: JobSpec = serde_json::from_str(&take("spec").unwrap_or_default())
        .map_err(|e| corrupt(format!("invalid spec JSON: {e}")))?;
    let progress: Progress = match take("progress") {
        Some(p) => {
            serde_json::from_str(&p).map_err(|e| corrupt(format!("invalid progress JSON: {e}")))?
        }
        None => Progress::default(),
    };
    let created_at = need("created_at", time("created_at", take("created_at"))?)?;
    let status: Status = take("status")
        .unwrap_or_default()
        .parse()
        .map_err(|e| corrupt(format!("{e}")))?;
    let started_at = time("started_at", take("started_at"))?;
    let ended_at = time("ended_at", take("ended_at"))?;
    let exit_code = take("exit_code")
        .map(|c| c.parse::<i32>())
        .transpose()
        .map_err(|e| corrupt(format!("invalid exit_code: {e}")))?;
    let error = take("error").unwrap_or_default();
    let state = match status {
        Status::Queued => JobState::Queued,
        Status::Running => JobState::Running {
            started_at: need("started_at", started_at)?,
            node: take("node").ok_or_else(|| corrupt("running without a node".into()))?,
            pid: take("pid").and_then(|p| p.parse().ok()),
            cancel_requested: take("cancel_requested").as_deref() == Some("1"),
        },
        Status::Succeeded => JobState::Succeeded {
            started_at: need("started_at", started_at)?,
            ended_at: need("ended_at", ended_at)?,
            exit_code: exit_code.unwrap_or(0),
        },
        Status::Failed => JobState::Failed {
            started_at,
            ended_at: need("ended_at", ended_at)?,
            exit_code,
            error,
            timeout: take("timeout")
                .map(|t| serde_json::from_str::<TimeoutKind>(&t))
                .transpose()
                .map_err(|e| corrupt(format!("invalid timeout JSON: {e}")))?,
        },
        Status::Cancelled => JobState::Cancelled {
            started_at,
            ended_at: need("ended_at", ended_at)?,
            exit_code,
            reason: error,
        },
    };
    Ok(Job {
        id: job_id,
        spec,
        state,
        created_at,
        progress,
    })
}

/// A flat `[field, value, ...]` reply (HGETALL) as a map; `None` when empty (no such key).
fn pairs(v: Vec<String>) -> Option<HashMap<String, String>> {
    if v.is_empty() {
        return None;
    }
    let mut m = HashMap::with_capacity(v.len() / 2);
    let mut it = v.into_iter();
    while let (Some(k), Some(val)) = (it.next(), it.next()) {
        m.insert(k, val);
    }
    Some(m)
}

fn outcome_args(outcome: &Outcome, location: &str) -> StoreResult<(String, String, String)> {
    Ok(match outcome {
        Outcome::Succeeded { exit_code } => (exit_code.to_string(), String::new(), String::new()),
        Outcome::Failed {
            exit_code,
            error,
            timeout,
        } => (
            exit_code.map(|c| c.to_string()).unwrap_or_default(),
            error.clone(),
            match timeout {
                Some(t) => json(location, "the timeout", t)?,
                None => String::new(),
            },
        ),
        Outcome::Cancelled { exit_code, reason } => (
            exit_code.map(|c| c.to_string()).unwrap_or_default(),
            reason.clone(),
            String::new(),
        ),
    })
}

#[async_trait]
impl JobStore for RedisStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn cancel_hints(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<JobId>> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(Self::relay_cancels(
            self.client.clone(),
            self.key("cancel"),
            self.location.clone(),
            tx,
        ));
        Some(rx)
    }

    async fn insert(&self, job: &Job) -> StoreResult<()> {
        let mut args = vec![
            job.id.to_string(),
            job.status().as_str().to_string(),
            job.state.node().unwrap_or_default().to_string(),
            job.expires_at()
                .map(|x| ms(x).to_string())
                .unwrap_or_default(),
        ];
        for (k, v) in fields(&self.location, job)? {
            args.push(k.to_string());
            args.push(v);
        }
        let n: i64 = self
            .run("cannot insert a job", &self.scripts.insert, &args)
            .await?;
        if n == 0 {
            return Err(StoreError::Duplicate(job.id));
        }
        Ok(())
    }

    async fn get(&self, id: JobId) -> StoreResult<Option<Job>> {
        let sid = id.to_string();
        let v: Vec<String> = self
            .query(
                "cannot read a job",
                redis::cmd("HGETALL").arg(self.key(&format!("job:{sid}"))),
            )
            .await?;
        pairs(v).map(|m| parse_job(&sid, m)).transpose()
    }

    async fn list(&self, filter: &ListFilter) -> StoreResult<Page> {
        let index = match filter.status {
            Some(s) => self.key(&format!("jobs:{}", s.as_str())),
            None => self.key("jobs"),
        };
        let max = match filter.cursor {
            Some(c) => format!("({c}"),
            None => "+".to_string(),
        };
        let fetch = filter.limit.saturating_add(1);
        let ids: Vec<String> = self
            .query(
                "cannot list jobs",
                redis::cmd("ZREVRANGEBYLEX")
                    .arg(&index)
                    .arg(&max)
                    .arg("-")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(fetch),
            )
            .await?;
        let more = ids.len() > filter.limit;
        let ids: Vec<String> = ids.into_iter().take(filter.limit).collect();
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HGETALL").arg(self.key(&format!("job:{id}")));
        }
        let hashes: Vec<Vec<String>> = if ids.is_empty() {
            Vec::new()
        } else {
            self.pipe("cannot list jobs", &pipe).await?
        };
        let mut jobs = Vec::with_capacity(ids.len());
        let mut gone = Vec::new();
        let mut last_id = None;
        for (id, h) in ids.into_iter().zip(hashes) {
            if let Ok(parsed) = id.parse::<JobId>() {
                last_id = Some(parsed);
            }
            let Some(m) = pairs(h) else {
                gone.push(id);
                continue;
            };
            match parse_job(&id, m) {
                // Changed status between the index read and the hash read: not in this list.
                Ok(job) if filter.status.is_some_and(|s| s != job.status()) => {}
                Ok(job) => jobs.push(job),
                Err(e) => tracing::warn!(store = %self.location, "skipping a job in list: {e}"),
            }
        }
        self.forget(gone).await;
        Ok(Page {
            jobs,
            next_cursor: if more { last_id } else { None },
        })
    }

    async fn claim_next(&self, req: &ClaimRequest) -> StoreResult<Option<Job>> {
        if req.max_running == 0 {
            return Ok(None);
        }
        let now = Utc::now();
        let lease_ms = i64::try_from(req.lease.as_millis()).unwrap_or(i64::MAX);
        let args = vec![
            req.node.clone(),
            req.max_running.to_string(),
            ts(now),
            lease_until(now, req.lease).to_string(),
            lease_ms.max(1).to_string(),
            req.only.map(|i| i.to_string()).unwrap_or_default(),
        ];
        let v: Option<Vec<String>> = self
            .run("cannot claim a job", &self.scripts.claim, &args)
            .await?;
        let Some(m) = v.and_then(pairs) else {
            return Ok(None);
        };
        let id = m.get("id").cloned().unwrap_or_default();
        parse_job(&id, m).map(Some)
    }

    async fn set_pid(&self, id: JobId, pid: u32) -> StoreResult<()> {
        let n: i64 = self
            .run(
                "cannot record a pid",
                &self.scripts.set_pid,
                &[id.to_string(), pid.to_string()],
            )
            .await?;
        if n == 0 {
            tracing::debug!(job = %id, "set_pid: not running");
        }
        Ok(())
    }

    async fn update_progress(&self, id: JobId, progress: &Progress) -> StoreResult<()> {
        let p = json(&self.location, "the job progress", progress)?;
        let n: i64 = self
            .run(
                "cannot record progress",
                &self.scripts.progress,
                &[id.to_string(), p],
            )
            .await?;
        if n == 0 {
            tracing::debug!(job = %id, "update_progress: no such job");
        }
        Ok(())
    }

    async fn finish(&self, id: JobId, outcome: Outcome) -> StoreResult<Option<Job>> {
        let now = Utc::now();
        let (code, error, timeout) = outcome_args(&outcome, &self.location)?;
        let args = vec![
            id.to_string(),
            outcome.status().as_str().to_string(),
            ts(now),
            ms(now).to_string(),
            code,
            error,
            timeout,
        ];
        let v: Option<Vec<String>> = self
            .run("cannot finish a job", &self.scripts.finish, &args)
            .await?;
        let sid = id.to_string();
        v.and_then(pairs).map(|m| parse_job(&sid, m)).transpose()
    }

    async fn request_cancel(&self, id: JobId, reason: &str) -> StoreResult<CancelOutcome> {
        let now = Utc::now();
        let args = vec![
            id.to_string(),
            ts(now),
            ms(now).to_string(),
            reason.to_string(),
        ];
        let mut v: Vec<String> = self
            .run("cannot cancel a job", &self.scripts.cancel, &args)
            .await?;
        if v.is_empty() {
            return Ok(CancelOutcome::NotFound);
        }
        let kind = v.remove(0);
        let sid = id.to_string();
        let Some(m) = pairs(v) else {
            return Ok(CancelOutcome::NotFound);
        };
        let job = parse_job(&sid, m)?;
        Ok(match kind.as_str() {
            "queued" => CancelOutcome::CancelledQueued(job),
            "running" => CancelOutcome::Requested(job),
            "finished" => CancelOutcome::AlreadyFinished(job),
            _ => CancelOutcome::NotFound,
        })
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
        let mut args = vec![node.to_string(), lease_until(Utc::now(), lease).to_string()];
        args.extend(running.iter().map(|i| i.to_string()));
        let ids: Vec<String> = self
            .run("cannot renew leases", &self.scripts.heartbeat, &args)
            .await?;
        Ok(ids.iter().filter_map(|i| i.parse().ok()).collect())
    }

    async fn reap(
        &self,
        now: DateTime<Utc>,
        check_leases: bool,
        is_dead: &(dyn for<'n> Fn(&'n str) -> bool + Send + Sync),
    ) -> StoreResult<Vec<Job>> {
        let ids: Vec<String> = self
            .query(
                "cannot list running jobs",
                redis::cmd("ZRANGE")
                    .arg(self.key("jobs:running"))
                    .arg(0)
                    .arg(-1),
            )
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HMGET")
                .arg(self.key(&format!("job:{id}")))
                .arg("status")
                .arg("node")
                .arg("lease_until_ms");
        }
        let rows: Vec<(Option<String>, Option<String>, Option<String>)> =
            self.pipe("cannot list running jobs", &pipe).await?;
        let now_ms = ms(now);
        let mut dead_cache: HashMap<String, bool> = HashMap::new();
        let mut gone = Vec::new();
        let mut reaped = Vec::new();
        for (id, (status, node, lease)) in ids.into_iter().zip(rows) {
            match status.as_deref() {
                None => {
                    gone.push(id);
                    continue;
                }
                Some("running") => {}
                Some(_) => continue,
            }
            let expired = check_leases
                && lease
                    .as_deref()
                    .and_then(|l| l.parse::<i64>().ok())
                    .is_none_or(|l| l < now_ms);
            let owner = node.unwrap_or_else(|| "unknown".to_string());
            let dead = *dead_cache
                .entry(owner.clone())
                .or_insert_with(|| is_dead(&owner));
            if !(expired || dead) {
                continue;
            }
            let args = vec![
                id.clone(),
                ts(now),
                now_ms.to_string(),
                if check_leases {
                    now_ms.to_string()
                } else {
                    String::new()
                },
                if dead { owner.clone() } else { String::new() },
                format!("interrupted: its runner ({owner}) stopped before the job finished"),
                "cancelled (its runner stopped)".to_string(),
            ];
            let v: Option<Vec<String>> = self
                .run("cannot reap a job", &self.scripts.reap, &args)
                .await?;
            if let Some(m) = v.and_then(pairs) {
                match parse_job(&id, m) {
                    Ok(job) => reaped.push(job),
                    Err(e) => {
                        tracing::warn!(store = %self.location, "reaped an unreadable job: {e}")
                    }
                }
            }
        }
        self.forget(gone).await;
        Ok(reaped)
    }

    async fn release(&self, id: JobId, node: &str) -> StoreResult<bool> {
        let n: i64 = self
            .run(
                "cannot hand a job back to the queue",
                &self.scripts.release,
                &[id.to_string(), node.to_string()],
            )
            .await?;
        Ok(n == 1)
    }

    async fn nodes(&self) -> StoreResult<Vec<NodeLoad>> {
        let since = ms(Utc::now()).saturating_sub(duration_ms(NODE_SEEN_WITHIN));
        let flat: Vec<String> = self
            .run(
                "cannot list the nodes",
                &self.scripts.nodes,
                &[since.to_string()],
            )
            .await?;
        let mut nodes: Vec<NodeLoad> = flat
            .chunks_exact(4)
            .map(|c| NodeLoad {
                node: c[0].clone(),
                running: c[1].parse().unwrap_or(0),
                max_parallel_jobs: c[2].parse().ok(),
                last_seen: c[3]
                    .parse::<f64>()
                    .ok()
                    .and_then(|m| DateTime::from_timestamp_millis(m as i64)),
            })
            .collect();
        nodes.sort_by(|a, b| a.node.cmp(&b.node));
        Ok(nodes)
    }

    async fn announce(&self, node: &str, max_parallel_jobs: usize) -> StoreResult<()> {
        let now = ms(Utc::now());
        let _: i64 = self
            .run(
                "cannot announce this node",
                &self.scripts.announce,
                &[
                    node.to_string(),
                    max_parallel_jobs.to_string(),
                    now.to_string(),
                    now.saturating_sub(duration_ms(CONSUMER_IDLE)).to_string(),
                ],
            )
            .await?;
        Ok(())
    }

    async fn leave(&self, node: &str) -> StoreResult<()> {
        let _: i64 = self
            .run(
                "cannot sign this node off",
                &self.scripts.leave,
                &[node.to_string()],
            )
            .await?;
        Ok(())
    }

    async fn expire(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        const BATCH: usize = 500;
        let mut total = 0u64;
        loop {
            let (n, seen): (u64, usize) = self
                .run(
                    "cannot delete expired jobs",
                    &self.scripts.expire,
                    &[ms(now).to_string(), BATCH.to_string()],
                )
                .await?;
            total += n;
            if seen < BATCH {
                break;
            }
        }
        // Housekeeping that rides along: consumers of nodes gone for an hour.
        match self.prune_consumers(CONSUMER_IDLE).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(store = %self.location, "removed {n} gone node(s) from the queue group")
            }
            Err(e) => tracing::debug!(store = %self.location, "{e}"),
        }
        Ok(total)
    }

    async fn counts(&self) -> StoreResult<Counts> {
        let mut pipe = redis::pipe();
        for s in Status::ALL {
            pipe.cmd("ZCARD")
                .arg(self.key(&format!("jobs:{}", s.as_str())));
        }
        let n: Vec<u64> = self.pipe("cannot count jobs", &pipe).await?;
        let get = |i: usize| n.get(i).copied().unwrap_or(0);
        Ok(Counts {
            queued: get(0),
            running: get(1),
            succeeded: get(2),
            failed: get(3),
            cancelled: get(4),
        })
    }

    async fn version(&self) -> StoreResult<Option<u64>> {
        let v: Option<u64> = self
            .query(
                "cannot read the change counter",
                redis::cmd("GET").arg(self.key("version")),
            )
            .await?;
        Ok(Some(v.unwrap_or(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_every_state() {
        let mut job = Job::new(JobSpec {
            task: "t".into(),
            repo_url: Some("https://x/y.git".into()),
            base_ref: None,
            profile: "code".into(),
            session_id: None,
            timeout_seconds: Some(5),
            mode: crate::job::Mode::Sync,
            ttl_seconds: 60,
            keep_worktree_on_failure: true,
        });
        job.progress.cost_usd = Some(0.123_456_789_012_345_6);
        let now = Utc::now();
        let states = [
            JobState::Queued,
            JobState::Running {
                started_at: now,
                node: "h:1".into(),
                pid: Some(4),
                cancel_requested: true,
            },
            JobState::Succeeded {
                started_at: now,
                ended_at: now,
                exit_code: 0,
            },
            JobState::Failed {
                started_at: None,
                ended_at: now,
                exit_code: Some(2),
                error: "boom".into(),
                timeout: Some(TimeoutKind::Stall { seconds: 3 }),
            },
            JobState::Cancelled {
                started_at: Some(now),
                ended_at: now,
                exit_code: None,
                reason: "stop".into(),
            },
        ];
        for state in states {
            job.state = state;
            let m: HashMap<String, String> = fields("x", &job)
                .expect("fields")
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            assert_eq!(parse_job(&job.id.to_string(), m).expect("parse"), job);
        }
    }
}
