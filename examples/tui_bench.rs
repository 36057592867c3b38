//! The dashboard's frame cost with 10,000 stored jobs: the data fetch for one page (plain, a
//! status filter, a search), the change check, and the draw of the list view into ratatui's
//! `TestBackend`. Prints a markdown table. Run by `bench/tui_bench.sh`, which also measures
//! the idle CPU of the real dashboard; alone:
//!
//!   AGENTICORE_HOME=$(mktemp -d) cargo run --example tui_bench [-- JOBS]

use std::sync::Arc;
use std::time::{Duration, Instant};

use agenticore::client::{Backend, Local};
use agenticore::config::Config;
use agenticore::engine::Engine;
use agenticore::job::{Job, JobSpec, JobState, Mode, Status};
use agenticore::store::JobStore;
use agenticore::store::sqlite::SqliteStore;
use agenticore::tui::{app::App, data, ui};
use chrono::Utc;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("AGENTICORE_HOME").is_none() {
        return Err(
            "set AGENTICORE_HOME to a scratch directory (the bench fills its store)".into(),
        );
    }
    let n: usize = match std::env::args().nth(1) {
        Some(a) => a.parse()?,
        None => 10_000,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(n))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

async fn run(n: usize) -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::load()?;
    let store = SqliteStore::open(&config.jobs_db_path())?;
    let existing = store.counts().await?;
    let have = existing.succeeded + existing.failed + existing.cancelled;
    let t = Instant::now();
    for i in usize::try_from(have)?..n {
        let mut job = Job::new(JobSpec {
            task: format!("task {i}: refactor module {} and add tests", i % 97),
            repo_url: Some(format!("https://github.com/acme/repo{}.git", i % 13)),
            base_ref: Some("main".into()),
            profile: "code".into(),
            session_id: None,
            timeout_seconds: None,
            mode: Mode::FireAndForget,
            ttl_seconds: 365 * 86_400,
            keep_worktree_on_failure: false,
        });
        let now = Utc::now();
        job.state = match i % 3 {
            0 => JobState::Succeeded {
                started_at: now,
                ended_at: now,
                exit_code: 0,
            },
            1 => JobState::Failed {
                started_at: Some(now),
                ended_at: now,
                exit_code: Some(1),
                error: "boom".into(),
                timeout: None,
            },
            _ => JobState::Cancelled {
                started_at: Some(now),
                ended_at: now,
                exit_code: None,
                reason: "cancelled by user".into(),
            },
        };
        store.insert(&job).await?;
    }
    let filled = t.elapsed();
    let exe = std::env::current_exe()?;
    let engine = Engine::new(config, Arc::new(store), exe);
    let backend = Backend::Local(Local::new(engine, |_| {}));
    let total = backend.health().await?;
    println!("| measure (debug build unless noted) | median |");
    println!("|---|---|");
    println!(
        "| stored jobs | {} (filled in {}) |",
        total.running + total.queued + u64::try_from(n)?,
        ms(filled)
    );

    let mut fetch = Vec::new();
    let mut page = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        let (jobs, _, _) = data::list_page(&backend, None, "", None, 100).await?;
        fetch.push(t.elapsed());
        page = jobs;
    }
    println!("| fetch one page (100 jobs, all) | {} |", ms(median(fetch)));
    let mut fetch = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        data::list_page(&backend, Some(Status::Failed), "", None, 100).await?;
        fetch.push(t.elapsed());
    }
    println!("| fetch one page (status failed) | {} |", ms(median(fetch)));
    let mut fetch = Vec::new();
    let mut scanned = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let (_, _, s) = data::list_page(&backend, None, "module 42 ", None, 100).await?;
        fetch.push(t.elapsed());
        scanned = s;
    }
    println!(
        "| fetch one search page (\"module 42 \", {scanned} jobs read) | {} |",
        ms(median(fetch))
    );
    let mut check = Vec::new();
    for _ in 0..100 {
        let t = Instant::now();
        backend.changes().await?;
        check.push(t.elapsed());
    }
    println!(
        "| change check (`Backend::changes`) | {} |",
        ms(median(check))
    );

    let mut app = App::new("local store bench".into(), Utc::now());
    let g = app.list_generation;
    let len = page.len();
    app.on_page(g, false, Ok((page, None, len)));
    app.on_health(Ok(total));
    for (w, h) in [(120u16, 40u16), (200, 60)] {
        let mut terminal = Terminal::new(TestBackend::new(w, h))?;
        let mut draw = Vec::new();
        for i in 0..200 {
            app.selected = i % len.max(1);
            let t = Instant::now();
            terminal.draw(|f| ui::draw(f, &mut app))?;
            draw.push(t.elapsed());
        }
        println!("| draw the list view {w}x{h} | {} |", ms(median(draw)));
    }
    Ok(())
}
