//! `SqliteStore` against the `JobStore` contract, on a real file in a temp dir.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agenticore::job::{Job, JobId, JobSpec, JobState, Mode, Outcome, Progress, Status};
use agenticore::store::sqlite::SqliteStore;
use agenticore::store::{CancelOutcome, ClaimRequest, Counts, JobStore, ListFilter, StoreError};
use chrono::Utc;

fn spec(task: &str) -> JobSpec {
    JobSpec {
        task: task.to_string(),
        repo_url: None,
        base_ref: None,
        profile: "code".to_string(),
        session_id: None,
        timeout_seconds: None,
        mode: Mode::FireAndForget,
        ttl_seconds: 3600,
        keep_worktree_on_failure: false,
    }
}

/// Distinct, increasing v7 ids (`now_v7` is monotonic within the process).
fn new_job(task: &str) -> Job {
    Job::new(spec(task))
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    store: SqliteStore,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state/jobs.db");
    let store = SqliteStore::open(&path).expect("open");
    Fixture {
        _dir: dir,
        path,
        store,
    }
}

fn claim(node: &str, max_running: usize) -> ClaimRequest {
    ClaimRequest {
        node: node.to_string(),
        max_running,
        only: None,
        lease: Duration::from_secs(30),
    }
}

async fn insert_n(store: &SqliteStore, n: usize) -> Vec<Job> {
    let mut jobs = Vec::new();
    for i in 0..n {
        let job = new_job(&format!("task {i}"));
        store.insert(&job).await.expect("insert");
        jobs.push(job);
    }
    jobs
}

fn succeeded() -> Outcome {
    Outcome::Succeeded { exit_code: 0 }
}

fn never_dead(_: &str) -> bool {
    false
}

#[tokio::test]
async fn insert_get_round_trip_and_duplicate() {
    let f = fixture();
    let mut job = new_job("hello");
    job.progress.output = Some("out".into());
    job.progress.tokens = Some(Default::default());
    f.store.insert(&job).await.expect("insert");
    assert_eq!(f.store.get(job.id).await.expect("get"), Some(job.clone()));
    assert!(f.store.get(JobId::new()).await.expect("get").is_none());
    match f.store.insert(&job).await {
        Err(StoreError::Duplicate(id)) => assert_eq!(id, job.id),
        other => panic!("expected Duplicate, got {other:?}"),
    }
    assert_eq!(f.store.location(), f.path.display().to_string());
    assert_eq!(f.store.path(), f.path);
}

#[tokio::test]
async fn list_newest_first_with_status_filter_and_paging() {
    let f = fixture();
    let jobs = insert_n(&f.store, 25).await;
    // Finish every third job so the status filter has something to do.
    let mut done = Vec::new();
    for job in jobs.iter().step_by(3) {
        let req = ClaimRequest {
            only: Some(job.id),
            ..claim("n", 100)
        };
        f.store
            .claim_next(&req)
            .await
            .expect("claim")
            .expect("claimed");
        f.store
            .finish(job.id, succeeded())
            .await
            .expect("finish")
            .expect("finished");
        done.push(job.id);
    }

    let newest_first: Vec<JobId> = jobs.iter().rev().map(|j| j.id).collect();
    let all = f
        .store
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
        let page = f
            .store
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
    let first = f
        .store
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
        let page = f
            .store
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
    let queued = f
        .store
        .list(&ListFilter {
            status: Some(Status::Queued),
            limit: 100,
            cursor: None,
        })
        .await
        .expect("list");
    assert_eq!(queued.jobs.len(), 25 - done.len());
}

#[tokio::test]
async fn corrupt_row_is_skipped_by_list_and_reported_by_get() {
    let f = fixture();
    let jobs = insert_n(&f.store, 3).await;
    let bad = jobs[1].id;
    let conn = rusqlite::Connection::open(&f.path).expect("raw open");
    conn.execute(
        "UPDATE jobs SET data = '{not json' WHERE id = ?1",
        [bad.to_string()],
    )
    .expect("corrupt");
    drop(conn);

    match f.store.get(bad).await {
        Err(StoreError::Corrupt { id, .. }) => assert_eq!(id, bad.to_string()),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let page = f
        .store
        .list(&ListFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(
        page.jobs.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![jobs[2].id, jobs[0].id]
    );
    // A corrupt row at the end of a page still moves the cursor past it.
    let p1 = f
        .store
        .list(&ListFilter {
            limit: 2,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(p1.jobs.len(), 1);
    assert_eq!(p1.next_cursor, Some(bad));
    // The queue skips it too.
    let c1 = f.store.claim_next(&claim("n", 10)).await.expect("claim");
    assert_eq!(c1.map(|j| j.id), Some(jobs[0].id));
    let c2 = f.store.claim_next(&claim("n", 10)).await.expect("claim");
    assert_eq!(c2.map(|j| j.id), Some(jobs[2].id));
    assert!(
        f.store
            .claim_next(&claim("n", 10))
            .await
            .expect("claim")
            .is_none()
    );
}

#[tokio::test]
async fn claim_is_fifo_and_sets_running() {
    let f = fixture();
    let jobs = insert_n(&f.store, 5).await;
    for expected in &jobs {
        let before = Utc::now();
        let job = f
            .store
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
        assert_eq!(f.store.get(job.id).await.expect("get"), Some(job));
    }
    assert!(
        f.store
            .claim_next(&claim("host:1", 100))
            .await
            .expect("claim")
            .is_none()
    );
}

#[tokio::test]
async fn claim_respects_the_cap_and_only() {
    let f = fixture();
    let jobs = insert_n(&f.store, 4).await;
    let a = f.store.claim_next(&claim("a", 2)).await.expect("claim");
    let b = f.store.claim_next(&claim("b", 2)).await.expect("claim");
    assert!(a.is_some() && b.is_some());
    // The cap counts every owner's running jobs.
    assert!(
        f.store
            .claim_next(&claim("c", 2))
            .await
            .expect("claim")
            .is_none()
    );
    assert!(
        f.store
            .claim_next(&claim("c", 0))
            .await
            .expect("claim")
            .is_none()
    );

    // `only` picks exactly that job, not the oldest queued one.
    let only = ClaimRequest {
        only: Some(jobs[3].id),
        ..claim("c", 3)
    };
    let got = f
        .store
        .claim_next(&only)
        .await
        .expect("claim")
        .expect("only");
    assert_eq!(got.id, jobs[3].id);
    // ...and nothing when that job is not queued (now running).
    let again = ClaimRequest {
        only: Some(jobs[3].id),
        ..claim("c", 10)
    };
    assert!(f.store.claim_next(&again).await.expect("claim").is_none());
    let missing = ClaimRequest {
        only: Some(JobId::new()),
        ..claim("c", 10)
    };
    assert!(f.store.claim_next(&missing).await.expect("claim").is_none());

    // Finishing frees a slot.
    f.store
        .finish(jobs[0].id, succeeded())
        .await
        .expect("finish")
        .expect("finished");
    let next = f.store.claim_next(&claim("c", 3)).await.expect("claim");
    assert_eq!(next.map(|j| j.id), Some(jobs[2].id));
    assert_eq!(
        f.store.counts().await.expect("counts"),
        Counts {
            queued: 0,
            running: 3,
            succeeded: 1,
            failed: 0,
            cancelled: 0,
        }
    );
}

/// Two stores on one file (as two processes would be), 8 claimers, 50 jobs, a cap of 3: every
/// job runs exactly once and never more than 3 run at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claimers_on_two_stores_share_the_cap() {
    const JOBS: usize = 50;
    const CLAIMERS: usize = 8;
    const CAP: usize = 3;
    let f = fixture();
    let other = SqliteStore::open(&f.path).expect("second store");
    insert_n(&f.store, JOBS).await;

    let stores = [f.store.clone(), other];
    let claimed: Arc<Mutex<HashMap<JobId, usize>>> = Arc::default();
    let running = Arc::new(AtomicUsize::new(0));
    let max_seen = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));

    let mut tasks = Vec::new();
    for i in 0..CLAIMERS {
        let store = stores[i % 2].clone();
        let claimed = Arc::clone(&claimed);
        let running = Arc::clone(&running);
        let max_seen = Arc::clone(&max_seen);
        let finished = Arc::clone(&finished);
        tasks.push(tokio::spawn(async move {
            let node = format!("node-{i}");
            let mut idle = 0;
            while finished.load(Ordering::SeqCst) < JOBS {
                let Some(job) = store.claim_next(&claim(&node, CAP)).await.expect("claim") else {
                    idle += 1;
                    assert!(idle < 20_000, "claimer {i} starved");
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                };
                // The in-memory count is a lower bound of the stored one.
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                max_seen.fetch_max(now, Ordering::SeqCst);
                let stored = store.counts().await.expect("counts").running;
                assert!(stored as usize <= CAP, "{stored} running");
                *claimed.lock().expect("lock").entry(job.id).or_default() += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                let done = store.finish(job.id, succeeded()).await.expect("finish");
                assert!(done.is_some(), "job {} finished twice", job.id);
                finished.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    for t in tasks {
        t.await.expect("claimer panicked");
    }
    let claimed = claimed.lock().expect("lock").clone();
    assert_eq!(claimed.len(), JOBS);
    assert!(claimed.values().all(|&n| n == 1), "a job was claimed twice");
    assert!(max_seen.load(Ordering::SeqCst) <= CAP);
    let counts = f.store.counts().await.expect("counts");
    assert_eq!(counts.succeeded, JOBS as u64);
    assert_eq!(counts.running + counts.queued, 0);
}

#[tokio::test]
async fn finish_is_compare_and_set() {
    let f = fixture();
    let jobs = insert_n(&f.store, 2).await;
    // A queued job cannot be finished.
    assert!(
        f.store
            .finish(jobs[0].id, succeeded())
            .await
            .expect("finish")
            .is_none()
    );
    let claimed = f
        .store
        .claim_next(&claim("n", 5))
        .await
        .expect("claim")
        .expect("job");
    let started = claimed.state.started_at();
    let done = f
        .store
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
        f.store
            .finish(
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
    assert_eq!(f.store.get(claimed.id).await.expect("get"), Some(done));

    // Cancelled stays cancelled when a late success races in.
    let second = f
        .store
        .claim_next(&claim("n", 5))
        .await
        .expect("claim")
        .expect("job");
    let cancelled = f
        .store
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
        f.store
            .finish(second.id, succeeded())
            .await
            .expect("finish")
            .is_none()
    );
    let stored = f.store.get(second.id).await.expect("get").expect("job");
    assert_eq!(stored.status(), Status::Cancelled);
    assert_eq!(stored, cancelled);
    assert!(
        f.store
            .finish(JobId::new(), succeeded())
            .await
            .expect("finish")
            .is_none()
    );
}

#[tokio::test]
async fn cancel_queued_running_finished_missing() {
    let f = fixture();
    let jobs = insert_n(&f.store, 3).await;
    let running = f
        .store
        .claim_next(&claim("n", 5))
        .await
        .expect("claim")
        .expect("job");
    assert_eq!(running.id, jobs[0].id);

    // Queued: cancelled now, never starts.
    match f
        .store
        .request_cancel(jobs[1].id, "cancelled by user")
        .await
    {
        Ok(CancelOutcome::CancelledQueued(job)) => {
            assert_eq!(job.status(), Status::Cancelled);
            assert_eq!(job.state.started_at(), None);
            assert_eq!(job.state.error(), Some("cancelled by user"));
            assert!(job.expires_at().is_some());
            assert_eq!(f.store.get(job.id).await.expect("get"), Some(job));
        }
        other => panic!("expected CancelledQueued, got {other:?}"),
    }
    let next = f.store.claim_next(&claim("n", 5)).await.expect("claim");
    assert_eq!(next.map(|j| j.id), Some(jobs[2].id));

    // Running: flagged for its owner, still running.
    match f
        .store
        .request_cancel(running.id, "cancelled by user")
        .await
    {
        Ok(CancelOutcome::Requested(job)) => {
            assert!(matches!(
                job.state,
                JobState::Running {
                    cancel_requested: true,
                    ..
                }
            ));
            assert_eq!(f.store.get(job.id).await.expect("get"), Some(job));
        }
        other => panic!("expected Requested, got {other:?}"),
    }
    // Asking twice is harmless.
    assert!(matches!(
        f.store.request_cancel(running.id, "again").await,
        Ok(CancelOutcome::Requested(_))
    ));
    let done = f
        .store
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
    match f.store.request_cancel(running.id, "too late").await {
        Ok(CancelOutcome::AlreadyFinished(job)) => assert_eq!(job, done),
        other => panic!("expected AlreadyFinished, got {other:?}"),
    }
    assert!(matches!(
        f.store.request_cancel(JobId::new(), "x").await,
        Ok(CancelOutcome::NotFound)
    ));
}

#[tokio::test]
async fn heartbeat_extends_owned_leases_and_reports_cancels() {
    let f = fixture();
    insert_n(&f.store, 3).await;
    let short = ClaimRequest {
        lease: Duration::from_millis(1),
        ..claim("me", 10)
    };
    let a = f.store.claim_next(&short).await.expect("claim").expect("a");
    let b = f.store.claim_next(&short).await.expect("claim").expect("b");
    let theirs = f
        .store
        .claim_next(&ClaimRequest {
            node: "them".into(),
            ..short.clone()
        })
        .await
        .expect("claim")
        .expect("c");
    f.store.request_cancel(b.id, "stop").await.expect("cancel");
    f.store
        .request_cancel(theirs.id, "stop")
        .await
        .expect("cancel");

    let cancelled = f
        .store
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
        f.store
            .heartbeat("me", &[], Duration::from_secs(1))
            .await
            .expect("hb")
            .is_empty()
    );

    // Ten minutes from now the renewed leases hold; the other node's lapsed.
    let later = Utc::now() + chrono::Duration::minutes(10);
    let reaped = f.store.reap(later, &never_dead).await.expect("reap");
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
        f.store.get(a.id).await.expect("get").map(|j| j.status()),
        Some(Status::Running)
    );
}

#[tokio::test]
async fn reap_by_expired_lease_and_by_dead_owner() {
    let f = fixture();
    insert_n(&f.store, 3).await;
    let lease = |node: &str, secs| ClaimRequest {
        lease: Duration::from_secs(secs),
        ..claim(node, 10)
    };
    let expired = f
        .store
        .claim_next(&lease("alive:1", 60))
        .await
        .expect("c")
        .expect("1");
    let dead = f
        .store
        .claim_next(&lease("dead:2", 3600))
        .await
        .expect("c")
        .expect("2");
    let healthy = f
        .store
        .claim_next(&lease("alive:1", 3600))
        .await
        .expect("c")
        .expect("3");
    f.store.set_pid(dead.id, 4242).await.expect("pid");
    assert_eq!(
        f.store
            .get(dead.id)
            .await
            .expect("get")
            .and_then(|j| j.state.pid()),
        Some(4242)
    );

    // Nothing to reap now.
    let none = f.store.reap(Utc::now(), &never_dead).await.expect("reap");
    assert!(none.is_empty());

    let now = Utc::now() + chrono::Duration::minutes(5);
    let is_dead = |node: &str| node == "dead:2";
    let mut reaped = f.store.reap(now, &is_dead).await.expect("reap");
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
        assert_eq!(f.store.get(job.id).await.expect("get").as_ref(), Some(job));
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
        f.store
            .finish(dead.id, succeeded())
            .await
            .expect("finish")
            .is_none()
    );
    assert!(f.store.reap(now, &is_dead).await.expect("reap").is_empty());
    assert_eq!(
        f.store
            .get(healthy.id)
            .await
            .expect("get")
            .map(|j| j.status()),
        Some(Status::Running)
    );
}

#[tokio::test]
async fn expire_deletes_finished_jobs_after_their_ttl() {
    let f = fixture();
    let mut short = new_job("short");
    short.spec.ttl_seconds = 60;
    let mut long = new_job("long");
    long.spec.ttl_seconds = 86_400;
    let queued = new_job("queued");
    for j in [&short, &long, &queued] {
        f.store.insert(j).await.expect("insert");
    }
    for j in [&short, &long] {
        f.store.request_cancel(j.id, "x").await.expect("cancel");
    }
    let running = new_job("running");
    f.store.insert(&running).await.expect("insert");
    let only = ClaimRequest {
        only: Some(running.id),
        ..claim("n", 5)
    };
    f.store
        .claim_next(&only)
        .await
        .expect("claim")
        .expect("running");

    assert_eq!(f.store.expire(Utc::now()).await.expect("expire"), 0);
    let in_two_minutes = Utc::now() + chrono::Duration::minutes(2);
    assert_eq!(f.store.expire(in_two_minutes).await.expect("expire"), 1);
    assert!(f.store.get(short.id).await.expect("get").is_none());
    assert!(f.store.get(long.id).await.expect("get").is_some());
    let in_ten_years = Utc::now() + chrono::Duration::days(3650);
    assert_eq!(f.store.expire(in_ten_years).await.expect("expire"), 1);
    // Queued and running jobs never expire.
    assert!(f.store.get(queued.id).await.expect("get").is_some());
    assert!(f.store.get(running.id).await.expect("get").is_some());
}

#[tokio::test]
async fn progress_is_kept_for_any_status() {
    let f = fixture();
    let job = new_job("p");
    f.store.insert(&job).await.expect("insert");
    let progress = Progress {
        session_id: Some("s1".into()),
        num_turns: Some(3),
        ..Default::default()
    };
    f.store
        .update_progress(job.id, &progress)
        .await
        .expect("progress");
    let claimed = f
        .store
        .claim_next(&claim("n", 1))
        .await
        .expect("claim")
        .expect("job");
    assert_eq!(claimed.progress, progress);
    f.store.set_pid(job.id, 7).await.expect("pid");
    let mut later = progress.clone();
    later.output = Some("done".into());
    f.store
        .update_progress(job.id, &later)
        .await
        .expect("progress");
    let stored = f.store.get(job.id).await.expect("get").expect("job");
    assert_eq!(stored.state.pid(), Some(7));
    assert_eq!(stored.progress, later);
    // Progress does not undo a finish, and a finished job can still record progress (a PR url).
    let done = f
        .store
        .finish(job.id, succeeded())
        .await
        .expect("finish")
        .expect("done");
    let mut with_pr = later.clone();
    with_pr.pr_url = Some("https://example.com/pr/1".into());
    f.store
        .update_progress(job.id, &with_pr)
        .await
        .expect("progress");
    let stored = f.store.get(job.id).await.expect("get").expect("job");
    assert_eq!(stored.state, done.state);
    assert_eq!(stored.progress, with_pr);
    // set_pid on a finished job is a no-op; on a missing job too.
    f.store.set_pid(job.id, 8).await.expect("pid");
    assert_eq!(
        f.store.get(job.id).await.expect("get").expect("job").state,
        done.state
    );
    f.store.set_pid(JobId::new(), 8).await.expect("pid");
    f.store
        .update_progress(JobId::new(), &with_pr)
        .await
        .expect("progress");
}

#[tokio::test]
async fn newer_schema_version_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    drop(SqliteStore::open(&path).expect("open"));
    let conn = rusqlite::Connection::open(&path).expect("raw open");
    conn.pragma_update(None, "user_version", 99).expect("bump");
    drop(conn);
    let err = SqliteStore::open(&path).expect_err("newer schema accepted");
    let msg = err.to_string();
    assert!(msg.contains("schema version 99"), "{msg}");
    assert!(msg.contains("upgrade agenticore"), "{msg}");
    // Refused, not modified.
    let conn = rusqlite::Connection::open(&path).expect("raw open");
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(v, 99);
}

#[tokio::test]
async fn a_second_store_sees_the_first_ones_writes() {
    let f = fixture();
    let other = SqliteStore::open(&f.path).expect("second");
    let job = new_job("shared");
    f.store.insert(&job).await.expect("insert");
    let claimed = other
        .claim_next(&claim("other", 1))
        .await
        .expect("claim")
        .expect("job");
    assert_eq!(claimed.id, job.id);
    assert!(matches!(
        f.store.request_cancel(job.id, "stop").await,
        Ok(CancelOutcome::Requested(_))
    ));
    let flagged = other
        .heartbeat("other", &[job.id], Duration::from_secs(30))
        .await
        .expect("heartbeat");
    assert_eq!(flagged, vec![job.id]);
}
