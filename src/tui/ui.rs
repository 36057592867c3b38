//! Drawing only: the state in, a frame out. The one thing written back is the list's scroll
//! offset and page height, which only the drawing knows. Every frame costs O(rows on screen):
//! only the visible jobs and log lines are turned into widgets.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row, Table, Wrap};

use crate::api::JobView;
use crate::engine::events::one_line;
use crate::job::Status;
use crate::logtext::{LogEntry, LogKind};

use super::app::{App, FILTERS, Popup, View, short_id};
use super::form::{Field, Form};

/// Below this width the list drops its less useful columns.
const NARROW: u16 = 90;

pub fn draw(frame: &mut Frame, app: &mut App) {
    let [header, body, notice, help] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    draw_header(frame, header, app);
    match app.view {
        View::List => draw_list_view(frame, body, app),
        View::Detail => draw_detail_view(frame, body, app),
        View::Log => draw_log_view(frame, body, app),
    }
    draw_notice(frame, notice, app);
    draw_help_bar(frame, help, app);
    match &app.popup {
        Some(Popup::Help) => draw_help(frame),
        Some(Popup::ConfirmCancel { id, task }) => draw_confirm(frame, id, task),
        Some(Popup::NewJob(form)) => draw_form(frame, form),
        None => {}
    }
}

pub fn status_style(s: Status) -> Style {
    let c = match s {
        Status::Queued => Color::Yellow,
        Status::Running => Color::Cyan,
        Status::Succeeded => Color::Green,
        Status::Failed => Color::Red,
        Status::Cancelled => Color::Magenta,
    };
    Style::new().fg(c)
}

pub fn status_symbol(s: Status) -> &'static str {
    match s {
        Status::Queued => "◌",
        Status::Running => "●",
        Status::Succeeded => "✓",
        Status::Failed => "✗",
        Status::Cancelled => "⊘",
    }
}

fn draw_header(frame: &mut Frame, area: Rect, app: &App) {
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let dim = Style::new().fg(Color::DarkGray);
    let mut spans = vec![
        Span::styled(" agenticore ", bold.fg(Color::Black).bg(Color::Cyan)),
        Span::raw(" "),
        Span::raw(app.header.backend.clone()),
    ];
    match &app.header.health {
        Some(h) => {
            spans.push(Span::styled(" │ ", dim));
            spans.push(Span::raw(format!("node {}", h.node)));
            spans.push(Span::styled(" │ ", dim));
            spans.push(Span::styled(
                format!("{} running", h.running),
                status_style(Status::Running),
            ));
            spans.push(Span::raw(" · "));
            spans.push(Span::styled(
                format!("{} queued", h.queued),
                status_style(Status::Queued),
            ));
            spans.push(Span::raw(format!(" · cap {}", h.max_parallel_jobs)));
            // Several nodes share the queue: each one's load.
            if h.nodes.len() > 1 || h.nodes.iter().any(|n| !n.this) {
                spans.push(Span::styled(" │ ", dim));
                spans.push(Span::raw(format!("{} nodes:", h.nodes.len())));
                for n in &h.nodes {
                    let load = match n.max_parallel_jobs {
                        Some(cap) => format!(" {} {}/{cap}", n.node, n.running),
                        None => format!(" {} {}", n.node, n.running),
                    };
                    let style = if n.this { bold } else { Style::new() };
                    spans.push(Span::styled(load, style));
                }
            }
            if h.status != "ok" {
                spans.push(Span::styled(" │ ", dim));
                let why = h
                    .store_warning
                    .as_deref()
                    .unwrap_or("the store does not answer");
                spans.push(Span::styled(
                    format!("DEGRADED: {why}"),
                    Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
                ));
            }
        }
        None => {
            spans.push(Span::styled(" │ ", dim));
            spans.push(Span::styled("no health yet", dim));
        }
    }
    frame.render_widget(Line::from(spans), area);
}

fn draw_tabs(frame: &mut Frame, area: Rect, app: &App) {
    let mut spans = vec![Span::raw(" ")];
    for (i, f) in FILTERS.iter().enumerate() {
        let name = f.map(Status::as_str).unwrap_or("all");
        let style = if i == app.filter {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        } else {
            Style::new().fg(Color::Gray)
        };
        spans.push(Span::styled(format!(" {} {name} ", i + 1), style));
        spans.push(Span::raw(" "));
    }
    match &app.search_input {
        Some(input) => {
            spans.push(Span::styled(" / ", Style::new().fg(Color::Yellow)));
            spans.push(Span::raw(input.clone()));
            spans.push(Span::styled("▏", Style::new().fg(Color::Yellow)));
        }
        None if !app.search.is_empty() => {
            spans.push(Span::styled(
                format!(" search: {} ", app.search),
                Style::new().fg(Color::Yellow),
            ));
        }
        None => {}
    }
    frame.render_widget(Line::from(spans), area);
}

fn draw_list_view(frame: &mut Frame, area: Rect, app: &mut App) {
    let [tabs, list] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    draw_tabs(frame, tabs, app);
    draw_list(frame, list, app);
}

fn draw_list(frame: &mut Frame, area: Rect, app: &mut App) {
    let rows_room = usize::from(area.height.saturating_sub(1)).max(1);
    app.page_rows = rows_room;
    if app.selected < app.offset {
        app.offset = app.selected;
    } else if app.selected >= app.offset + rows_room {
        app.offset = app.selected + 1 - rows_room;
    }
    app.offset = app.offset.min(app.jobs.len().saturating_sub(1));

    if app.jobs.is_empty() {
        let text = if app.loading {
            "Loading…".to_string()
        } else if !app.search.is_empty() {
            format!("No job matches {:?}.", app.search)
        } else {
            match app.status_filter() {
                Some(s) => format!("No {s} jobs."),
                None => "No jobs yet. Press n to submit one, or run `agenticore submit TASK`."
                    .to_string(),
            }
        };
        frame.render_widget(
            Paragraph::new(text)
                .style(Style::new().fg(Color::DarkGray))
                .wrap(Wrap { trim: true }),
            area,
        );
        return;
    }

    let wide = area.width >= NARROW;
    let header: Vec<&str> = if wide {
        vec![
            "STATUS", "ID", "PROFILE", "REPO", "TASK", "AGE", "TIME", "TURNS", "COST", "PR",
        ]
    } else {
        vec!["STATUS", "ID", "TASK", "AGE", "TIME"]
    };
    let widths: Vec<Constraint> = if wide {
        vec![
            Constraint::Length(11),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(18),
            Constraint::Fill(1),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(5),
            Constraint::Length(8),
            Constraint::Length(2),
        ]
    } else {
        vec![
            Constraint::Length(11),
            Constraint::Length(8),
            Constraint::Fill(1),
            Constraint::Length(6),
            Constraint::Length(6),
        ]
    };
    let end = (app.offset + rows_room).min(app.jobs.len());
    let rows = app.jobs[app.offset..end].iter().enumerate().map(|(i, j)| {
        let row = job_row(j, app.now, wide);
        if app.offset + i == app.selected {
            row.style(Style::new().add_modifier(Modifier::REVERSED))
        } else {
            row
        }
    });
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(Style::new().add_modifier(Modifier::BOLD)))
        .column_spacing(1);
    frame.render_widget(table, area);
}

fn job_row(j: &JobView, now: DateTime<Utc>, wide: bool) -> Row<'static> {
    let status = Cell::from(format!("{} {}", status_symbol(j.status), j.status))
        .style(status_style(j.status));
    let id = Cell::from(short_id(&j.id));
    let task = Cell::from(one_line(&j.task, 200));
    let age = Cell::from(age(j, now));
    let time = Cell::from(elapsed(j, now));
    if !wide {
        return Row::new(vec![status, id, task, age, time]);
    }
    Row::new(vec![
        status,
        id,
        Cell::from(j.profile.clone()),
        Cell::from(repo_short(&j.repo_url)),
        task,
        age,
        time,
        Cell::from(
            j.num_turns
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into()),
        ),
        Cell::from(
            j.cost_usd
                .map(|c| format!("${c:.2}"))
                .unwrap_or_else(|| "-".into()),
        ),
        Cell::from(if j.pr_url.is_some() { "PR" } else { "" }),
    ])
}

/// `3s`, `2m05s`, `1h02m`, `3d04h`.
pub fn duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

pub fn age(j: &JobView, now: DateTime<Utc>) -> String {
    j.created()
        .map(|c| duration((now - c).num_seconds()))
        .unwrap_or_else(|| "-".into())
}

pub fn elapsed(j: &JobView, now: DateTime<Utc>) -> String {
    match (j.started(), j.ended()) {
        (Some(s), Some(e)) => duration((e - s).num_seconds()),
        (Some(s), None) => duration((now - s).num_seconds()),
        _ => "-".into(),
    }
}

/// `you/repo` of `https://github.com/you/repo.git` or `git@github.com:you/repo`.
pub fn repo_short(url: &str) -> String {
    let u = url.trim_end_matches('/').trim_end_matches(".git");
    let parts: Vec<&str> = u.split(['/', ':']).filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        [] => "-".into(),
        [one] => (*one).to_string(),
        [.., a, b] => format!("{a}/{b}"),
    }
}

fn draw_detail_view(frame: &mut Frame, area: Rect, app: &mut App) {
    let Some(job) = app.detail.clone() else {
        frame.render_widget(Paragraph::new("No job selected."), area);
        return;
    };
    let lines = detail_lines(&job, app.now);
    let height = u16::try_from(lines.len() + 2)
        .unwrap_or(u16::MAX)
        .min(area.height.saturating_sub(5).max(area.height / 2));
    let [top, bottom] =
        Layout::vertical([Constraint::Length(height), Constraint::Min(3)]).areas(area);
    let title = Line::from(vec![
        Span::raw(" job "),
        Span::styled(job.id.clone(), Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(" "),
    ]);
    frame.render_widget(
        Paragraph::new(lines)
            .block(Block::bordered().title(title))
            .wrap(Wrap { trim: false }),
        top,
    );
    draw_log(frame, bottom, app);
}

fn detail_lines(job: &JobView, now: DateTime<Utc>) -> Vec<Line<'static>> {
    let key = Style::new().fg(Color::DarkGray);
    let mut out: Vec<Line<'static>> = Vec::new();
    let mut kv = |k: &str, v: String, style: Style| {
        if !v.is_empty() {
            out.push(Line::from(vec![
                Span::styled(format!("{k:<11}"), key),
                Span::styled(v, style),
            ]));
        }
    };
    let plain = Style::new();
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    kv(
        "status",
        format!("{} {}", status_symbol(job.status), job.status),
        status_style(job.status),
    );
    kv("task", one_line(&job.task, 300), plain);
    kv("repo", job.repo_url.clone(), plain);
    kv("base", job.base_ref.clone(), plain);
    kv("profile", job.profile.clone(), plain);
    let ts = |t: Option<DateTime<Utc>>| {
        t.map(|t| {
            format!(
                "{} ({} ago)",
                t.format("%Y-%m-%d %H:%M:%S UTC"),
                duration((now - t).num_seconds())
            )
        })
        .unwrap_or_default()
    };
    kv("created", ts(job.created()), plain);
    kv("started", ts(job.started()), plain);
    kv("ended", ts(job.ended()), plain);
    kv("duration", elapsed(job, now), plain);
    kv("session", opt(&job.session_id), plain);
    kv("worktree", job.worktree_path.clone(), plain);
    kv("branch", opt(&job.branch), plain);
    kv("pr", opt(&job.pr_url), Style::new().fg(Color::Blue));
    kv(
        "exit code",
        job.exit_code.map(|c| c.to_string()).unwrap_or_default(),
        plain,
    );
    kv(
        "turns",
        job.num_turns.map(|n| n.to_string()).unwrap_or_default(),
        plain,
    );
    kv(
        "cost",
        job.cost_usd.map(|c| format!("${c:.4}")).unwrap_or_default(),
        plain,
    );
    if let Some(t) = &job.tokens {
        kv(
            "tokens",
            format!(
                "{} in · {} out · {} cache read · {} cache write",
                t.input, t.output, t.cache_read, t.cache_creation
            ),
            plain,
        );
    }
    let label = if job.status == Status::Cancelled {
        "reason"
    } else {
        "error"
    };
    kv(label, opt(&job.error), Style::new().fg(Color::Red));
    kv("pr error", opt(&job.pr_error), Style::new().fg(Color::Red));
    out
}

fn draw_log_view(frame: &mut Frame, area: Rect, app: &mut App) {
    draw_log(frame, area, app);
}

fn draw_log(frame: &mut Frame, area: Rect, app: &App) {
    let log = &app.log;
    let who = app
        .detail
        .as_ref()
        .map(|j| {
            format!(
                "{} {} · {}",
                short_id(&j.id),
                j.status,
                one_line(&j.task, 40)
            )
        })
        .unwrap_or_default();
    let state = if log.ended {
        "end of log".to_string()
    } else if log.scroll == 0 {
        "following".to_string()
    } else {
        format!("{} entries below · f to follow", log.scroll)
    };
    let block = Block::bordered().title(format!(" log {who} ({state}) "));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = usize::from(inner.height);
    let width = usize::from(inner.width);
    if height == 0 || width <= PREFIX_WIDTH {
        return;
    }
    if log.entries.is_empty() {
        let text = if log.ended {
            "(empty log)"
        } else {
            "(no log yet: waiting for the job to start)"
        };
        frame.render_widget(
            Paragraph::new(text).style(Style::new().fg(Color::DarkGray)),
            inner,
        );
        return;
    }
    // Build from the bottom up: only what fits is wrapped.
    let mut lines: Vec<Line<'static>> = Vec::with_capacity(height);
    let end = log.entries.len().saturating_sub(log.scroll);
    for e in log.entries.range(..end).rev() {
        let mut chunk = entry_lines(e, width);
        while let Some(l) = chunk.pop() {
            lines.push(l);
            if lines.len() == height {
                break;
            }
        }
        if lines.len() == height {
            break;
        }
    }
    lines.reverse();
    frame.render_widget(Paragraph::new(lines), inner);
}

const PREFIX_WIDTH: usize = 8;

fn entry_style(kind: LogKind) -> (&'static str, Style) {
    match kind {
        LogKind::Claude => ("claude", Style::new().fg(Color::White)),
        LogKind::Tool => ("tool", Style::new().fg(Color::Cyan)),
        LogKind::ToolResult => ("result", Style::new().fg(Color::DarkGray)),
        LogKind::ToolError => ("error", Style::new().fg(Color::Red)),
        LogKind::Stderr => ("stderr", Style::new().fg(Color::Red)),
        LogKind::Agenticore => ("agentic", Style::new().fg(Color::Magenta)),
        LogKind::Session => ("session", Style::new().fg(Color::Blue)),
        LogKind::Result => ("result", Style::new().fg(Color::Green)),
        LogKind::ResultError => (
            "result",
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ),
        LogKind::Raw => ("", Style::new()),
    }
}

/// An entry as screen lines of at most `width` columns: a coloured prefix, then its text
/// wrapped under itself.
fn entry_lines(e: &LogEntry, width: usize) -> Vec<Line<'static>> {
    let (prefix, style) = entry_style(e.kind);
    let text_width = width - PREFIX_WIDTH;
    let text_style = if e.kind.is_error() {
        Style::new().fg(Color::Red)
    } else if e.kind == LogKind::ToolResult {
        Style::new().fg(Color::Gray)
    } else {
        Style::new()
    };
    let mut out = Vec::new();
    let mut first = true;
    for raw in e.brief().lines() {
        for piece in wrap(raw, text_width) {
            let p = if first {
                format!("{prefix:<7} ")
            } else {
                " ".repeat(PREFIX_WIDTH)
            };
            first = false;
            out.push(Line::from(vec![
                Span::styled(p, style),
                Span::styled(piece, text_style),
            ]));
        }
    }
    if out.is_empty() {
        out.push(Line::from(Span::styled(format!("{prefix:<7} "), style)));
    }
    out
}

/// Cut `s` into pieces of at most `width` characters (tabs become spaces).
fn wrap(s: &str, width: usize) -> Vec<String> {
    let s = s.replace('\t', "    ");
    let chars: Vec<char> = s.chars().filter(|c| !c.is_control()).collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    chars
        .chunks(width.max(1))
        .map(|c| c.iter().collect())
        .collect()
}

fn draw_notice(frame: &mut Frame, area: Rect, app: &App) {
    let line = match &app.notice {
        Some(n) if n.error => Line::from(Span::styled(
            format!(" ✗ {}", n.text),
            Style::new().fg(Color::Red),
        )),
        Some(n) => Line::from(Span::styled(
            format!(" {}", n.text),
            Style::new().fg(Color::Green),
        )),
        None => {
            let mut s = match app.view {
                View::List => {
                    let more = if app.cursor.is_some() { "+" } else { "" };
                    let mut s = format!(" {}{more} jobs", app.jobs.len());
                    if !app.search.is_empty() {
                        s.push_str(&format!(" matching (searched {})", app.scanned));
                    }
                    if !app.jobs.is_empty() {
                        s.push_str(&format!(" · row {}", app.selected + 1));
                    }
                    s
                }
                View::Detail | View::Log => format!(" {} log entries", app.log.entries.len()),
            };
            if app.loading {
                s.push_str(" · loading…");
            }
            Line::from(Span::styled(s, Style::new().fg(Color::DarkGray)))
        }
    };
    frame.render_widget(line, area);
}

fn draw_help_bar(frame: &mut Frame, area: Rect, app: &App) {
    let keys: &[(&str, &str)] = if app.search_input.is_some() {
        &[("⏎", "keep"), ("esc", "clear"), ("type", "to search")]
    } else {
        match app.view {
            View::List => &[
                ("↑↓", "move"),
                ("⏎", "detail"),
                ("l", "log"),
                ("c", "cancel"),
                ("n", "new"),
                ("r", "retry"),
                ("/", "search"),
                ("⇥", "filter"),
                ("?", "help"),
                ("q", "quit"),
            ],
            View::Detail | View::Log => &[
                ("↑↓", "scroll"),
                ("f", "follow"),
                ("l", "log"),
                ("c", "cancel"),
                ("r", "retry"),
                ("o", "open PR"),
                ("y", "copy id"),
                ("?", "help"),
                ("q", "back"),
            ],
        }
    };
    let mut spans = vec![Span::raw(" ")];
    for (k, what) in keys {
        spans.push(Span::styled(
            (*k).to_string(),
            Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::raw(format!(" {what}  ")));
    }
    frame.render_widget(Line::from(spans), area);
}

/// A `width` x `height` rectangle in the middle of `area` (clamped to it).
fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

pub const HELP: &[(&str, &str)] = &[
    ("↑ ↓  j k", "move (list) · scroll the log (detail, log)"),
    ("PgUp PgDn", "a page up or down"),
    ("Home End  g G", "first / last (the log: top / tail)"),
    ("wheel", "scroll"),
    ("Enter", "the selected job's detail and live log"),
    ("l  f", "the log, full screen; f follows the tail again"),
    (
        "Tab ← →  1-6",
        "status filter: all queued running succeeded failed cancelled",
    ),
    ("/", "search task, repo and id (Esc clears)"),
    ("c", "cancel the job (asks first)"),
    ("n", "new job"),
    ("r", "retry a finished job (a new job with the same spec)"),
    ("o", "open the pull request in the browser"),
    ("y", "copy the job id (OSC 52)"),
    ("R  F5", "read everything again"),
    ("q  Esc", "back, or quit from the list"),
    ("Ctrl-C", "quit"),
];

fn draw_help(frame: &mut Frame) {
    let area = centered(
        frame.area(),
        84,
        u16::try_from(HELP.len() + 4).unwrap_or(20),
    );
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(k, v)| {
            Line::from(vec![
                Span::styled(
                    format!(" {k:<15}"),
                    Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
                ),
                Span::raw(*v),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        " any key closes this help",
        Style::new().fg(Color::DarkGray),
    )));
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" keys ")),
        area,
    );
}

fn draw_confirm(frame: &mut Frame, id: &str, task: &str) {
    let area = centered(frame.area(), 60, 6);
    let lines = vec![
        Line::from(format!(" Cancel job {}?", short_id(id))),
        Line::from(Span::styled(
            format!(" {task}"),
            Style::new().fg(Color::DarkGray),
        )),
        Line::from(""),
        Line::from(vec![
            Span::styled(
                " y",
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            ),
            Span::raw(" cancel it (its processes are killed)   "),
            Span::styled("n", Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(" keep it"),
        ]),
    ];
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines)
            .block(
                Block::bordered()
                    .title(" cancel ")
                    .border_style(Style::new().fg(Color::Red)),
            )
            .wrap(Wrap { trim: false }),
        area,
    );
}

fn draw_form(frame: &mut Frame, form: &Form) {
    let area = centered(frame.area(), 72, 12);
    let focus = Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD);
    let label = |f: Field, name: &str| {
        let style = if form.focus == f {
            focus
        } else {
            Style::new().fg(Color::DarkGray)
        };
        Span::styled(format!(" {name:<9}"), style)
    };
    let value = |f: Field, v: &str| {
        let mut s = v.to_string();
        if form.focus == f {
            s.push('▏');
        }
        Span::raw(s)
    };
    let profile = match form.profile_name() {
        Some(p) => {
            let desc = form
                .profile
                .and_then(|i| form.profiles.get(i))
                .map(|p| one_line(&p.1, 40))
                .unwrap_or_default();
            format!("‹ {p} › {desc}")
        }
        None => "‹ default ›".to_string(),
    };
    let mut lines = vec![
        Line::from(vec![
            label(Field::Task, "task"),
            value(Field::Task, &form.task),
        ]),
        Line::from(vec![
            label(Field::Repo, "repo"),
            value(Field::Repo, &form.repo),
        ]),
        Line::from(vec![
            label(Field::Base, "base ref"),
            value(Field::Base, &form.base),
        ]),
        Line::from(vec![label(Field::Profile, "profile"), Span::raw(profile)]),
        Line::from(""),
    ];
    match &form.error {
        Some(e) => lines.push(Line::from(Span::styled(
            format!(" ✗ {e}"),
            Style::new().fg(Color::Red),
        ))),
        None => lines.push(Line::from("")),
    }
    lines.push(Line::from(Span::styled(
        " ⏎ submit · ⇥ next field · ←→ profile · esc cancel",
        Style::new().fg(Color::DarkGray),
    )));
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines)
            .block(Block::bordered().title(" new job "))
            .wrap(Wrap { trim: false }),
        area,
    );
}
