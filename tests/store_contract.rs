//! The `JobStore` contract, run on every backend: SQLite (a temp file) and Redis (the server at
//! `AGENTICORE_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`, with a unique key prefix per
//! test, deleted at the end even when the test fails). Several store instances on one file or
//! prefix stand for several processes or nodes.
//!

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agenticore::job::{JobId, JobState, Outcome, Progress, Status};
use agenticore::store::redis::RedisStore;
use agenticore::store::sqlite::SqliteStore;
use agenticore::store::{CancelOutcome, ClaimRequest, JobStore, ListFilter, StoreError};
use chrono::Utc;
use common::jobs::{claim, insert_n, new_job};
use common::redis_prefix::Prefix;

mod common;

type Store = Arc<dyn JobStore>;

enum Kind {
    Sqlite {
        _dir: tempfile::TempDir,
        path: PathBuf,
    },
    Redis(Prefix),
}

/// One backend under test; `store()` opens another instance (another process or node).
struct Harness {
    kind: Kind,
}

impl Harness {
    fn sqlite() -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state/jobs.db");
        Harness {
            kind: Kind::Sqlite { _dir: dir, path },
        }
    }

    fn redis(test: &str) -> Harness {
        Harness {
            kind: Kind::Redis(Prefix::new(test)),
        }
    }

    async fn store(&self) -> Store {
        match &self.kind {
            Kind::Sqlite { path, .. } => Arc::new(SqliteStore::open(path).expect("open sqlite")),
            Kind::Redis(p) => {
                Arc::new(RedisStore::connect(&p.url, &p.name).await.unwrap_or_else(|e| {
                    panic!("{e} (the Redis tests need AGENTICORE_TEST_REDIS_URL or redis://127.0.0.1:6379)")
                }))
            }
        }
    }

    fn location(&self) -> String {
        match &self.kind {
            Kind::Sqlite { path, .. } => path.display().to_string(),
            Kind::Redis(p) => format!("{} (prefix {})", p.url, p.name),
        }
    }

    /// SQLite's cap counts every process's running jobs; Redis's counts the node's.
    fn cap_is_per_node(&self) -> bool {
        matches!(self.kind, Kind::Redis(_))
    }
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let h = super::Harness::sqlite();
                    super::$name(&h).await;
                }
            )*
        }
        mod on_redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let h = super::Harness::redis(stringify!($name));
                    super::$name(&h).await;
                }
            )*
        }
    };
}

contract!(
    insert_get_round_trip_and_duplicate,
    list_newest_first_with_status_filter_and_paging,
    claim_is_fifo_and_sets_running,
    claim_respects_the_cap_and_only,
    concurrent_claimers_on_three_nodes_run_each_job_once,
    finish_is_compare_and_set,
    finish_and_cancel_race_has_one_outcome,
    cancel_queued_running_finished_missing,
    heartbeat_extends_owned_leases_and_reports_cancels,
    reap_by_expired_lease_and_by_dead_owner,
    reap_without_lease_checks_spares_lapsed_leases_not_dead_owners,
    release_hands_an_unstarted_job_back_at_the_head_of_the_queue,
    nodes_show_running_jobs_per_node_and_announced_idle_ones,
    expire_deletes_finished_jobs_after_their_ttl,
    progress_is_kept_for_any_status,
    a_second_store_sees_the_first_ones_writes,
    version_moves_on_every_write,
);

/// Just after an outage no owner could renew: lapsed leases are spared, a dead owner is not.
async fn reap_without_lease_checks_spares_lapsed_leases_not_dead_owners(h: &Harness) {
    let s = h.store().await;
    insert_n(&*s, 2).await;
    let lapsed = s
        .claim_next(&claim("alive:1", 10))
        .await
        .expect("c")
        .expect("1");
    let orphan = s
        .claim_next(&claim("dead:2", 10))
        .await
        .expect("c")
        .expect("2");
    let later = Utc::now() + chrono::Duration::minutes(5);
    let is_dead = |node: &str| node == "dead:2";
    let reaped = s.reap(later, false, &is_dead).await.expect("reap");
    assert_eq!(
        reaped.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![orphan.id]
    );
    assert_eq!(
        s.get(lapsed.id).await.expect("get").map(|j| j.status()),
        Some(Status::Running)
    );
    // Once leases are judged again, the lapsed one goes too.
    let reaped = s.reap(later, true, &is_dead).await.expect("reap");
    assert_eq!(
        reaped.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![lapsed.id]
    );
}

async fn release_hands_an_unstarted_job_back_at_the_head_of_the_queue(h: &Harness) {
    let s = h.store().await;
    let jobs = insert_n(&*s, 3).await;
    let first = s
        .claim_next(&claim("stopping:1", 10))
        .await
        .expect("c")
        .expect("1");
    assert_eq!(first.id, jobs[0].id);
    // Only its owner hands it back.
    assert!(!s.release(first.id, "other:2").await.expect("release"));
    assert!(s.release(first.id, "stopping:1").await.expect("release"));
    let back = s.get(first.id).await.expect("get").expect("job");
    assert_eq!(back.state, JobState::Queued);
    assert_eq!(back.spec, first.spec);
    let counts = s.counts().await.expect("counts");
    assert_eq!((counts.queued, counts.running), (3, 0));
    // Listed as queued, not running.
    let queued = s
        .list(&ListFilter {
            status: Some(Status::Queued),
            limit: 10,
            cursor: None,
        })
        .await
        .expect("list");
    assert_eq!(queued.jobs.len(), 3);
    // The next claim, by another node, takes it first, then the rest in order.
    let other = s
        .claim_next(&claim("other:2", 10))
        .await
        .expect("c")
        .expect("again");
    assert_eq!(other.id, first.id);
    assert_eq!(other.state.node(), Some("other:2"));
    let second = s
        .claim_next(&claim("other:2", 10))
        .await
        .expect("c")
        .expect("2");
    assert_eq!(second.id, jobs[1].id);
    // Not running on that node any more (finished): nothing to hand back.
    s.finish(second.id, succeeded()).await.expect("finish");
    assert!(!s.release(second.id, "other:2").await.expect("release"));
    assert_eq!(
        s.get(second.id).await.expect("get").map(|j| j.status()),
        Some(Status::Succeeded)
    );
    // A running job whose cancel was asked is not handed back: it must not run elsewhere.
    let fourth = new_job("cancelled while claimed");
    s.insert(&fourth).await.expect("insert");
    let claimed = s
        .claim_next(&ClaimRequest {
            only: Some(fourth.id),
            ..claim("stopping:1", 10)
        })
        .await
        .expect("c")
        .expect("4");
    assert!(matches!(
        s.request_cancel(claimed.id, "stop").await.expect("cancel"),
        CancelOutcome::Requested(_)
    ));
    assert!(!s.release(claimed.id, "stopping:1").await.expect("release"));
    let still = s.get(claimed.id).await.expect("get").expect("job");
    assert_eq!(still.status(), Status::Running);
    assert!(
        s.finish(claimed.id, succeeded())
            .await
            .expect("finish")
            .is_some()
    );
    // A released job can be cancelled like any queued one, and is then never claimed.
    let third = s
        .claim_next(&claim("stopping:1", 10))
        .await
        .expect("c")
        .expect("3");
    assert!(s.release(third.id, "stopping:1").await.expect("release"));
    assert!(matches!(
        s.request_cancel(third.id, "stop").await.expect("cancel"),
        CancelOutcome::CancelledQueued(_)
    ));
    assert!(
        s.claim_next(&claim("other:2", 10))
            .await
            .expect("c")
            .is_none()
    );
}

async fn nodes_show_running_jobs_per_node_and_announced_idle_ones(h: &Harness) {
    let s = h.store().await;
    insert_n(&*s, 3).await;
    for node in ["n1:1", "n1:1", "n2:1"] {
        s.claim_next(&claim(node, 10))
            .await
            .expect("c")
            .expect("job");
    }
    s.announce("n3:1", 4).await.expect("announce");
    let nodes = s.nodes().await.expect("nodes");
    let view: Vec<(&str, u64)> = nodes.iter().map(|n| (n.node.as_str(), n.running)).collect();
    if h.cap_is_per_node() {
        // Redis: the idle node that announced itself is listed with its cap.
        assert_eq!(view, vec![("n1:1", 2), ("n2:1", 1), ("n3:1", 0)]);
        let n3 = &nodes[2];
        assert_eq!(n3.max_parallel_jobs, Some(4));
        let seen = n3.last_seen.expect("last seen");
        assert!((Utc::now() - seen).num_seconds().abs() < 60, "{seen}");
        s.leave("n3:1").await.expect("leave");
        let after: Vec<String> = s
            .nodes()
            .await
            .expect("nodes")
            .into_iter()
            .map(|n| n.node)
            .collect();
        assert_eq!(after, vec!["n1:1", "n2:1"]);
    } else {
        // SQLite: the nodes are the processes running jobs.
        assert_eq!(view, vec![("n1:1", 2), ("n2:1", 1)]);
    }
}

fn succeeded() -> Outcome {
    Outcome::Succeeded { exit_code: 0 }
}

fn never_dead(_: &str) -> bool {
    false
}

async fn claim_respects_the_cap_and_only(h: &Harness) {
    let s = h.store().await;
    let jobs = insert_n(&*s, 5).await;
    let a = s.claim_next(&claim("a", 2)).await.expect("claim");
    let b = s.claim_next(&claim("a", 2)).await.expect("claim");
    assert!(a.is_some() && b.is_some());
    // Node a is at its cap.
    assert!(s.claim_next(&claim("a", 2)).await.expect("claim").is_none());
    assert!(s.claim_next(&claim("c", 0)).await.expect("claim").is_none());
    // Another node: blocked by a global cap (SQLite), free under a per-node one (Redis).
    let other = s.claim_next(&claim("c", 2)).await.expect("claim");
    assert_eq!(other.is_some(), h.cap_is_per_node());
    let running_before = s.counts().await.expect("counts").running;

    // `only` picks exactly that job, not the oldest queued one.
    let only = ClaimRequest {
        only: Some(jobs[4].id),
        ..claim("d", 4)
    };
    let got = s.claim_next(&only).await.expect("claim").expect("only");
    assert_eq!(got.id, jobs[4].id);
    // ...and nothing when that job is not queued (now running).
    let again = ClaimRequest {
        only: Some(jobs[4].id),
        ..claim("d", 10)
    };
    assert!(s.claim_next(&again).await.expect("claim").is_none());
    let missing = ClaimRequest {
        only: Some(JobId::new()),
        ..claim("d", 10)
    };
    assert!(s.claim_next(&missing).await.expect("claim").is_none());

    // Finishing frees a slot of node a (SQLite: one of the 3 running in all).
    s.finish(jobs[0].id, succeeded())
        .await
        .expect("finish")
        .expect("finished");
    let cap = if h.cap_is_per_node() { 2 } else { 3 };
    let next = s.claim_next(&claim("a", cap)).await.expect("claim");
    let expected = if h.cap_is_per_node() {
        jobs[3].id
    } else {
        jobs[2].id
    };
    assert_eq!(next.map(|j| j.id), Some(expected));
    // A job claimed directly (`only`) is not handed out again by the queue.
    let rest = s.claim_next(&claim("e", 10)).await.expect("claim");
    if h.cap_is_per_node() {
        assert!(rest.is_none(), "{rest:?}");
    }
    let counts = s.counts().await.expect("counts");
    assert_eq!(counts.succeeded, 1);
    assert_eq!(counts.queued + counts.running + counts.succeeded, 5);
    assert!(counts.running >= running_before);
}

/// Three nodes (store instances), three claimers each, 60 jobs, a cap of 2: every job runs
/// exactly once and never more than 2 run at once per node (SQLite: in all).
async fn concurrent_claimers_on_three_nodes_run_each_job_once(h: &Harness) {
    const JOBS: usize = 60;
    const NODES: usize = 3;
    const CLAIMERS: usize = 3;
    const CAP: usize = 2;
    let first = h.store().await;
    insert_n(&*first, JOBS).await;

    let claimed: Arc<Mutex<HashMap<JobId, usize>>> = Arc::default();
    let running: Arc<Vec<AtomicUsize>> =
        Arc::new((0..NODES).map(|_| AtomicUsize::new(0)).collect());
    let max_seen: Arc<Vec<AtomicUsize>> =
        Arc::new((0..NODES).map(|_| AtomicUsize::new(0)).collect());
    let total = Arc::new(AtomicUsize::new(0));
    let max_total = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let per_node = h.cap_is_per_node();

    let mut tasks = Vec::new();
    for n in 0..NODES {
        let store = h.store().await;
        for c in 0..CLAIMERS {
            let store = Arc::clone(&store);
            let claimed = Arc::clone(&claimed);
            let running = Arc::clone(&running);
            let max_seen = Arc::clone(&max_seen);
            let total = Arc::clone(&total);
            let max_total = Arc::clone(&max_total);
            let finished = Arc::clone(&finished);
            tasks.push(tokio::spawn(async move {
                let node = format!("node-{n}");
                let mut idle = 0;
                while finished.load(Ordering::SeqCst) < JOBS {
                    let Some(job) = store.claim_next(&claim(&node, CAP)).await.expect("claim")
                    else {
                        idle += 1;
                        assert!(idle < 20_000, "claimer {n}/{c} starved");
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        continue;
                    };
                    assert_eq!(job.state.node(), Some(node.as_str()));
                    // The in-memory counts are lower bounds of the stored ones.
                    let now = running[n].fetch_add(1, Ordering::SeqCst) + 1;
                    max_seen[n].fetch_max(now, Ordering::SeqCst);
                    let all = total.fetch_add(1, Ordering::SeqCst) + 1;
                    max_total.fetch_max(all, Ordering::SeqCst);
                    let stored = store.counts().await.expect("counts").running as usize;
                    let bound = if per_node { CAP * NODES } else { CAP };
                    assert!(stored <= bound, "{stored} running");
                    *claimed.lock().expect("lock").entry(job.id).or_default() += 1;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    running[n].fetch_sub(1, Ordering::SeqCst);
                    total.fetch_sub(1, Ordering::SeqCst);
                    let done = store.finish(job.id, succeeded()).await.expect("finish");
                    assert!(done.is_some(), "job {} finished twice", job.id);
                    finished.fetch_add(1, Ordering::SeqCst);
                }
            }));
        }
    }
    for t in tasks {
        t.await.expect("claimer panicked");
    }
    let claimed = claimed.lock().expect("lock").clone();
    assert_eq!(claimed.len(), JOBS);
    assert!(claimed.values().all(|&n| n == 1), "a job was claimed twice");
    for m in max_seen.iter() {
        assert!(m.load(Ordering::SeqCst) <= CAP);
    }
    if !per_node {
        assert!(max_total.load(Ordering::SeqCst) <= CAP);
    }
    let counts = first.counts().await.expect("counts");
    assert_eq!(counts.succeeded, JOBS as u64);
    assert_eq!(counts.running + counts.queued, 0);
}

/// A cancel (finish as cancelled, from another instance) races the job's exit: exactly one
/// wins, and the stored job is the winner's.
async fn finish_and_cancel_race_has_one_outcome(h: &Harness) {
    let a = h.store().await;
    let b = h.store().await;
    let jobs = insert_n(&*a, 20).await;
    for _ in &jobs {
        a.claim_next(&claim("n", 100))
            .await
            .expect("claim")
            .expect("job");
    }
    let mut tasks = Vec::new();
    for job in &jobs {
        let (a, b, id) = (Arc::clone(&a), Arc::clone(&b), job.id);
        tasks.push(tokio::spawn(async move {
            let exit = tokio::spawn({
                let a = Arc::clone(&a);
                async move { a.finish(id, succeeded()).await.expect("finish") }
            });
            let cancel = tokio::spawn(async move {
                b.request_cancel(id, "cancelled by user")
                    .await
                    .expect("cancel");
                b.finish(
                    id,
                    Outcome::Cancelled {
                        exit_code: Some(-15),
                        reason: "cancelled by user".into(),
                    },
                )
                .await
                .expect("finish")
            });
            let (x, c) = (exit.await.expect("exit"), cancel.await.expect("cancel"));
            assert!(x.is_some() != c.is_some(), "{id}: exit {x:?}, cancel {c:?}");
            let winner = x.or(c).expect("a winner");
            let stored = a.get(id).await.expect("get").expect("job");
            assert_eq!(stored.state, winner.state);
        }));
    }
    for t in tasks {
        t.await.expect("race task");
    }
    let c = a.counts().await.expect("counts");
    assert_eq!(c.succeeded + c.cancelled, 20);
    assert_eq!(c.running, 0);
}

async fn a_second_store_sees_the_first_ones_writes(h: &Harness) {
    let s = h.store().await;
    let other = h.store().await;
    let job = new_job("shared");
    s.insert(&job).await.expect("insert");
    let claimed = other
        .claim_next(&claim("other", 1))
        .await
        .expect("claim")
        .expect("job");
    assert_eq!(claimed.id, job.id);
    assert!(matches!(
        s.request_cancel(job.id, "stop").await,
        Ok(CancelOutcome::Requested(_))
    ));
    let flagged = other
        .heartbeat("other", &[job.id], Duration::from_secs(30))
        .await
        .expect("heartbeat");
    assert_eq!(flagged, vec![job.id]);
    // Another node's heartbeat does not see (or renew) it.
    assert!(
        s.heartbeat("someone-else", &[job.id], Duration::from_secs(30))
            .await
            .expect("heartbeat")
            .is_empty()
    );
}

async fn version_moves_on_every_write(h: &Harness) {
    let s = h.store().await;
    let other = h.store().await;
    let v = || async { s.version().await.expect("version").expect("a version") };
    let seen_by_other = || async { other.version().await.expect("version").expect("a version") };
    let v0 = v().await;
    let job = new_job("v");
    s.insert(&job).await.expect("insert");
    let v1 = v().await;
    assert_ne!(v1, v0);
    assert_ne!(seen_by_other().await, v0);
    other
        .claim_next(&claim("n", 1))
        .await
        .expect("claim")
        .expect("job");
    let v2 = v().await;
    assert_ne!(v2, v1);
    s.update_progress(job.id, &Progress::default())
        .await
        .expect("progress");
    let v3 = v().await;
    assert_ne!(v3, v2);
    s.finish(job.id, succeeded())
        .await
        .expect("finish")
        .expect("done");
    let v4 = v().await;
    assert_ne!(v4, v3);
    // Reads do not move it.
    s.list(&ListFilter {
        limit: 10,
        ..Default::default()
    })
    .await
    .expect("list");
    s.counts().await.expect("counts");
    assert_eq!(v().await, v4);
}

async fn insert_get_round_trip_and_duplicate(h: &Harness) {
    let s = h.store().await;
    let mut job = new_job("hello");
    job.progress.output = Some("out".into());
    job.progress.tokens = Some(Default::default());
    s.insert(&job).await.expect("insert");
    assert_eq!(s.get(job.id).await.expect("get"), Some(job.clone()));
    assert!(s.get(JobId::new()).await.expect("get").is_none());
    match s.insert(&job).await {
        Err(StoreError::Duplicate(id)) => assert_eq!(id, job.id),
        other => panic!("expected Duplicate, got {other:?}"),
    }
    assert_eq!(s.location(), h.location());
}

async fn list_newest_first_with_status_filter_and_paging(h: &Harness) {
    let s = h.store().await;
    let jobs = insert_n(&*s, 25).await;
    // Finish every third job so the status filter has something to do.
    let mut done = Vec::new();
    for job in jobs.iter().step_by(3) {
        let req = ClaimRequest {
            only: Some(job.id),
            ..claim("n", 100)
        };
        s.claim_next(&req).await.expect("claim").expect("claimed");
        s.finish(job.id, succeeded())
            .await
            .expect("finish")
            .expect("finished");
        done.push(job.id);
    }

    let newest_first: Vec<JobId> = jobs.iter().rev().map(|j| j.id).collect();
    let all = s
        .list(&ListFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(
        all.jobs.iter().map(|j| j.id).collect::<Vec<_>>(),
        newest_first
    );
    assert!(all.next_cursor.is_none());

    // Three pages of 10, 10, 5: no duplicates, no gaps.
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = s
            .list(&ListFilter {
                status: None,
                limit: 10,
                cursor,
            })
            .await
            .expect("page");
        pages += 1;
        seen.extend(page.jobs.iter().map(|j| j.id));
        match page.next_cursor {
            Some(c) => {
                assert_eq!(Some(&c), seen.last());
                cursor = Some(c);
            }
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, newest_first);

    // An exact multiple of the limit has no empty extra page.
    let first = s
        .list(&ListFilter {
            limit: 25,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(first.jobs.len(), 25);
    assert!(first.next_cursor.is_none());

    // Status filter, paged.
    let mut got = Vec::new();
    let mut cursor = None;
    loop {
        let page = s
            .list(&ListFilter {
                status: Some(Status::Succeeded),
                limit: 4,
                cursor,
            })
            .await
            .expect("page");
        assert!(page.jobs.iter().all(|j| j.status() == Status::Succeeded));
        got.extend(page.jobs.iter().map(|j| j.id));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    done.reverse();
    assert_eq!(got, done);
    let queued = s
        .list(&ListFilter {
            status: Some(Status::Queued),
            limit: 100,
            cursor: None,
        })
        .await
        .expect("list");
    assert_eq!(queued.jobs.len(), 25 - done.len());
}

async fn claim_is_fifo_and_sets_running(h: &Harness) {
    let s = h.store().await;
    let jobs = insert_n(&*s, 5).await;
    for expected in &jobs {
        let before = Utc::now();
        let job = s
            .claim_next(&claim("host:1", 100))
            .await
            .expect("claim")
            .expect("a job");
        assert_eq!(job.id, expected.id);
        match &job.state {
            JobState::Running {
                started_at,
                node,
                pid,
                cancel_requested,
            } => {
                assert!(*started_at >= before - chrono::Duration::seconds(1));
                assert_eq!(node, "host:1");
                assert_eq!(*pid, None);
                assert!(!cancel_requested);
            }
            other => panic!("not running: {other:?}"),
        }
        assert_eq!(s.get(job.id).await.expect("get"), Some(job));
    }
    assert!(
        s.claim_next(&claim("host:1", 100))
            .await
            .expect("claim")
            .is_none()
    );
}

async fn finish_is_compare_and_set(h: &Harness) {
    let s = h.store().await;
    let jobs = insert_n(&*s, 2).await;
    // A queued job cannot be finished.
    assert!(
        s.finish(jobs[0].id, succeeded())
            .await
            .expect("finish")
            .is_none()
    );
    let claimed = s
        .claim_next(&claim("n", 5))
        .await
        .expect("claim")
        .expect("job");
    let started = claimed.state.started_at();
    let done = s
        .finish(claimed.id, succeeded())
        .await
        .expect("finish")
        .expect("first finish wins");
    assert_eq!(done.status(), Status::Succeeded);
    assert_eq!(done.state.started_at(), started);
    assert!(done.state.ended_at() >= started);
    assert_eq!(
        done.expires_at(),
        done.state
            .ended_at()
            .map(|e| e + chrono::Duration::hours(1))
    );
    assert!(
        s.finish(
            claimed.id,
            Outcome::Failed {
                exit_code: Some(1),
                error: "late".into(),
                timeout: None
            }
        )
        .await
        .expect("finish")
        .is_none()
    );
    assert_eq!(s.get(claimed.id).await.expect("get"), Some(done));

    // Cancelled stays cancelled when a late success races in.
    let second = s
        .claim_next(&claim("n", 5))
        .await
        .expect("claim")
        .expect("job");
    let cancelled = s
        .finish(
            second.id,
            Outcome::Cancelled {
                exit_code: None,
                reason: "cancelled by user".into(),
            },
        )
        .await
        .expect("finish")
        .expect("cancelled");
    assert!(
        s.finish(second.id, succeeded())
            .await
            .expect("finish")
            .is_none()
    );
    let stored = s.get(second.id).await.expect("get").expect("job");
    assert_eq!(stored.status(), Status::Cancelled);
    assert_eq!(stored, cancelled);
    assert!(
        s.finish(JobId::new(), succeeded())
            .await
            .expect("finish")
            .is_none()
    );
}

async fn cancel_queued_running_finished_missing(h: &Harness) {
    let s = h.store().await;
    let jobs = insert_n(&*s, 3).await;
    let running = s
        .claim_next(&claim("n", 5))
        .await
        .expect("claim")
        .expect("job");
    assert_eq!(running.id, jobs[0].id);

    // Queued: cancelled now, never starts.
    match s.request_cancel(jobs[1].id, "cancelled by user").await {
        Ok(CancelOutcome::CancelledQueued(job)) => {
            assert_eq!(job.status(), Status::Cancelled);
            assert_eq!(job.state.started_at(), None);
            assert_eq!(job.state.error(), Some("cancelled by user"));
            assert!(job.expires_at().is_some());
            assert_eq!(s.get(job.id).await.expect("get"), Some(job));
        }
        other => panic!("expected CancelledQueued, got {other:?}"),
    }
    let next = s.claim_next(&claim("n", 5)).await.expect("claim");
    assert_eq!(next.map(|j| j.id), Some(jobs[2].id));

    // Running: flagged for its owner, still running.
    match s.request_cancel(running.id, "cancelled by user").await {
        Ok(CancelOutcome::Requested(job)) => {
            assert!(matches!(
                job.state,
                JobState::Running {
                    cancel_requested: true,
                    ..
                }
            ));
            assert_eq!(s.get(job.id).await.expect("get"), Some(job));
        }
        other => panic!("expected Requested, got {other:?}"),
    }
    // Asking twice is harmless.
    assert!(matches!(
        s.request_cancel(running.id, "again").await,
        Ok(CancelOutcome::Requested(_))
    ));
    let done = s
        .finish(
            running.id,
            Outcome::Cancelled {
                exit_code: Some(-15),
                reason: "cancelled by user".into(),
            },
        )
        .await
        .expect("finish")
        .expect("finished");

    // Finished: nothing changes.
    match s.request_cancel(running.id, "too late").await {
        Ok(CancelOutcome::AlreadyFinished(job)) => assert_eq!(job, done),
        other => panic!("expected AlreadyFinished, got {other:?}"),
    }
    assert!(matches!(
        s.request_cancel(JobId::new(), "x").await,
        Ok(CancelOutcome::NotFound)
    ));
}

async fn heartbeat_extends_owned_leases_and_reports_cancels(h: &Harness) {
    let s = h.store().await;
    insert_n(&*s, 3).await;
    let short = ClaimRequest {
        lease: Duration::from_millis(1),
        ..claim("me", 10)
    };
    let a = s.claim_next(&short).await.expect("claim").expect("a");
    let b = s.claim_next(&short).await.expect("claim").expect("b");
    let theirs = s
        .claim_next(&ClaimRequest {
            node: "them".into(),
            ..short.clone()
        })
        .await
        .expect("claim")
        .expect("c");
    s.request_cancel(b.id, "stop").await.expect("cancel");
    s.request_cancel(theirs.id, "stop").await.expect("cancel");

    let cancelled = s
        .heartbeat(
            "me",
            &[a.id, b.id, theirs.id, JobId::new()],
            Duration::from_secs(3600),
        )
        .await
        .expect("heartbeat");
    // Only our own jobs: `theirs` is not renewed nor reported.
    assert_eq!(cancelled, vec![b.id]);
    assert!(
        s.heartbeat("me", &[], Duration::from_secs(1))
            .await
            .expect("hb")
            .is_empty()
    );

    // Ten minutes from now the renewed leases hold; the other node's lapsed.
    let later = Utc::now() + chrono::Duration::minutes(10);
    let reaped = s.reap(later, true, &never_dead).await.expect("reap");
    assert_eq!(
        reaped.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![theirs.id]
    );
    assert_eq!(reaped[0].status(), Status::Cancelled);
    assert_eq!(
        reaped[0].state.error(),
        Some("cancelled (its runner stopped)")
    );
    assert_eq!(
        s.get(a.id).await.expect("get").map(|j| j.status()),
        Some(Status::Running)
    );
}

async fn reap_by_expired_lease_and_by_dead_owner(h: &Harness) {
    let s = h.store().await;
    insert_n(&*s, 3).await;
    let lease = |node: &str, secs| ClaimRequest {
        lease: Duration::from_secs(secs),
        ..claim(node, 10)
    };
    let expired = s
        .claim_next(&lease("alive:1", 60))
        .await
        .expect("c")
        .expect("1");
    let dead = s
        .claim_next(&lease("dead:2", 3600))
        .await
        .expect("c")
        .expect("2");
    let healthy = s
        .claim_next(&lease("alive:1", 3600))
        .await
        .expect("c")
        .expect("3");
    s.set_pid(dead.id, 4242).await.expect("pid");
    assert_eq!(
        s.get(dead.id)
            .await
            .expect("get")
            .and_then(|j| j.state.pid()),
        Some(4242)
    );

    // Nothing to reap now.
    let none = s.reap(Utc::now(), true, &never_dead).await.expect("reap");
    assert!(none.is_empty());

    let now = Utc::now() + chrono::Duration::minutes(5);
    let is_dead = |node: &str| node == "dead:2";
    let mut reaped = s.reap(now, true, &is_dead).await.expect("reap");
    reaped.sort_by_key(|j| j.id);
    assert_eq!(
        reaped.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![expired.id, dead.id]
    );
    for job in &reaped {
        assert_eq!(job.status(), Status::Failed);
        assert_eq!(job.state.ended_at(), Some(now));
        assert!(job.state.started_at().is_some());
        assert_eq!(job.state.exit_code(), None);
        assert_eq!(s.get(job.id).await.expect("get").as_ref(), Some(job));
    }
    assert_eq!(
        reaped[0].state.error(),
        Some("interrupted: its runner (alive:1) stopped before the job finished")
    );
    assert_eq!(
        reaped[1].state.error(),
        Some("interrupted: its runner (dead:2) stopped before the job finished")
    );
    // Reaped jobs are final: a late finish from the lost runner changes nothing.
    assert!(
        s.finish(dead.id, succeeded())
            .await
            .expect("finish")
            .is_none()
    );
    assert!(s.reap(now, true, &is_dead).await.expect("reap").is_empty());
    assert_eq!(
        s.get(healthy.id).await.expect("get").map(|j| j.status()),
        Some(Status::Running)
    );
}

async fn expire_deletes_finished_jobs_after_their_ttl(h: &Harness) {
    let s = h.store().await;
    let mut short = new_job("short");
    short.spec.ttl_seconds = 60;
    let mut long = new_job("long");
    long.spec.ttl_seconds = 86_400;
    let queued = new_job("queued");
    for j in [&short, &long, &queued] {
        s.insert(j).await.expect("insert");
    }
    for j in [&short, &long] {
        s.request_cancel(j.id, "x").await.expect("cancel");
    }
    let running = new_job("running");
    s.insert(&running).await.expect("insert");
    let only = ClaimRequest {
        only: Some(running.id),
        ..claim("n", 5)
    };
    s.claim_next(&only).await.expect("claim").expect("running");

    assert_eq!(s.expire(Utc::now()).await.expect("expire"), 0);
    let in_two_minutes = Utc::now() + chrono::Duration::minutes(2);
    assert_eq!(s.expire(in_two_minutes).await.expect("expire"), 1);
    assert!(s.get(short.id).await.expect("get").is_none());
    assert!(s.get(long.id).await.expect("get").is_some());
    let in_ten_years = Utc::now() + chrono::Duration::days(3650);
    assert_eq!(s.expire(in_ten_years).await.expect("expire"), 1);
    // Queued and running jobs never expire.
    assert!(s.get(queued.id).await.expect("get").is_some());
    assert!(s.get(running.id).await.expect("get").is_some());
}

async fn progress_is_kept_for_any_status(h: &Harness) {
    let s = h.store().await;
    let job = new_job("p");
    s.insert(&job).await.expect("insert");
    let progress = Progress {
        session_id: Some("s1".into()),
        num_turns: Some(3),
        ..Default::default()
    };
    s.update_progress(job.id, &progress)
        .await
        .expect("progress");
    let claimed = s
        .claim_next(&claim("n", 1))
        .await
        .expect("claim")
        .expect("job");
    assert_eq!(claimed.progress, progress);
    s.set_pid(job.id, 7).await.expect("pid");
    let mut later = progress.clone();
    later.output = Some("done".into());
    s.update_progress(job.id, &later).await.expect("progress");
    let stored = s.get(job.id).await.expect("get").expect("job");
    assert_eq!(stored.state.pid(), Some(7));
    assert_eq!(stored.progress, later);
    // Progress does not undo a finish, and a finished job can still record progress (a PR url).
    let done = s
        .finish(job.id, succeeded())
        .await
        .expect("finish")
        .expect("done");
    let mut with_pr = later.clone();
    with_pr.pr_url = Some("https://example.com/pr/1".into());
    s.update_progress(job.id, &with_pr).await.expect("progress");
    let stored = s.get(job.id).await.expect("get").expect("job");
    assert_eq!(stored.state, done.state);
    assert_eq!(stored.progress, with_pr);
    // set_pid on a finished job is a no-op; on a missing job too.
    s.set_pid(job.id, 8).await.expect("pid");
    assert_eq!(
        s.get(job.id).await.expect("get").expect("job").state,
        done.state
    );
    s.set_pid(JobId::new(), 8).await.expect("pid");
    s.update_progress(JobId::new(), &with_pr)
        .await
        .expect("progress");
}

// Redis only: the queue's stream mechanics.

fn redis_harness(test: &str) -> (Harness, String, String) {
    let h = Harness::redis(test);
    let (url, prefix) = match &h.kind {
        Kind::Redis(p) => (p.url.clone(), p.name.clone()),
        Kind::Sqlite { .. } => unreachable!(),
    };
    (h, url, prefix)
}

fn raw(url: &str) -> redis::Connection {
    redis::Client::open(url)
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(3)))
        .expect("redis")
}

/// A node that read a queue entry and died before claiming it (or crashed between the read and
/// its job's start) does not strand the job: after the lease, another node takes the entry
/// over (XAUTOCLAIM) and runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_dead_readers_entry_is_taken_over_after_the_lease() {
    let (h, url, prefix) = redis_harness("takeover");
    let s = h.store().await;
    let job = new_job("stranded");
    s.insert(&job).await.expect("insert");
    let mut c = raw(&url);
    let read: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("agenticore")
        .arg("ghost")
        .arg("COUNT")
        .arg(1)
        .arg("STREAMS")
        .arg(format!("{prefix}:queue"))
        .arg(">")
        .query(&mut c)
        .expect("XREADGROUP");
    assert!(!matches!(read, redis::Value::Nil), "the ghost read nothing");
    // Within the lease, nobody takes it...
    assert!(
        s.claim_next(&claim("live", 2))
            .await
            .expect("claim")
            .is_none()
    );
    // ...after it, the live node does.
    let short = ClaimRequest {
        lease: Duration::from_millis(50),
        ..claim("live", 2)
    };
    tokio::time::sleep(Duration::from_millis(120)).await;
    let got = s
        .claim_next(&short)
        .await
        .expect("claim")
        .expect("taken over");
    assert_eq!(got.id, job.id);
    assert_eq!(got.state.node(), Some("live"));
}

/// The stream holds only what is queued or running: finished and cancelled jobs' entries are
/// acked and deleted, so the stream's length (what KEDA scales on) is the number of queued and
/// running jobs. The job hash reads as plain fields.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stream_holds_only_live_entries_and_the_hash_is_readable() {
    let (h, url, prefix) = redis_harness("stream");
    let s = h.store().await;
    let jobs = insert_n(&*s, 4).await;
    let mut c = raw(&url);
    let xlen = |c: &mut redis::Connection| -> u64 {
        redis::cmd("XLEN")
            .arg(format!("{prefix}:queue"))
            .query(c)
            .expect("XLEN")
    };
    assert_eq!(xlen(&mut c), 4);
    s.request_cancel(jobs[3].id, "no").await.expect("cancel");
    assert_eq!(xlen(&mut c), 3);
    let a = s
        .claim_next(&claim("n", 5))
        .await
        .expect("claim")
        .expect("a");
    s.finish(a.id, succeeded())
        .await
        .expect("finish")
        .expect("done");
    assert_eq!(xlen(&mut c), 2);
    let fields: HashMap<String, String> = redis::cmd("HGETALL")
        .arg(format!("{prefix}:job:{}", a.id))
        .query(&mut c)
        .expect("HGETALL");
    assert_eq!(fields["status"], "succeeded");
    assert_eq!(fields["task"], "task 0");
    assert_eq!(fields["exit_code"], "0");
    assert!(fields.contains_key("ended_at") && fields.contains_key("started_at"));
    assert!(!fields.contains_key("node"), "{fields:?}");
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}:job:{}", a.id))
        .query(&mut c)
        .expect("PTTL");
    // The job's TTL (1 h) plus a minute's grace for `expire`.
    assert!(ttl > 3_600_000 && ttl <= 3_660_000, "{ttl}");
    let queued: HashMap<String, String> = redis::cmd("HGETALL")
        .arg(format!("{prefix}:job:{}", jobs[1].id))
        .query(&mut c)
        .expect("HGETALL");
    assert_eq!(queued["status"], "queued");
    let no_ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}:job:{}", jobs[1].id))
        .query(&mut c)
        .expect("PTTL");
    assert_eq!(no_ttl, -1);
}

/// Gone nodes leave the queue's group once idle with nothing pending; a node with a running
/// job's entry pending stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_gone_consumers_are_pruned_but_busy_ones_stay() {
    let (h, url, prefix) = redis_harness("prune");
    let s = RedisStore::connect(&url, &prefix).await.expect("connect");
    let a = new_job("a");
    let b = new_job("b");
    s.insert(&a).await.expect("insert");
    s.insert(&b).await.expect("insert");
    let done = s
        .claim_next(&claim("gone", 1))
        .await
        .expect("claim")
        .expect("a");
    s.finish(done.id, succeeded())
        .await
        .expect("finish")
        .expect("done");
    s.claim_next(&claim("busy", 1))
        .await
        .expect("claim")
        .expect("b");
    let consumers = |c: &mut redis::Connection| -> Vec<String> {
        let v: Vec<HashMap<String, redis::Value>> = redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg(format!("{prefix}:queue"))
            .arg("agenticore")
            .query(c)
            .expect("XINFO");
        let mut names: Vec<String> = v
            .iter()
            .filter_map(|m| redis::from_redis_value(m.get("name")?.clone()).ok())
            .collect();
        names.sort();
        names
    };
    let mut c = raw(&url);
    assert_eq!(consumers(&mut c), vec!["busy", "gone"]);
    // Not idle long enough yet.
    assert_eq!(
        s.prune_consumers(Duration::from_secs(3600))
            .await
            .expect("prune"),
        0
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        s.prune_consumers(Duration::from_millis(5))
            .await
            .expect("prune"),
        1
    );
    assert_eq!(consumers(&mut c), vec!["busy"]);
    drop(h);
}

/// A cancel of a running job is also published, so its owner hears of it before the next
/// heartbeat (which stays the durable path).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_cancel_is_announced_to_every_node() {
    let (h, url, prefix) = redis_harness("hints");
    let owner = h.store().await;
    let other = h.store().await;
    let mut hints = owner.cancel_hints().expect("Redis has cancel hints");
    let job = new_job("announced");
    owner.insert(&job).await.expect("insert");
    owner
        .claim_next(&claim("owner", 1))
        .await
        .expect("claim")
        .expect("job");
    // Wait until the owner listens.
    let mut c = raw(&url);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, n): (String, u64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(format!("{prefix}:cancel"))
            .query(&mut c)
            .expect("NUMSUB");
        if n > 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never subscribed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(matches!(
        other.request_cancel(job.id, "stop").await,
        Ok(CancelOutcome::Requested(_))
    ));
    let got = tokio::time::timeout(Duration::from_secs(10), hints.recv())
        .await
        .expect("a hint")
        .expect("open");
    assert_eq!(got, job.id);
    // SQLite has none.
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = SqliteStore::open(&dir.path().join("jobs.db")).expect("open");
    assert!(sqlite.cancel_hints().is_none());
}
