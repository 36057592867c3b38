//! `agenticore stats`, `GET /stats` and MCP `get_stats`: job counts, success rate, cost, tokens,
//! turns and run time of the jobs the store holds, in total and by day, profile and repository.
//!
//! Computed from the job store alone (SQLite or Redis): finished jobs expire after their TTL
//! (`AGENTICORE_JOB_TTL`), so the figures cover what the store still holds, and the answer says
//! how far back that reaches (`oldest_job_at`). `aggregate` is the pure part (a slice of jobs in,
//! figures out); `collect` pages through a store into the same aggregation, a page at a time, so
//! memory stays bounded by the number of groups, not of jobs.

use std::cmp::Reverse;
use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use super::service::{Engine, EngineError};
use crate::job::{Job, Status, Tokens};
use crate::store::{JobStore, ListFilter, StoreResult};

/// Most jobs one answer reads; past it the answer says `truncated`.
pub const MAX_STATS_JOBS: usize = 1_000_000;
/// Jobs asked of the store per call.
const PAGE_SIZE: usize = 1_000;
/// The `by_repo` key of jobs without a repository.
pub const NO_REPO: &str = "(no repo)";
/// At most this much of a bad `since` is echoed in the error.
const ECHO_CHARS: usize = 100;

/// A `since` that is neither a duration, a timestamp nor a date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinceError {
    #[error(
        "since {0:?} is not a time: give a duration back from now (90m, 24h, 7d, 2w), an RFC \
         3339 timestamp (2025-01-31T12:00:00Z) or a date (2025-01-31, midnight UTC)"
    )]
    Unrecognised(String),
    #[error("since {0:?} reaches too far back")]
    OutOfRange(String),
}

/// Parse a `since`: `<n>m`, `<n>h`, `<n>d`, `<n>w` back from `now`, an RFC 3339 timestamp, or a
/// `YYYY-MM-DD` date (its midnight, UTC).
pub fn parse_since(raw: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, SinceError> {
    let s = raw.trim();
    let echo = || crate::engine::events::truncate_chars(s, ECHO_CHARS);
    if let Some(unit) = s.chars().last().filter(|c| c.is_ascii_alphabetic()) {
        let digits = &s[..s.len() - 1];
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            let per_unit: i64 = match unit.to_ascii_lowercase() {
                'm' => 60,
                'h' => 3_600,
                'd' => 86_400,
                'w' => 7 * 86_400,
                _ => return Err(SinceError::Unrecognised(echo())),
            };
            return digits
                .parse::<i64>()
                .ok()
                .and_then(|n| n.checked_mul(per_unit))
                .and_then(TimeDelta::try_seconds)
                .and_then(|back| now.checked_sub_signed(back))
                .ok_or_else(|| SinceError::OutOfRange(echo()));
        }
    }
    if s.len() == 10
        && let Ok(day) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
    {
        return day
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .ok_or_else(|| SinceError::Unrecognised(echo()));
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| SinceError::Unrecognised(echo()))
}

/// The figures of a set of jobs (the total, or one group).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures {
    pub jobs: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub cancelled: u64,
    pub running: u64,
    pub queued: u64,
    /// Sum of the jobs' reported cost, in billionths of a dollar (exact: 3 x $0.0123 is
    /// $0.0369, not $0.036899999999999995).
    pub cost_nanos: u64,
    pub tokens: Tokens,
    pub turns: u64,
    /// Sum of `ended - started` of the jobs that ran and ended.
    pub run_millis: u64,
    /// How many jobs `run_millis` sums.
    pub timed: u64,
}

impl Figures {
    fn add(&mut self, job: &Job) {
        self.jobs += 1;
        match job.status() {
            Status::Succeeded => self.succeeded += 1,
            Status::Failed => self.failed += 1,
            Status::Cancelled => self.cancelled += 1,
            Status::Running => self.running += 1,
            Status::Queued => self.queued += 1,
        }
        let p = &job.progress;
        if let Some(c) = p.cost_usd.filter(|c| c.is_finite() && *c > 0.0) {
            // `as` saturates: an absurd cost cannot wrap around.
            self.cost_nanos = self.cost_nanos.saturating_add((c * 1e9).round() as u64);
        }
        if let Some(t) = &p.tokens {
            let s = &mut self.tokens;
            s.input = s.input.saturating_add(t.input);
            s.output = s.output.saturating_add(t.output);
            s.cache_read = s.cache_read.saturating_add(t.cache_read);
            s.cache_creation = s.cache_creation.saturating_add(t.cache_creation);
        }
        self.turns = self.turns.saturating_add(p.num_turns.unwrap_or(0));
        if let (Some(start), Some(end)) = (job.state.started_at(), job.state.ended_at()) {
            let ms = u64::try_from((end - start).num_milliseconds()).unwrap_or(0);
            self.run_millis = self.run_millis.saturating_add(ms);
            self.timed += 1;
        }
    }

    /// Succeeded, failed or cancelled.
    pub fn finished(&self) -> u64 {
        self.succeeded + self.failed + self.cancelled
    }

    /// Succeeded / finished; `None` when none finished.
    pub fn success_rate(&self) -> Option<f64> {
        let done = self.finished();
        (done > 0).then(|| self.succeeded as f64 / done as f64)
    }

    pub fn cost_usd(&self) -> f64 {
        self.cost_nanos as f64 / 1e9
    }

    /// Total run time, in seconds (millisecond precision).
    pub fn run_seconds(&self) -> f64 {
        self.run_millis as f64 / 1000.0
    }

    /// Mean run time of the jobs that ran and ended; `None` when none did.
    pub fn mean_run_seconds(&self) -> Option<f64> {
        (self.timed > 0).then(|| (self.run_millis as f64 / self.timed as f64).round() / 1000.0)
    }
}

/// One row of a breakdown: a day (`YYYY-MM-DD`), a profile or a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub key: String,
    pub figures: Figures,
}

/// What `stats` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsReport {
    /// Only jobs created at or after this; `None`: every job the store holds.
    pub since: Option<DateTime<Utc>>,
    /// When the oldest job counted was created; `None` when none was.
    pub oldest_job_at: Option<DateTime<Utc>>,
    /// More jobs were in the window than `MAX_STATS_JOBS`: the oldest were not counted.
    pub truncated: bool,
    pub total: Figures,
    /// By UTC day of creation, newest first.
    pub by_day: Vec<Group>,
    /// By profile, the costliest first (then by name).
    pub by_profile: Vec<Group>,
    /// By repository URL (`NO_REPO` for jobs without one), the costliest first (then by name).
    pub by_repo: Vec<Group>,
}

/// Folds jobs, one at a time, into a `StatsReport`.
#[derive(Debug, Default)]
pub struct Aggregator {
    since: Option<DateTime<Utc>>,
    oldest: Option<DateTime<Utc>>,
    total: Figures,
    days: HashMap<NaiveDate, Figures>,
    profiles: HashMap<String, Figures>,
    repos: HashMap<String, Figures>,
}

impl Aggregator {
    pub fn new(since: Option<DateTime<Utc>>) -> Aggregator {
        Aggregator {
            since,
            ..Default::default()
        }
    }

    /// Whether `job` is in the window (created at or after `since`).
    pub fn in_window(&self, job: &Job) -> bool {
        self.since.is_none_or(|s| job.created_at >= s)
    }

    /// Count `job` if it is in the window; `false` (and nothing counted) if it is older.
    pub fn add(&mut self, job: &Job) -> bool {
        if !self.in_window(job) {
            return false;
        }
        self.oldest = Some(
            self.oldest
                .map_or(job.created_at, |o| o.min(job.created_at)),
        );
        self.total.add(job);
        self.days
            .entry(job.created_at.date_naive())
            .or_default()
            .add(job);
        group(&mut self.profiles, &job.spec.profile).add(job);
        let repo = job
            .spec
            .repo_url
            .as_deref()
            .filter(|r| !r.trim().is_empty())
            .unwrap_or(NO_REPO);
        group(&mut self.repos, repo).add(job);
        true
    }

    pub fn finish(self, truncated: bool) -> StatsReport {
        let mut by_day: Vec<(NaiveDate, Figures)> = self.days.into_iter().collect();
        by_day.sort_by_key(|(d, _)| Reverse(*d));
        StatsReport {
            since: self.since,
            oldest_job_at: self.oldest,
            truncated,
            total: self.total,
            by_day: by_day
                .into_iter()
                .map(|(d, figures)| Group {
                    key: d.format("%Y-%m-%d").to_string(),
                    figures,
                })
                .collect(),
            by_profile: costliest_first(self.profiles),
            by_repo: costliest_first(self.repos),
        }
    }
}

fn group<'a>(map: &'a mut HashMap<String, Figures>, key: &str) -> &'a mut Figures {
    map.entry(key.to_string()).or_default()
}

fn costliest_first(map: HashMap<String, Figures>) -> Vec<Group> {
    let mut groups: Vec<Group> = map
        .into_iter()
        .map(|(key, figures)| Group { key, figures })
        .collect();
    groups.sort_by(|a, b| {
        b.figures
            .cost_nanos
            .cmp(&a.figures.cost_nanos)
            .then_with(|| a.key.cmp(&b.key))
    });
    groups
}

/// The figures of `jobs` created at or after `since`.
pub fn aggregate(jobs: &[Job], since: Option<DateTime<Utc>>) -> StatsReport {
    let mut agg = Aggregator::new(since);
    for job in jobs {
        agg.add(job);
    }
    agg.finish(false)
}

/// Page through `store` (newest first) and aggregate the jobs created at or after `since`, at
/// most `cap` of them.
pub async fn collect(
    store: &dyn JobStore,
    since: Option<DateTime<Utc>>,
    cap: usize,
) -> StoreResult<StatsReport> {
    collect_paged(store, since, cap, PAGE_SIZE).await
}

async fn collect_paged(
    store: &dyn JobStore,
    since: Option<DateTime<Utc>>,
    cap: usize,
    page_size: usize,
) -> StoreResult<StatsReport> {
    let mut agg = Aggregator::new(since);
    let mut counted = 0usize;
    let mut cursor = None;
    let mut pages = 0u64;
    let truncated = 'pages: loop {
        let page = store
            .list(&ListFilter {
                status: None,
                limit: page_size.max(1),
                cursor,
            })
            .await?;
        pages += 1;
        for job in &page.jobs {
            if counted >= cap && agg.in_window(job) {
                break 'pages true;
            }
            if agg.add(job) {
                counted += 1;
            }
        }
        // Newest first: once a page ends before the window, every later page does too. (Jobs
        // older than `since` inside a page are skipped, so a little disorder is harmless.)
        let past_window = page.jobs.last().is_some_and(|j| !agg.in_window(j));
        match page.next_cursor {
            Some(next) if !past_window => cursor = Some(next),
            _ => break false,
        }
    };
    tracing::debug!(counted, pages, truncated, "stats collected");
    if truncated {
        tracing::warn!("stats: more than {cap} jobs in the window; the oldest were not counted");
    }
    Ok(agg.finish(truncated))
}

impl Engine {
    /// The figures of the jobs the store holds that were created at or after `since`.
    pub async fn stats(&self, since: Option<DateTime<Utc>>) -> Result<StatsReport, EngineError> {
        Ok(collect(self.store().as_ref(), since, MAX_STATS_JOBS).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JobId, JobSpec, JobState, Mode, Progress};
    use chrono::TimeZone;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("timestamp")
            .with_timezone(&Utc)
    }

    fn spec(profile: &str, repo: Option<&str>) -> JobSpec {
        JobSpec {
            task: "t".into(),
            repo_url: repo.map(str::to_string),
            base_ref: None,
            profile: profile.into(),
            session_id: None,
            timeout_seconds: None,
            mode: Mode::FireAndForget,
            ttl_seconds: 86_400,
            keep_worktree_on_failure: false,
        }
    }

    /// A job created at `created`, in `state`, that reported $0.0123, 2 turns and tokens
    /// 100/20/5/1 (what the fake claude reports) unless `reported` is false.
    fn job(
        created: &str,
        profile: &str,
        repo: Option<&str>,
        state: JobState,
        reported: bool,
    ) -> Job {
        let progress = if reported {
            Progress {
                cost_usd: Some(0.0123),
                num_turns: Some(2),
                tokens: Some(Tokens {
                    input: 100,
                    output: 20,
                    cache_read: 5,
                    cache_creation: 1,
                }),
                ..Default::default()
            }
        } else {
            Progress::default()
        };
        Job {
            id: JobId::new(),
            spec: spec(profile, repo),
            state,
            created_at: at(created),
            progress,
        }
    }

    fn ok(start: &str, end: &str) -> JobState {
        JobState::Succeeded {
            started_at: at(start),
            ended_at: at(end),
            exit_code: 0,
        }
    }

    fn failed(start: Option<&str>, end: &str) -> JobState {
        JobState::Failed {
            started_at: start.map(at),
            ended_at: at(end),
            exit_code: Some(1),
            error: "boom".into(),
            timeout: None,
        }
    }

    fn sample() -> Vec<Job> {
        let repo = Some("file:///r.git");
        vec![
            job(
                "2025-01-02T10:00:00Z",
                "code",
                repo,
                ok("2025-01-02T10:00:01Z", "2025-01-02T10:00:04Z"),
                true,
            ),
            job(
                "2025-01-02T09:00:00Z",
                "review",
                None,
                failed(Some("2025-01-02T09:00:00Z"), "2025-01-02T09:00:01.500Z"),
                true,
            ),
            job(
                "2025-01-01T23:59:59Z",
                "code",
                None,
                ok("2025-01-02T00:00:00Z", "2025-01-02T00:00:02Z"),
                true,
            ),
            job(
                "2025-01-01T12:00:00Z",
                "code",
                repo,
                JobState::Cancelled {
                    started_at: None,
                    ended_at: at("2025-01-01T12:00:05Z"),
                    exit_code: None,
                    reason: "cancelled by user".into(),
                },
                false,
            ),
            job(
                "2025-01-01T11:00:00Z",
                "code",
                Some(""),
                JobState::Running {
                    started_at: at("2025-01-01T11:00:00Z"),
                    node: "n:1".into(),
                    pid: None,
                    cancel_requested: false,
                },
                false,
            ),
            job(
                "2025-01-01T10:00:00Z",
                "review",
                None,
                JobState::Queued,
                false,
            ),
        ]
    }

    #[test]
    fn totals_count_every_status_and_sum_what_jobs_reported() {
        let r = aggregate(&sample(), None);
        let t = &r.total;
        assert_eq!(
            (
                t.jobs,
                t.succeeded,
                t.failed,
                t.cancelled,
                t.running,
                t.queued
            ),
            (6, 2, 1, 1, 1, 1)
        );
        assert_eq!(t.finished(), 4);
        assert_eq!(t.success_rate(), Some(0.5));
        assert_eq!(t.cost_usd(), 0.0369);
        assert_eq!(t.cost_nanos, 36_900_000);
        assert_eq!(
            t.tokens,
            Tokens {
                input: 300,
                output: 60,
                cache_read: 15,
                cache_creation: 3
            }
        );
        assert_eq!(t.turns, 6);
        // 3 s + 1.5 s + 2 s; the cancelled job never started, the running one has not ended.
        assert_eq!(t.run_millis, 6_500);
        assert_eq!(t.timed, 3);
        assert_eq!(t.run_seconds(), 6.5);
        assert_eq!(t.mean_run_seconds(), Some(2.167));
        assert_eq!(r.oldest_job_at, Some(at("2025-01-01T10:00:00Z")));
        assert!(!r.truncated);
        assert_eq!(r.since, None);
    }

    #[test]
    fn groups_by_utc_day_newest_first_and_by_cost_then_name() {
        let r = aggregate(&sample(), None);
        let keys = |g: &[Group]| g.iter().map(|g| g.key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&r.by_day), ["2025-01-02", "2025-01-01"]);
        assert_eq!(r.by_day[0].figures.jobs, 2);
        assert_eq!(r.by_day[1].figures.jobs, 4);
        assert_eq!(r.by_day[1].figures.succeeded, 1);
        // code: $0.0246 over 4 jobs; review: $0.0123 over 2.
        assert_eq!(keys(&r.by_profile), ["code", "review"]);
        assert_eq!(r.by_profile[0].figures.cost_nanos, 24_600_000);
        assert_eq!(r.by_profile[1].figures.jobs, 2);
        assert_eq!(r.by_profile[1].figures.success_rate(), Some(0.0));
        // An empty repo URL counts as none; equal costs sort by name.
        assert_eq!(keys(&r.by_repo), [NO_REPO, "file:///r.git"]);
        assert_eq!(r.by_repo[0].figures.jobs, 4);
        assert_eq!(r.by_repo[0].figures.cost_nanos, 24_600_000);
        assert_eq!(r.by_repo[1].figures.jobs, 2);
        // The group sums add up to the total.
        for groups in [&r.by_day, &r.by_profile, &r.by_repo] {
            let jobs: u64 = groups.iter().map(|g| g.figures.jobs).sum();
            let cost: u64 = groups.iter().map(|g| g.figures.cost_nanos).sum();
            assert_eq!((jobs, cost), (r.total.jobs, r.total.cost_nanos));
        }
    }

    #[test]
    fn since_keeps_only_newer_jobs() {
        let since = at("2025-01-02T00:00:00Z");
        let r = aggregate(&sample(), Some(since));
        assert_eq!(r.total.jobs, 2);
        assert_eq!(r.since, Some(since));
        assert_eq!(r.oldest_job_at, Some(at("2025-01-02T09:00:00Z")));
        assert_eq!(r.by_day.len(), 1);
        let none = aggregate(&sample(), Some(at("2030-01-01T00:00:00Z")));
        assert_eq!(none.total, Figures::default());
        assert_eq!(none.total.success_rate(), None);
        assert_eq!(none.total.mean_run_seconds(), None);
        assert_eq!(none.oldest_job_at, None);
        assert!(none.by_day.is_empty() && none.by_profile.is_empty() && none.by_repo.is_empty());
    }

    #[test]
    fn costs_sum_exactly_and_nonsense_costs_count_as_none() {
        let mut jobs: Vec<Job> = (0..1000)
            .map(|_| job("2025-01-01T00:00:00Z", "code", None, JobState::Queued, true))
            .collect();
        let mut bad = job(
            "2025-01-01T00:00:00Z",
            "code",
            None,
            JobState::Queued,
            false,
        );
        for c in [f64::NAN, -1.0, f64::INFINITY] {
            bad.progress.cost_usd = Some(c);
            jobs.push(bad.clone());
        }
        let r = aggregate(&jobs, None);
        assert_eq!(r.total.cost_usd(), 12.3);
        assert_eq!(r.total.jobs, 1003);
    }

    #[test]
    fn since_forms() {
        let now = at("2025-03-10T12:00:00Z");
        let p = |s: &str| parse_since(s, now);
        assert_eq!(p("90m"), Ok(at("2025-03-10T10:30:00Z")));
        assert_eq!(p("24h"), Ok(at("2025-03-09T12:00:00Z")));
        assert_eq!(p("7d"), Ok(at("2025-03-03T12:00:00Z")));
        assert_eq!(p(" 2W "), Ok(at("2025-02-24T12:00:00Z")));
        assert_eq!(p("0d"), Ok(now));
        assert_eq!(p("2025-01-31"), Ok(at("2025-01-31T00:00:00Z")));
        assert_eq!(
            p("2025-01-31T12:00:00+02:00"),
            Ok(Utc.with_ymd_and_hms(2025, 1, 31, 10, 0, 0).unwrap())
        );
        assert_eq!(
            p("2025-01-31T12:00:00.5Z").map(|t| t.timestamp_millis() % 1000),
            Ok(500)
        );
        for bad in [
            "",
            "d",
            "7",
            "7x",
            "-7d",
            "7.5d",
            "d7",
            "1d2h",
            "yesterday",
            "2025-13-01",
            "2025-02-30",
            "2025-01-31 12:00",
            "2025-01-31T12:00:00",
        ] {
            assert!(
                matches!(p(bad), Err(SinceError::Unrecognised(_))),
                "{bad:?}: {:?}",
                p(bad)
            );
        }
        for far in ["99999999999999w", "999999999999999999999d"] {
            assert!(matches!(p(far), Err(SinceError::OutOfRange(_))), "{far}");
        }
        let msg = p("garbage").unwrap_err().to_string();
        assert!(msg.contains("\"garbage\"") && msg.contains("7d"), "{msg}");
        let long = "x".repeat(5000);
        assert!(p(&long).unwrap_err().to_string().len() < 400);
    }

    #[tokio::test]
    async fn collect_pages_through_a_store_and_stops_at_the_window() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store =
            crate::store::sqlite::SqliteStore::open(&dir.path().join("jobs.db")).expect("store");
        // 25 jobs, one a minute, newest last; ids follow creation order like the store's.
        let t0 = at("2025-01-01T00:00:00Z");
        let mut jobs = Vec::new();
        for i in 0..25 {
            let mut j = job("2025-01-01T00:00:00Z", "code", None, JobState::Queued, true);
            j.created_at = t0 + TimeDelta::minutes(i);
            store.insert(&j).await.expect("insert");
            jobs.push(j);
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let all = collect_paged(&store, None, 1000, 4).await.expect("collect");
        assert_eq!(all, aggregate(&jobs, None));
        let since = t0 + TimeDelta::minutes(15);
        let recent = collect_paged(&store, Some(since), 1000, 4)
            .await
            .expect("collect");
        assert_eq!(recent, aggregate(&jobs, Some(since)));
        assert_eq!(recent.total.jobs, 10);
        // Capped: the newest 7 are counted, and the answer says it is truncated.
        let capped = collect_paged(&store, None, 7, 4).await.expect("collect");
        assert!(capped.truncated);
        assert_eq!(capped.total.jobs, 7);
        assert_eq!(capped.oldest_job_at, Some(t0 + TimeDelta::minutes(18)));
        // Exactly at the cap is not truncated.
        let exact = collect_paged(&store, Some(since), 10, 4)
            .await
            .expect("collect");
        assert!(!exact.truncated);
        assert_eq!(exact.total.jobs, 10);
    }
}
