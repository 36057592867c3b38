//! The dashboard's state and its pure key handling: a key (or a backend answer) changes the
//! state and returns the `Action`s the event loop must carry out. Nothing here touches the
//! terminal or the backend, so every behaviour is testable with plain values.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind};

use crate::api::{Health, JobView, SubmitBody};
use crate::job::Status;
use crate::logtext::{LogEntry, entries};

use super::form::{Form, FormOutcome};

/// Jobs asked for per page.
pub const PAGE: usize = 100;
/// At most this many jobs are re-read when the store changes (the rest load again on scroll).
pub const MAX_RELOAD: usize = 1000;
/// Log entries kept for the job on screen (the oldest are dropped).
pub const LOG_CAP: usize = 10_000;
/// Rows moved by PgUp/PgDn when the view height is not known yet.
const DEFAULT_PAGE_ROWS: usize = 10;

/// The status tabs, in order.
pub const FILTERS: [Option<Status>; 6] = [
    None,
    Some(Status::Queued),
    Some(Status::Running),
    Some(Status::Succeeded),
    Some(Status::Failed),
    Some(Status::Cancelled),
];

/// What the event loop must do for the state.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Read the list again from its start (the current filter and search): `want` jobs.
    Reload {
        generation: u64,
        want: usize,
    },
    /// Read the next page after `cursor`.
    LoadMore {
        generation: u64,
        cursor: String,
    },
    /// Read one job again (its detail), and the header's health.
    Refresh {
        id: Option<String>,
    },
    /// Follow this job's log (the previous follow stops).
    Follow {
        id: String,
        generation: u64,
    },
    /// Stop following any log.
    StopFollow,
    Cancel {
        id: String,
    },
    /// Queue a job; `from_form` says whether an error belongs in the form.
    Submit {
        body: SubmitBody,
        from_form: bool,
    },
    LoadProfiles,
    OpenUrl(String),
    Copy(String),
    Quit,
}

/// The main views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    List,
    Detail,
    Log,
}

/// What is shown on top of a view.
#[derive(Debug, Clone, PartialEq)]
pub enum Popup {
    Help,
    ConfirmCancel { id: String, task: String },
    NewJob(Form),
}

/// A line in the status bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
}

/// The selected job's log, as readable entries.
#[derive(Debug, Default, Clone)]
pub struct LogState {
    pub id: Option<String>,
    pub generation: u64,
    pub entries: VecDeque<LogEntry>,
    /// Entries hidden below the view (0: the tail is shown and followed).
    pub scroll: usize,
    /// The job is over and its log read to the end.
    pub ended: bool,
    /// Entries dropped from the front (beyond `LOG_CAP`).
    pub dropped: usize,
}

impl LogState {
    pub fn following(&self) -> bool {
        self.scroll == 0 && !self.ended
    }

    fn push_line(&mut self, line: &str) {
        for e in entries(line.trim_end()) {
            if self.entries.len() == LOG_CAP {
                self.entries.pop_front();
                self.dropped += 1;
            }
            self.entries.push_back(e);
            if self.scroll > 0 {
                // Keep the same lines in view while the user reads back.
                self.scroll = (self.scroll + 1).min(self.entries.len().saturating_sub(1));
            }
        }
    }
}

/// The header's facts.
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderInfo {
    /// "local store PATH" or "daemon URL".
    pub backend: String,
    pub health: Option<Health>,
}

/// The dashboard's whole state.
#[derive(Debug, Clone)]
pub struct App {
    /// The clock the ages and durations are computed from (injected: tests fix it).
    pub now: DateTime<Utc>,
    pub header: HeaderInfo,
    /// Index into `FILTERS`.
    pub filter: usize,
    /// The applied search (lower case match on task, repo and id).
    pub search: String,
    /// The search being typed after `/`.
    pub search_input: Option<String>,
    /// The loaded part of the list, newest first.
    pub jobs: Vec<JobView>,
    /// Where the next page starts; `None` when everything is loaded.
    pub cursor: Option<String>,
    /// With a search: how many stored jobs the last read looked at.
    pub scanned: usize,
    pub loading: bool,
    pub list_generation: u64,
    pub selected: usize,
    /// First row shown (kept by the drawing code so the selection stays visible).
    pub offset: usize,
    /// Rows of the list the last frame showed (for PgUp/PgDn).
    pub page_rows: usize,
    pub view: View,
    pub popup: Option<Popup>,
    /// The open job, fresh from the backend.
    pub detail: Option<JobView>,
    pub log: LogState,
    pub notice: Option<Notice>,
    /// Profile names and descriptions, for the new-job form.
    pub profiles: Vec<(String, String)>,
    /// The store's change number last seen.
    pub last_change: Option<u64>,
    /// Something changed: draw again.
    pub dirty: bool,
    pub quit: bool,
}

impl App {
    pub fn new(backend: String, now: DateTime<Utc>) -> App {
        App {
            now,
            header: HeaderInfo {
                backend,
                health: None,
            },
            filter: 0,
            search: String::new(),
            search_input: None,
            jobs: Vec::new(),
            cursor: None,
            scanned: 0,
            loading: true,
            list_generation: 0,
            selected: 0,
            offset: 0,
            page_rows: DEFAULT_PAGE_ROWS,
            view: View::List,
            popup: None,
            detail: None,
            log: LogState::default(),
            notice: None,
            profiles: Vec::new(),
            last_change: None,
            dirty: true,
            quit: false,
        }
    }

    /// The first actions: read the list and the header.
    pub fn start(&mut self) -> Vec<Action> {
        vec![self.reload(PAGE), Action::Refresh { id: None }]
    }

    pub fn status_filter(&self) -> Option<Status> {
        FILTERS.get(self.filter).copied().flatten()
    }

    pub fn selected_job(&self) -> Option<&JobView> {
        self.jobs.get(self.selected)
    }

    /// The job the keys act on: the open one in the detail and log views, else the selection.
    pub fn current_job(&self) -> Option<&JobView> {
        match self.view {
            View::List => self.selected_job(),
            View::Detail | View::Log => self.detail.as_ref().or_else(|| self.selected_job()),
        }
    }

    pub fn set_notice(&mut self, text: impl Into<String>, error: bool) {
        self.notice = Some(Notice {
            text: text.into(),
            error,
        });
        self.dirty = true;
    }

    fn reload(&mut self, want: usize) -> Action {
        self.list_generation += 1;
        self.loading = true;
        self.dirty = true;
        Action::Reload {
            generation: self.list_generation,
            want,
        }
    }

    /// The list from its start after a filter or search change.
    fn restart_list(&mut self) -> Action {
        self.selected = 0;
        self.offset = 0;
        self.reload(PAGE)
    }

    // ---- answers from the backend ----

    /// A page arrived (`append`: after the loaded jobs; else it replaces them).
    pub fn on_page(
        &mut self,
        generation: u64,
        append: bool,
        result: Result<(Vec<JobView>, Option<String>, usize), String>,
    ) {
        if generation != self.list_generation {
            return; // an answer for an old filter or search
        }
        self.loading = false;
        self.dirty = true;
        let (jobs, cursor, scanned) = match result {
            Ok(p) => p,
            Err(e) => {
                self.set_notice(format!("cannot list jobs: {e}"), true);
                return;
            }
        };
        if self.notice.as_ref().is_some_and(|n| n.error) && !append {
            self.notice = None; // the error that was shown is over
        }
        self.cursor = cursor;
        self.scanned = if append {
            self.scanned + scanned
        } else {
            scanned
        };
        if append {
            self.jobs.extend(jobs);
        } else {
            let keep = self.selected_job().map(|j| j.id.clone());
            self.jobs = jobs;
            if let Some(id) = keep
                && let Some(i) = self.jobs.iter().position(|j| j.id == id)
            {
                self.selected = i;
            }
        }
        self.selected = self.selected.min(self.jobs.len().saturating_sub(1));
    }

    pub fn on_health(&mut self, result: Result<Health, String>) {
        match result {
            Ok(h) => {
                if self.header.health.as_ref() != Some(&h) {
                    self.header.health = Some(h);
                    self.dirty = true;
                }
            }
            Err(e) => {
                self.header.health = None;
                self.set_notice(e, true);
            }
        }
    }

    /// The change number was read: on news, re-read what is on screen.
    pub fn on_changes(&mut self, result: Result<u64, String>) -> Vec<Action> {
        let v = match result {
            Ok(v) => v,
            Err(e) => {
                self.set_notice(e, true);
                return Vec::new();
            }
        };
        if self.last_change == Some(v) {
            return Vec::new();
        }
        let first = self.last_change.is_none();
        self.last_change = Some(v);
        if first {
            return Vec::new(); // the first reads are already under way
        }
        self.refresh_actions()
    }

    /// Re-read the list (as much as is loaded), the header and the open job.
    pub fn refresh_actions(&mut self) -> Vec<Action> {
        let want = self.jobs.len().clamp(PAGE, MAX_RELOAD);
        let id = match self.view {
            View::List => None,
            View::Detail | View::Log => self.log.id.clone(),
        };
        vec![self.reload(want), Action::Refresh { id }]
    }

    pub fn on_job(&mut self, result: Result<JobView, String>) {
        match result {
            Ok(job) => {
                if let Some(row) = self.jobs.iter_mut().find(|j| j.id == job.id) {
                    *row = job.clone();
                }
                if self.log.id.as_deref() == Some(job.id.as_str()) {
                    self.detail = Some(job);
                }
                self.dirty = true;
            }
            Err(e) => self.set_notice(e, true),
        }
    }

    pub fn on_log_line(&mut self, generation: u64, line: &str) {
        if generation == self.log.generation {
            self.log.push_line(line);
            self.dirty = true;
        }
    }

    pub fn on_log_end(&mut self, generation: u64, error: Option<String>) {
        if generation != self.log.generation {
            return;
        }
        self.log.ended = true;
        self.dirty = true;
        if let Some(e) = error {
            self.set_notice(format!("log: {e}"), true);
        }
    }

    pub fn on_cancelled(&mut self, result: Result<String, String>) -> Vec<Action> {
        match result {
            Ok(text) => self.set_notice(text, false),
            Err(e) => self.set_notice(format!("cancel failed: {e}"), true),
        }
        self.refresh_actions()
    }

    pub fn on_submitted(
        &mut self,
        from_form: bool,
        result: Result<JobView, String>,
    ) -> Vec<Action> {
        match result {
            Ok(job) => {
                if from_form {
                    self.popup = None;
                }
                self.set_notice(
                    format!("queued job {} (profile {})", short_id(&job.id), job.profile),
                    false,
                );
                // Show it: the newest job is first in "all" and "queued".
                if matches!(self.status_filter(), None | Some(Status::Queued))
                    && self.search.is_empty()
                {
                    self.jobs.insert(0, job);
                    self.selected = 0;
                }
                self.refresh_actions()
            }
            Err(e) => {
                if let (true, Some(Popup::NewJob(form))) = (from_form, self.popup.as_mut()) {
                    form.error = Some(e);
                    self.dirty = true;
                } else {
                    self.set_notice(format!("retry failed: {e}"), true);
                }
                Vec::new()
            }
        }
    }

    pub fn on_profiles(&mut self, result: Result<Vec<(String, String)>, String>) {
        match result {
            Ok(p) => {
                self.profiles = p;
                if let Some(Popup::NewJob(form)) = self.popup.as_mut() {
                    form.set_profiles(&self.profiles);
                }
                self.dirty = true;
            }
            Err(e) => self.set_notice(format!("cannot list profiles: {e}"), true),
        }
    }

    /// Once a second: the ages on screen move on.
    pub fn on_tick(&mut self, now: DateTime<Utc>) {
        self.now = now;
        if !self.jobs.is_empty() || self.detail.is_some() {
            self.dirty = true;
        }
    }

    // ---- input ----

    pub fn on_mouse(&mut self, kind: MouseEventKind) -> Vec<Action> {
        if self.popup.is_some() {
            return Vec::new();
        }
        match kind {
            MouseEventKind::ScrollDown => self.move_by(3),
            MouseEventKind::ScrollUp => self.move_by(-3),
            _ => Vec::new(),
        }
    }

    pub fn on_paste(&mut self, text: &str) {
        if let Some(s) = self.search_input.as_mut() {
            s.push_str(text.lines().next().unwrap_or(""));
            self.dirty = true;
        } else if let Some(Popup::NewJob(form)) = self.popup.as_mut() {
            form.paste(text);
            self.dirty = true;
        }
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Vec<Action> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        self.dirty = true;
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.quit = true;
            return vec![Action::Quit];
        }
        if self.search_input.is_some() {
            return self.search_key(key);
        }
        if let Some(popup) = self.popup.take() {
            return self.popup_key(popup, key);
        }
        match key.code {
            KeyCode::Char('q') => self.back_or_quit(false),
            KeyCode::Esc => self.back_or_quit(true),
            KeyCode::Char('?') | KeyCode::F(1) => {
                self.popup = Some(Popup::Help);
                Vec::new()
            }
            KeyCode::Down | KeyCode::Char('j') => self.move_by(1),
            KeyCode::Up | KeyCode::Char('k') => self.move_by(-1),
            KeyCode::PageDown => self.move_by(self.page_step()),
            KeyCode::PageUp => self.move_by(-self.page_step()),
            KeyCode::Home | KeyCode::Char('g') => self.move_to_start(),
            KeyCode::End | KeyCode::Char('G') => self.move_to_end(),
            KeyCode::Enter => self.open(View::Detail),
            KeyCode::Char('l') => self.open(View::Log),
            KeyCode::Char('f') => {
                if self.view == View::Log {
                    self.log.scroll = 0;
                    Vec::new()
                } else {
                    self.open(View::Log)
                }
            }
            KeyCode::Tab | KeyCode::Right if self.view == View::List => {
                self.set_filter((self.filter + 1) % FILTERS.len())
            }
            KeyCode::BackTab | KeyCode::Left if self.view == View::List => {
                self.set_filter((self.filter + FILTERS.len() - 1) % FILTERS.len())
            }
            KeyCode::Char(c @ '1'..='6') if self.view == View::List => {
                self.set_filter(usize::from(c as u8 - b'1'))
            }
            KeyCode::Char('/') if self.view == View::List => {
                self.search_input = Some(self.search.clone());
                Vec::new()
            }
            KeyCode::Char('c') => self.ask_cancel(),
            KeyCode::Char('n') => {
                self.popup = Some(Popup::NewJob(Form::new(&self.profiles)));
                vec![Action::LoadProfiles]
            }
            KeyCode::Char('r') => self.retry(),
            KeyCode::Char('R') | KeyCode::F(5) => self.refresh_actions(),
            KeyCode::Char('o') => match self.current_job().and_then(|j| j.pr_url.clone()) {
                Some(url) => vec![Action::OpenUrl(url)],
                None => {
                    self.set_notice("this job has no pull request", true);
                    Vec::new()
                }
            },
            KeyCode::Char('y') => match self.current_job().map(|j| j.id.clone()) {
                Some(id) => vec![Action::Copy(id)],
                None => Vec::new(),
            },
            _ => {
                self.dirty = false;
                Vec::new()
            }
        }
    }

    fn page_step(&self) -> isize {
        isize::try_from(self.page_rows.max(1)).unwrap_or(10)
    }

    fn back_or_quit(&mut self, esc: bool) -> Vec<Action> {
        match self.view {
            View::Detail | View::Log => {
                self.view = View::List;
                self.detail = None;
                self.log = LogState {
                    generation: self.log.generation,
                    ..LogState::default()
                };
                vec![Action::StopFollow]
            }
            View::List if esc && !self.search.is_empty() => {
                self.search.clear();
                vec![self.restart_list()]
            }
            View::List => {
                self.quit = true;
                vec![Action::Quit]
            }
        }
    }

    fn set_filter(&mut self, filter: usize) -> Vec<Action> {
        if filter == self.filter {
            return Vec::new();
        }
        self.filter = filter;
        vec![self.restart_list()]
    }

    fn search_key(&mut self, key: KeyEvent) -> Vec<Action> {
        let Some(input) = self.search_input.as_mut() else {
            return Vec::new();
        };
        match key.code {
            KeyCode::Enter => {
                self.search_input = None;
                Vec::new()
            }
            KeyCode::Esc => {
                self.search_input = None;
                if self.search.is_empty() {
                    return Vec::new();
                }
                self.search.clear();
                vec![self.restart_list()]
            }
            KeyCode::Backspace => {
                input.pop();
                self.search = input.trim().to_lowercase();
                vec![self.restart_list()]
            }
            KeyCode::Char(c) => {
                input.push(c);
                self.search = input.trim().to_lowercase();
                vec![self.restart_list()]
            }
            _ => Vec::new(),
        }
    }

    fn popup_key(&mut self, popup: Popup, key: KeyEvent) -> Vec<Action> {
        match popup {
            Popup::Help => Vec::new(), // any key closes it
            Popup::ConfirmCancel { id, task } => match key.code {
                KeyCode::Char('y' | 'Y') => {
                    self.set_notice(format!("cancelling job {}…", short_id(&id)), false);
                    vec![Action::Cancel { id }]
                }
                KeyCode::Char('n' | 'N' | 'q') | KeyCode::Esc => Vec::new(),
                _ => {
                    self.popup = Some(Popup::ConfirmCancel { id, task });
                    Vec::new()
                }
            },
            Popup::NewJob(mut form) => match form.on_key(key) {
                FormOutcome::Close => Vec::new(),
                FormOutcome::Stay => {
                    self.popup = Some(Popup::NewJob(form));
                    Vec::new()
                }
                FormOutcome::Submit(body) => {
                    self.popup = Some(Popup::NewJob(form));
                    vec![Action::Submit {
                        body,
                        from_form: true,
                    }]
                }
            },
        }
    }

    fn move_by(&mut self, delta: isize) -> Vec<Action> {
        match self.view {
            View::List => {
                if self.jobs.is_empty() {
                    return Vec::new();
                }
                let last = self.jobs.len() - 1;
                self.selected = self.selected.saturating_add_signed(delta).min(last);
                self.maybe_load_more()
            }
            View::Detail | View::Log => {
                // Up reads back (away from the tail), down comes back to it.
                let max = self.log.entries.len().saturating_sub(1);
                self.log.scroll = self.log.scroll.saturating_add_signed(-delta).min(max);
                Vec::new()
            }
        }
    }

    fn move_to_start(&mut self) -> Vec<Action> {
        match self.view {
            View::List => self.selected = 0,
            View::Detail | View::Log => {
                self.log.scroll = self.log.entries.len().saturating_sub(1);
            }
        }
        Vec::new()
    }

    fn move_to_end(&mut self) -> Vec<Action> {
        match self.view {
            View::List => {
                self.selected = self.jobs.len().saturating_sub(1);
                self.maybe_load_more()
            }
            View::Detail | View::Log => {
                self.log.scroll = 0;
                Vec::new()
            }
        }
    }

    /// Near the end of what is loaded: ask for the next page.
    fn maybe_load_more(&mut self) -> Vec<Action> {
        if self.loading || self.selected + self.page_rows.max(10) < self.jobs.len() {
            return Vec::new();
        }
        match self.cursor.clone() {
            Some(cursor) => {
                self.loading = true;
                vec![Action::LoadMore {
                    generation: self.list_generation,
                    cursor,
                }]
            }
            None => Vec::new(),
        }
    }

    fn open(&mut self, view: View) -> Vec<Action> {
        let Some(job) = self.current_job().cloned() else {
            return Vec::new();
        };
        self.view = view;
        if self.log.id.as_deref() == Some(job.id.as_str()) {
            return Vec::new(); // already following it
        }
        self.log = LogState {
            id: Some(job.id.clone()),
            generation: self.log.generation + 1,
            ..LogState::default()
        };
        let id = job.id.clone();
        self.detail = Some(job);
        vec![
            Action::Follow {
                id: id.clone(),
                generation: self.log.generation,
            },
            Action::Refresh { id: Some(id) },
        ]
    }

    fn ask_cancel(&mut self) -> Vec<Action> {
        let Some(job) = self.current_job() else {
            return Vec::new();
        };
        if job.status.is_terminal() {
            let text = format!("job {} is already {}", short_id(&job.id), job.status);
            self.set_notice(text, true);
            return Vec::new();
        }
        self.popup = Some(Popup::ConfirmCancel {
            id: job.id.clone(),
            task: crate::engine::events::one_line(&job.task, 60),
        });
        Vec::new()
    }

    fn retry(&mut self) -> Vec<Action> {
        let Some(job) = self.current_job() else {
            return Vec::new();
        };
        if !job.status.is_terminal() {
            let text = format!(
                "job {} is {}: only a finished job can be retried",
                short_id(&job.id),
                job.status
            );
            self.set_notice(text, true);
            return Vec::new();
        }
        let body = retry_body(job);
        vec![Action::Submit {
            body,
            from_form: false,
        }]
    }
}

/// A new job with the same spec as `job`.
pub fn retry_body(job: &JobView) -> SubmitBody {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    SubmitBody {
        task: job.task.clone(),
        repo_url: opt(&job.repo_url),
        profile: Some(job.profile.clone()),
        base_ref: opt(&job.base_ref),
        wait: false,
        session_id: None,
        timeout: None,
    }
}

/// The last 8 hex digits of a job id (what `JobId::short` gives).
pub fn short_id(id: &str) -> String {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    let n = hex.chars().count();
    hex.chars().skip(n.saturating_sub(8)).collect()
}

/// Whether a job matches the search (already lower case): task, repo or id.
pub fn matches(job: &JobView, query: &str) -> bool {
    query.is_empty()
        || job.id.to_lowercase().contains(query)
        || job.task.to_lowercase().contains(query)
        || job.repo_url.to_lowercase().contains(query)
}
