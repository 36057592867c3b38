//! `agenticore stats`: cost, tokens, turns, job counts and success rate, in total and by day,
//! profile and repository (the daemon's `GET /stats`, or the local store's figures).

use agenticore::api::{Stats, StatsFigures, StatsGroup};
use agenticore::client::Backend;
use agenticore::engine::stats::parse_since;

use super::args::{StatsArgs, StatsBy};
use super::output::{Align, aligned_table, dollars, duration, print_json, thousands};
use super::{CliError, CliResult, exit};

pub async fn run(backend: &Backend, a: StatsArgs) -> CliResult {
    let since = match a.since.as_deref() {
        None => None,
        Some(raw) => Some(
            parse_since(raw, chrono::Utc::now()).map_err(|e| CliError::usage(format!("--{e}")))?,
        ),
    };
    let stats = backend.stats(since).await?;
    if a.json {
        print_json(&serde_json::to_value(&stats).unwrap_or_default());
    } else {
        print!("{}", render(&stats, a.since.as_deref(), a.by));
    }
    Ok(exit::OK)
}

/// The text answer: a summary of the window, then the tables (or the one `by` asks for).
fn render(s: &Stats, since_arg: Option<&str>, by: Option<StatsBy>) -> String {
    let mut out = String::new();
    let mut kv = |k: &str, v: String| out.push_str(&format!("{k:<14}{v}\n"));
    let window = match (&s.since, since_arg) {
        (None, _) => "every job the store holds".to_string(),
        (Some(t), Some(arg)) if arg.trim() != t => {
            format!("jobs created since {} ({})", when(t), arg.trim())
        }
        (Some(t), _) => format!("jobs created since {}", when(t)),
    };
    kv("window", window);
    let kept = format!(
        "finished jobs are kept {} (AGENTICORE_JOB_TTL)",
        ttl(s.job_ttl_seconds)
    );
    match &s.oldest_job_at {
        Some(t) => kv("oldest job", format!("{}; {kept}", when(t))),
        None => kv("oldest job", format!("none; {kept}")),
    }
    if s.truncated {
        kv(
            "note",
            "more jobs than one answer reads (1,000,000): the oldest are not counted".into(),
        );
    }
    let t = &s.total;
    kv(
        "jobs",
        format!(
            "{}: {} succeeded, {} failed, {} cancelled, {} running, {} queued",
            thousands(t.jobs),
            thousands(t.succeeded),
            thousands(t.failed),
            thousands(t.cancelled),
            thousands(t.running),
            thousands(t.queued)
        ),
    );
    if t.jobs == 0 {
        out.push_str("\nNo jobs in this window.\n");
        return out;
    }
    let finished = t.succeeded + t.failed + t.cancelled;
    kv(
        "success",
        match t.success_rate {
            Some(r) => format!("{} of {} finished", percent(r), thousands(finished)),
            None => "- (none finished)".into(),
        },
    );
    kv("cost", dollars(t.cost_usd));
    kv(
        "tokens",
        format!(
            "{} in, {} out, {} cache read, {} cache write",
            thousands(t.tokens.input),
            thousands(t.tokens.output),
            thousands(t.tokens.cache_read),
            thousands(t.tokens.cache_creation)
        ),
    );
    kv("turns", thousands(t.turns));
    kv(
        "run time",
        match t.mean_run_seconds {
            Some(m) => format!("{} (mean {})", secs(t.run_seconds), secs(m)),
            None => "-".into(),
        },
    );
    let tables = [
        (StatsBy::Day, "BY DAY (UTC)", "DAY", &s.by_day),
        (StatsBy::Profile, "BY PROFILE", "PROFILE", &s.by_profile),
        (StatsBy::Repo, "BY REPOSITORY", "REPO", &s.by_repo),
    ];
    for (which, title, key, groups) in tables {
        if by.is_none_or(|b| b == which) {
            out.push_str(&format!("\n{title}\n"));
            out.push_str(&table(key, groups));
        }
    }
    out
}

const COLUMNS: [(&str, Align); 15] = [
    ("", Align::Left),
    ("JOBS", Align::Right),
    ("OK", Align::Right),
    ("FAILED", Align::Right),
    ("CANCELLED", Align::Right),
    ("ACTIVE", Align::Right),
    ("SUCCESS", Align::Right),
    ("COST", Align::Right),
    ("TOKENS IN", Align::Right),
    ("OUT", Align::Right),
    ("CACHE READ", Align::Right),
    ("CACHE WRITE", Align::Right),
    ("TURNS", Align::Right),
    ("RUN TIME", Align::Right),
    ("MEAN", Align::Right),
];

/// One breakdown; `ACTIVE` is running plus queued.
fn table(key: &str, groups: &[StatsGroup]) -> String {
    let header: Vec<String> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, (h, _))| if i == 0 { key } else { h }.to_string())
        .collect();
    let mut rows = vec![header];
    rows.extend(groups.iter().map(|g| row(&g.key, &g.figures)));
    let align: Vec<Align> = COLUMNS.iter().map(|(_, a)| *a).collect();
    aligned_table(&rows, &align)
}

fn row(key: &str, f: &StatsFigures) -> Vec<String> {
    vec![
        key.to_string(),
        thousands(f.jobs),
        thousands(f.succeeded),
        thousands(f.failed),
        thousands(f.cancelled),
        thousands(f.running + f.queued),
        f.success_rate.map(percent).unwrap_or_else(|| "-".into()),
        dollars(f.cost_usd),
        thousands(f.tokens.input),
        thousands(f.tokens.output),
        thousands(f.tokens.cache_read),
        thousands(f.tokens.cache_creation),
        thousands(f.turns),
        secs(f.run_seconds),
        f.mean_run_seconds.map(secs).unwrap_or_else(|| "-".into()),
    ]
}

/// `66.7%`.
fn percent(r: f64) -> String {
    format!("{:.1}%", r * 100.0)
}

/// Seconds as `3s`, `2m05s`, `1h02m`.
fn secs(s: f64) -> String {
    duration(s.round() as i64)
}

/// An ISO-8601 time from the wire as `2025-01-31 09:12 UTC` (as given when it does not parse).
fn when(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| {
            d.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M UTC")
                .to_string()
        })
        .unwrap_or_else(|_| t.to_string())
}

/// A TTL as `24h`, `90m`, `45s`.
fn ttl(secs: u64) -> String {
    match secs {
        s if s >= 3600 && s.is_multiple_of(3600) => format!("{}h", s / 3600),
        s if s >= 60 && s.is_multiple_of(60) => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agenticore::api::TokensView;

    fn figures(jobs: u64, ok: u64, failed: u64, cost: f64) -> StatsFigures {
        StatsFigures {
            jobs,
            succeeded: ok,
            failed,
            success_rate: (ok + failed > 0).then(|| ok as f64 / (ok + failed) as f64),
            cost_usd: cost,
            tokens: TokensView {
                input: 100 * jobs,
                output: 20 * jobs,
                cache_read: 5 * jobs,
                cache_creation: jobs,
            },
            turns: 2 * jobs,
            run_seconds: 3.0 * jobs as f64,
            mean_run_seconds: (jobs > 0).then_some(3.0),
            ..Default::default()
        }
    }

    fn sample() -> Stats {
        let g = |key: &str, f| StatsGroup {
            key: key.into(),
            figures: f,
        };
        Stats {
            success: true,
            since: Some("2025-01-24T10:00:00.000000+00:00".into()),
            oldest_job_at: Some("2025-01-30T09:12:03.000000+00:00".into()),
            truncated: false,
            job_ttl_seconds: 86_400,
            total: figures(15, 10, 2, 0.1845),
            by_day: vec![
                g("2025-01-31", figures(12, 8, 2, 0.1476)),
                g("2025-01-30", figures(3, 2, 0, 0.0369)),
            ],
            by_profile: vec![g("code", figures(15, 10, 2, 0.1845))],
            by_repo: vec![g("(no repo)", figures(15, 10, 2, 0.1845))],
        }
    }

    #[test]
    fn text_has_a_summary_and_aligned_tables() {
        let text = render(&sample(), Some("7d"), None);
        let want = "\
window        jobs created since 2025-01-24 10:00 UTC (7d)
oldest job    2025-01-30 09:12 UTC; finished jobs are kept 24h (AGENTICORE_JOB_TTL)
jobs          15: 10 succeeded, 2 failed, 0 cancelled, 0 running, 0 queued
success       83.3% of 12 finished
cost          $0.1845
tokens        1,500 in, 300 out, 75 cache read, 15 cache write
turns         30
run time      45s (mean 3s)

BY DAY (UTC)
DAY         JOBS  OK  FAILED  CANCELLED  ACTIVE  SUCCESS     COST  TOKENS IN  OUT  CACHE READ  CACHE WRITE  TURNS  RUN TIME  MEAN
2025-01-31    12   8       2          0       0    80.0%  $0.1476      1,200  240          60           12     24       36s    3s
2025-01-30     3   2       0          0       0   100.0%  $0.0369        300   60          15            3      6        9s    3s
";
        assert!(text.starts_with(want), "{text}");
        assert!(text.contains("\nBY PROFILE\nPROFILE "), "{text}");
        assert!(text.contains("\nBY REPOSITORY\nREPO "), "{text}");
        let only = render(&sample(), Some("7d"), Some(StatsBy::Profile));
        assert!(
            only.contains("BY PROFILE") && !only.contains("BY DAY"),
            "{only}"
        );
    }

    #[test]
    fn an_empty_window_says_so() {
        let mut s = sample();
        s.total = StatsFigures::default();
        s.oldest_job_at = None;
        s.since = None;
        s.job_ttl_seconds = 600;
        s.by_day.clear();
        let text = render(&s, None, None);
        assert!(
            text.starts_with("window        every job the store holds\n"),
            "{text}"
        );
        assert!(
            text.contains("oldest job    none; finished jobs are kept 10m"),
            "{text}"
        );
        assert!(text.ends_with("\nNo jobs in this window.\n"), "{text}");
    }

    #[test]
    fn ttls_read_naturally() {
        assert_eq!(ttl(86_400), "24h");
        assert_eq!(ttl(5_400), "90m");
        assert_eq!(ttl(45), "45s");
        assert_eq!(ttl(3_601), "3601s");
    }
}
