//! Snapshots of every view (ratatui's `TestBackend` + insta, at a fixed clock) and the key
//! handling of the state.

use chrono::{DateTime, TimeZone, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Color;

use super::app::{Action, App, PAGE, Popup, View};
use super::ui;
use crate::api::{Health, JobView, TokensView};
use crate::job::Status;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0)
        .single()
        .expect("a valid time")
}

fn ts(secs_ago: i64) -> String {
    crate::api::timestamp(now() - chrono::Duration::seconds(secs_ago))
}

fn job(n: u32, status: Status, task: &str) -> JobView {
    let started = !matches!(status, Status::Queued);
    let ended = status.is_terminal() && started;
    JobView {
        id: format!("01900000-0000-7000-8000-0000000000{n:02}"),
        repo_url: if n.is_multiple_of(2) {
            "https://github.com/acme/widgets.git".into()
        } else {
            String::new()
        },
        base_ref: if n.is_multiple_of(2) {
            "main".into()
        } else {
            String::new()
        },
        task: task.into(),
        profile: "code".into(),
        status,
        mode: "fire_and_forget".into(),
        exit_code: ended.then_some(if status == Status::Succeeded { 0 } else { 1 }),
        session_id: started.then(|| "5f0c1d2e-aaaa-bbbb-cccc-000000000001".into()),
        pr_url: (status == Status::Succeeded)
            .then(|| "https://github.com/acme/widgets/pull/7".into()),
        output: None,
        error: match status {
            Status::Failed => Some("claude exited with code 1: API error 529 overloaded".into()),
            Status::Cancelled => Some("cancelled by user".into()),
            _ => None,
        },
        created_at: ts(i64::from(n) * 600 + 30),
        started_at: started.then(|| ts(i64::from(n) * 600)),
        ended_at: ended.then(|| ts(i64::from(n) * 600 - 95)),
        ttl_seconds: 86_400,
        pid: None,
        pod_name: "box".into(),
        worktree_path: if started {
            format!("/home/u/.agenticore/jobs/{n}/work")
        } else {
            String::new()
        },
        job_config_dir: String::new(),
        branch: started.then(|| format!("agenticore/0000000{n}")),
        node: None,
        cost_usd: ended.then_some(0.1234),
        num_turns: started.then_some(4),
        tokens: ended.then_some(TokensView {
            input: 1200,
            output: 340,
            cache_read: 5000,
            cache_creation: 800,
        }),
        model: None,
        permission_denials: Vec::new(),
        mcp_failures: Vec::new(),
        result_subtype: None,
        api_error_status: None,
        pr_error: None,
        last_message: None,
        timeout: None,
        cancel_requested: false,
    }
}

fn jobs() -> Vec<JobView> {
    vec![
        job(1, Status::Running, "add a CONTRIBUTING.md and commit it"),
        job(2, Status::Queued, "review the error handling\nin depth"),
        job(3, Status::Succeeded, "bump the MSRV to 1.89"),
        job(4, Status::Failed, "port the tests to nextest"),
        job(5, Status::Cancelled, "x [fake:sleep=60;child=600]"),
    ]
}

fn health() -> Health {
    Health {
        status: "ok".into(),
        service: "agenticore".into(),
        version: "0.1.0".into(),
        node: "box:4242".into(),
        store: "/home/u/.agenticore/jobs.db".into(),
        running: 1,
        queued: 1,
        max_parallel_jobs: 2,
        changes: Some(7),
        store_warning: None,
        running_here: 1,
        nodes: Vec::new(),
        unsaved_results: 0,
    }
}

/// An app showing `jobs`, as after its first reads.
fn app_with(jobs: Vec<JobView>) -> App {
    let mut app = App::new("local store /home/u/.agenticore/jobs.db".into(), now());
    let actions = app.start();
    let Some(Action::Reload { generation, .. }) = actions.first() else {
        panic!("first action is a reload: {actions:?}");
    };
    let n = jobs.len();
    app.on_page(*generation, false, Ok((jobs, None, n)));
    app.on_health(Ok(health()));
    app
}

/// The screen as text (styles left out; `status_colours` checks those).
fn screen(app: &mut App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal
        .draw(|f| ui::draw(f, app))
        .expect("draw into the test backend");
    let buf = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        for x in 0..buf.area.width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn press(app: &mut App, code: KeyCode) -> Vec<Action> {
    app.on_key(key(code))
}

fn ch(app: &mut App, c: char) -> Vec<Action> {
    press(app, KeyCode::Char(c))
}

const LOG: &[&str] = &[
    r#"{"type":"agenticore","event":"status","status":"running","node":"box:4242","at":"x"}"#,
    r#"{"type":"system","subtype":"init","session_id":"5f0c1d2e","model":"claude-sonnet"}"#,
    r#"{"type":"assistant","message":{"content":[{"type":"text","text":"I'll add the file."}]}}"#,
    r#"{"type":"assistant","message":{"content":[{"type":"tool_use","name":"Write","input":{"file_path":"CONTRIBUTING.md","content":"Contributing"}}]}}"#,
    r#"{"type":"user","message":{"content":[{"type":"tool_result","content":"File created successfully at: CONTRIBUTING.md"}]}}"#,
    r#"{"type":"assistant","message":{"content":[{"type":"tool_use","name":"Bash","input":{"command":"git commit -am 'docs: contributing'"}}]}}"#,
    r#"{"type":"user","message":{"content":[{"type":"tool_result","content":"fatal: not a git repository","is_error":true}]}}"#,
    r#"{"type":"agenticore","stream":"stderr","line":"warning: something odd"}"#,
];

fn with_log(app: &mut App, view: View) {
    let actions = press(
        app,
        if view == View::Detail {
            KeyCode::Enter
        } else {
            KeyCode::Char('l')
        },
    );
    let Some(Action::Follow { generation, .. }) = actions.first() else {
        panic!("opening a job follows its log: {actions:?}");
    };
    let g = *generation;
    for l in LOG {
        app.on_log_line(g, l);
    }
}

// ---- snapshots ----

#[test]
fn snapshot_list_with_every_status() {
    let mut app = app_with(jobs());
    insta::assert_snapshot!(screen(&mut app, 120, 14));
}

/// Three nodes on Redis: the header shows each one's load, this node in bold; a node that
/// cannot write its results says so in red.
#[test]
fn snapshot_cluster_header_with_each_nodes_load_and_a_degraded_store() {
    use crate::api::NodeView;
    let mut app = app_with(jobs());
    let node = |name: &str, running: u64, this: bool| NodeView {
        node: name.into(),
        running,
        max_parallel_jobs: Some(2),
        last_seen: None,
        this,
    };
    let mut h = health();
    h.store = "redis://127.0.0.1:6379 (prefix agenticore)".into();
    h.node = "pod-1:7".into();
    h.nodes = vec![
        node("pod-0:7", 2, false),
        node("pod-1:7", 1, true),
        node("pod-2:7", 0, false),
    ];
    h.status = "degraded".into();
    h.store_warning = Some("1 job result(s) of this node are not written to the store yet".into());
    h.unsaved_results = 1;
    app.on_health(Ok(h));
    insta::assert_snapshot!(screen(&mut app, 220, 6));
}

#[test]
fn snapshot_empty_store() {
    let mut app = app_with(Vec::new());
    insta::assert_snapshot!(screen(&mut app, 100, 8));
}

#[test]
fn snapshot_narrow_terminal() {
    let mut app = app_with(jobs());
    insta::assert_snapshot!(screen(&mut app, 60, 20));
}

#[test]
fn snapshot_detail() {
    let mut app = app_with(jobs());
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    with_log(&mut app, View::Detail);
    insta::assert_snapshot!(screen(&mut app, 100, 34));
}

#[test]
fn snapshot_log_view() {
    let mut app = app_with(jobs());
    with_log(&mut app, View::Log);
    insta::assert_snapshot!(screen(&mut app, 80, 16));
}

#[test]
fn snapshot_help() {
    let mut app = app_with(jobs());
    ch(&mut app, '?');
    insta::assert_snapshot!(screen(&mut app, 100, 26));
}

#[test]
fn snapshot_cancel_confirm() {
    let mut app = app_with(jobs());
    ch(&mut app, 'c');
    assert!(matches!(app.popup, Some(Popup::ConfirmCancel { .. })));
    insta::assert_snapshot!(screen(&mut app, 100, 14));
}

#[test]
fn snapshot_new_job_form_with_a_validation_error() {
    let mut app = app_with(jobs());
    assert_eq!(ch(&mut app, 'n'), vec![Action::LoadProfiles]);
    app.on_profiles(Ok(vec![
        ("code".into(), "Write code".into()),
        ("review".into(), "Read and review only".into()),
    ]));
    for c in "fix the flaky test".chars() {
        ch(&mut app, c);
    }
    press(&mut app, KeyCode::Tab);
    for c in "not a url".chars() {
        ch(&mut app, c);
    }
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Right);
    press(&mut app, KeyCode::Right);
    assert!(press(&mut app, KeyCode::Enter).is_empty());
    insta::assert_snapshot!(screen(&mut app, 100, 16));
}

#[test]
fn snapshot_search_and_error_notice() {
    let mut app = app_with(jobs());
    ch(&mut app, '/');
    for c in "widgets".chars() {
        ch(&mut app, c);
    }
    let g = app.list_generation;
    app.on_page(
        g,
        false,
        Ok((
            vec![
                job(2, Status::Queued, "review"),
                job(4, Status::Failed, "port"),
            ],
            None,
            5,
        )),
    );
    app.set_notice(
        "agenticore server at http://127.0.0.1:8200 is unreachable",
        true,
    );
    insta::assert_snapshot!(screen(&mut app, 100, 9));
}

#[test]
fn status_colours_and_symbols() {
    let mut app = app_with(jobs());
    let mut terminal = Terminal::new(TestBackend::new(120, 10)).expect("terminal");
    terminal.draw(|f| ui::draw(f, &mut app)).expect("draw");
    let buf = terminal.backend().buffer();
    // Row 3 is the first job (running, selected), row 6 the failed one.
    assert_eq!(buf[(0, 3)].symbol(), "●");
    assert_eq!(buf[(0, 6)].symbol(), "✗");
    assert_eq!(buf[(0, 6)].fg, Color::Red);
    assert_eq!(buf[(0, 5)].fg, Color::Green);
}

#[test]
fn a_frame_draws_only_the_visible_rows() {
    // 10,000 loaded jobs: the frame must stay cheap (it walks only the rows on screen).
    let many: Vec<JobView> = (0..10_000)
        .map(|i| job(i % 100, Status::Succeeded, "t"))
        .collect();
    let mut app = app_with(many);
    app.selected = 9_990;
    let text = screen(&mut app, 100, 20);
    assert!(text.contains("row 9991"), "{text}");
}

// ---- keys ----

#[test]
fn moving_and_paging_the_list() {
    let mut app = app_with(jobs());
    assert_eq!(app.selected, 0);
    ch(&mut app, 'j');
    ch(&mut app, 'j');
    assert_eq!(app.selected, 2);
    press(&mut app, KeyCode::Up);
    assert_eq!(app.selected, 1);
    press(&mut app, KeyCode::End);
    assert_eq!(app.selected, 4);
    press(&mut app, KeyCode::Down);
    assert_eq!(app.selected, 4, "stays on the last job");
    press(&mut app, KeyCode::Home);
    assert_eq!(app.selected, 0);
    press(&mut app, KeyCode::PageDown);
    assert_eq!(app.selected, 4);
    app.on_mouse(ratatui::crossterm::event::MouseEventKind::ScrollUp);
    assert_eq!(app.selected, 1);
}

#[test]
fn the_end_of_the_loaded_jobs_asks_for_the_next_page() {
    let mut app = App::new("x".into(), now());
    let _ = app.start();
    let page: Vec<JobView> = (0..u32::try_from(PAGE).unwrap_or(100))
        .map(|i| job(i % 100, Status::Succeeded, "t"))
        .collect();
    app.on_page(
        app.list_generation,
        false,
        Ok((
            page,
            Some("01900000-0000-7000-8000-000000000001".into()),
            PAGE,
        )),
    );
    let a = press(&mut app, KeyCode::End);
    assert!(
        matches!(a.as_slice(), [Action::LoadMore { cursor, .. }] if cursor.ends_with("0001")),
        "{a:?}"
    );
    // While it loads, no second request.
    assert!(press(&mut app, KeyCode::Up).is_empty());
}

#[test]
fn filters_reload_and_old_answers_are_dropped() {
    let mut app = app_with(jobs());
    let old = app.list_generation;
    let a = ch(&mut app, '5');
    assert_eq!(app.status_filter(), Some(Status::Failed));
    assert!(matches!(a.as_slice(), [Action::Reload { generation, .. }] if *generation == old + 1));
    // The answer for "all" arrives late: ignored.
    app.on_page(old, false, Ok((jobs(), None, 5)));
    assert_eq!(app.jobs.len(), 5);
    app.on_page(
        old + 1,
        false,
        Ok((vec![job(4, Status::Failed, "x")], None, 1)),
    );
    assert_eq!(app.jobs.len(), 1);
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.status_filter(), Some(Status::Cancelled));
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.status_filter(), None);
    press(&mut app, KeyCode::BackTab);
    assert_eq!(app.status_filter(), Some(Status::Cancelled));
}

#[test]
fn search_is_typed_live_and_escape_clears_it() {
    let mut app = app_with(jobs());
    assert!(ch(&mut app, '/').is_empty());
    let a = ch(&mut app, 'M');
    assert!(matches!(a.as_slice(), [Action::Reload { .. }]));
    assert_eq!(app.search, "m");
    // Keys are text while searching: q does not quit.
    ch(&mut app, 'q');
    assert!(!app.quit);
    press(&mut app, KeyCode::Backspace);
    assert_eq!(app.search, "m");
    press(&mut app, KeyCode::Enter);
    assert!(app.search_input.is_none());
    assert_eq!(app.search, "m");
    let a = press(&mut app, KeyCode::Esc);
    assert!(matches!(a.as_slice(), [Action::Reload { .. }]));
    assert!(app.search.is_empty());
    assert!(!app.quit);
}

#[test]
fn a_refresh_keeps_the_selected_job() {
    let mut app = app_with(jobs());
    ch(&mut app, 'j');
    ch(&mut app, 'j');
    let id = app.jobs[2].id.clone();
    let a = app.on_changes(Ok(1));
    assert!(a.is_empty(), "the first change number is only remembered");
    assert!(app.on_changes(Ok(1)).is_empty(), "no news, no reads");
    let a = app.on_changes(Ok(2));
    assert!(matches!(a.first(), Some(Action::Reload { .. })), "{a:?}");
    let mut fresh = jobs();
    fresh.insert(0, job(9, Status::Queued, "new one"));
    app.on_page(app.list_generation, false, Ok((fresh, None, 6)));
    assert_eq!(app.selected_job().map(|j| j.id.clone()), Some(id));
}

#[test]
fn enter_opens_the_detail_and_q_goes_back_then_quits() {
    let mut app = app_with(jobs());
    let a = press(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Detail);
    assert!(matches!(
        a.as_slice(),
        [Action::Follow { .. }, Action::Refresh { id: Some(_) }]
    ));
    // The log key on the same job does not follow it twice.
    assert!(ch(&mut app, 'l').is_empty());
    assert_eq!(app.view, View::Log);
    assert_eq!(ch(&mut app, 'q'), vec![Action::StopFollow]);
    assert_eq!(app.view, View::List);
    assert_eq!(ch(&mut app, 'q'), vec![Action::Quit]);
    assert!(app.quit);
}

#[test]
fn escape_and_ctrl_c_quit() {
    let mut app = app_with(jobs());
    assert_eq!(press(&mut app, KeyCode::Esc), vec![Action::Quit]);
    let mut app = app_with(jobs());
    press(&mut app, KeyCode::Enter);
    let a = app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert_eq!(a, vec![Action::Quit]);
}

#[test]
fn cancel_asks_first() {
    let mut app = app_with(jobs());
    assert!(ch(&mut app, 'c').is_empty());
    // Anything but y/n keeps asking.
    assert!(ch(&mut app, 'x').is_empty());
    assert!(app.popup.is_some());
    assert!(ch(&mut app, 'n').is_empty());
    assert!(app.popup.is_none());
    ch(&mut app, 'c');
    let a = ch(&mut app, 'y');
    assert_eq!(
        a,
        vec![Action::Cancel {
            id: jobs()[0].id.clone()
        }]
    );
    assert!(app.popup.is_none());
    // A finished job is not asked about.
    press(&mut app, KeyCode::End);
    assert!(ch(&mut app, 'c').is_empty());
    assert!(app.popup.is_none());
    assert!(app.notice.as_ref().is_some_and(|n| n.error));
}

#[test]
fn retry_submits_the_same_spec_for_finished_jobs_only() {
    let mut app = app_with(jobs());
    assert!(ch(&mut app, 'r').is_empty(), "running: not retried");
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    let a = ch(&mut app, 'r');
    let [Action::Submit { body, from_form }] = a.as_slice() else {
        panic!("{a:?}");
    };
    assert!(!from_form);
    assert_eq!(body.task, "port the tests to nextest");
    assert_eq!(
        body.repo_url.as_deref(),
        Some("https://github.com/acme/widgets.git")
    );
    assert_eq!(body.base_ref.as_deref(), Some("main"));
    assert_eq!(body.profile.as_deref(), Some("code"));
    let done = app.on_submitted(false, Ok(job(10, Status::Queued, "port the tests")));
    assert!(matches!(done.first(), Some(Action::Reload { .. })));
    assert_eq!(app.selected, 0, "the new job is selected");
}

#[test]
fn open_pr_and_copy_id() {
    let mut app = app_with(jobs());
    assert!(ch(&mut app, 'o').is_empty(), "no PR on a running job");
    assert!(app.notice.as_ref().is_some_and(|n| n.error));
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    assert_eq!(
        ch(&mut app, 'o'),
        vec![Action::OpenUrl(
            "https://github.com/acme/widgets/pull/7".into()
        )]
    );
    assert_eq!(ch(&mut app, 'y'), vec![Action::Copy(jobs()[2].id.clone())]);
}

#[test]
fn the_form_submits_and_shows_the_backends_refusal() {
    let mut app = app_with(jobs());
    ch(&mut app, 'n');
    for c in "do it".chars() {
        ch(&mut app, c);
    }
    let a = press(&mut app, KeyCode::Enter);
    assert!(matches!(
        a.as_slice(),
        [Action::Submit {
            from_form: true,
            ..
        }]
    ));
    app.on_submitted(true, Err("profile \"nope\" not found".into()));
    let Some(Popup::NewJob(form)) = &app.popup else {
        panic!("the form stays open");
    };
    assert!(form.error.as_deref().is_some_and(|e| e.contains("nope")));
    app.on_submitted(true, Ok(job(11, Status::Queued, "do it")));
    assert!(app.popup.is_none());
}

#[test]
fn the_log_follows_the_tail_until_scrolled_back() {
    let mut app = app_with(jobs());
    with_log(&mut app, View::Log);
    assert!(app.log.following());
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Up);
    assert_eq!(app.log.scroll, 2);
    let g = app.log.generation;
    app.on_log_line(
        g,
        r#"{"type":"assistant","message":{"content":[{"type":"text","text":"more"}]}}"#,
    );
    assert_eq!(app.log.scroll, 3, "the lines being read stay in view");
    ch(&mut app, 'f');
    assert!(app.log.following());
    app.on_log_end(g, None);
    assert!(app.log.ended);
    // A line of an older follow is ignored.
    let n = app.log.entries.len();
    app.on_log_line(g - 1, "stale");
    assert_eq!(app.log.entries.len(), n);
}

#[test]
fn help_closes_on_any_key() {
    let mut app = app_with(jobs());
    ch(&mut app, '?');
    assert_eq!(app.popup, Some(Popup::Help));
    assert!(ch(&mut app, 'q').is_empty());
    assert!(app.popup.is_none());
    assert!(!app.quit);
}

#[test]
fn the_detail_pane_shows_the_pull_request_or_why_there_is_none() {
    let mut with_pr = job(2, Status::Succeeded, "add a widget");
    with_pr.pr_url = Some("https://github.com/acme/widgets/pull/9".into());
    let mut without = job(4, Status::Succeeded, "look around");
    without.pr_url = None;
    without.pr_error = Some("no pull request: the job made no commits beyond origin/main".into());
    let mut app = app_with(vec![with_pr, without]);
    with_log(&mut app, View::Detail);
    let s = screen(&mut app, 120, 34);
    assert!(s.contains("https://github.com/acme/widgets/pull/9"), "{s}");
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Down);
    with_log(&mut app, View::Detail);
    let s = screen(&mut app, 120, 34);
    assert!(
        s.contains("no pull request: the job made no commits beyond origin/main"),
        "{s}"
    );
}
