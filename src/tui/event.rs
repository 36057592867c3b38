//! The event loop: terminal input (read on its own thread), a one-second tick, stop signals,
//! and the backend's answers, all as messages on one channel. The app state handles each and
//! says what to do; reads run as tasks so a slow or dead backend never freezes the screen.
//! A frame is drawn only when the state changed, after the pending messages are taken in.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use ratatui::crossterm::event::{self, Event};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::api::{Health, JobView};
use crate::client::Backend;
use crate::job::JobId;
use crate::signals::StopSignals;

use super::app::{Action, App};
use super::data::{self, ListPage};
use super::term::{self, Term};

/// How often the change check runs (and the ages on screen move).
pub const TICK: Duration = Duration::from_secs(1);
/// A daemon whose `/health` has no change counter (an older one): its list is re-read this
/// often while jobs run, since its counts miss turn and cost updates.
const REMOTE_REFRESH_TICKS: u64 = 5;
/// Messages taken in before a frame is drawn (a long log arrives in one go).
const BATCH: usize = 2000;

/// What arrives on the loop's channel.
pub enum Msg {
    Input(Event),
    InputGone(String),
    Page {
        generation: u64,
        append: bool,
        result: Result<ListPage, String>,
    },
    Job(Result<JobView, String>),
    Health(Result<Health, String>),
    Changes(Result<u64, String>),
    LogLine(u64, String),
    LogEnd(u64, Option<String>),
    Cancelled(Result<String, String>),
    Submitted {
        from_form: bool,
        result: Result<JobView, String>,
    },
    Profiles(Result<Vec<(String, String)>, String>),
    Notice(String, bool),
}

struct Looper {
    backend: Arc<Backend>,
    tx: mpsc::UnboundedSender<Msg>,
    follow: Option<JoinHandle<()>>,
    changes_in_flight: Arc<AtomicBool>,
}

/// Run the dashboard on `terminal` until the user quits or a stop signal comes.
pub async fn run(terminal: &mut Term, backend: Backend, mut app: App) -> std::io::Result<()> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let stop_input = Arc::new(AtomicBool::new(false));
    let input = spawn_input(tx.clone(), Arc::clone(&stop_input));
    let mut looper = Looper {
        backend: Arc::new(backend),
        tx,
        follow: None,
        changes_in_flight: Arc::new(AtomicBool::new(false)),
    };
    // SIGTERM, SIGHUP, SIGQUIT and SIGINT end the dashboard cleanly (in raw mode Ctrl-C is a
    // key instead).
    let mut signals = StopSignals::new()?;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks: u64 = 0;
    for a in app.start() {
        looper.perform(&mut app, a);
    }
    let result = loop {
        if app.dirty {
            app.dirty = false;
            if let Err(e) = terminal.draw(|f| super::ui::draw(f, &mut app)) {
                break Err(e);
            }
        }
        if app.quit {
            break Ok(());
        }
        tokio::select! {
            msg = rx.recv() => {
                let Some(msg) = msg else { break Ok(()) };
                let mut actions = Vec::new();
                if let Err(e) = handle(&mut app, msg, &mut actions, terminal) {
                    break Err(e);
                }
                let mut n = 1;
                while n < BATCH {
                    let Ok(msg) = rx.try_recv() else { break };
                    if let Err(e) = handle(&mut app, msg, &mut actions, terminal) {
                        return finish(looper, stop_input, input, Err(e));
                    }
                    n += 1;
                }
                for a in actions {
                    looper.perform(&mut app, a);
                }
            }
            _ = tick.tick() => {
                ticks += 1;
                app.on_tick(Utc::now());
                looper.check_changes();
                let remote_busy = !looper.backend.is_local()
                    && app
                        .header
                        .health
                        .as_ref()
                        .is_some_and(|h| h.running > 0 && h.changes.is_none());
                if remote_busy && ticks.is_multiple_of(REMOTE_REFRESH_TICKS) {
                    for a in app.refresh_actions() {
                        looper.perform(&mut app, a);
                    }
                }
            }
            _ = signals.next() => {
                break Ok(());
            }
        }
    };
    finish(looper, stop_input, input, result)
}

fn finish(
    mut looper: Looper,
    stop_input: Arc<AtomicBool>,
    input: std::thread::JoinHandle<()>,
    result: std::io::Result<()>,
) -> std::io::Result<()> {
    if let Some(h) = looper.follow.take() {
        h.abort();
    }
    stop_input.store(true, Ordering::Relaxed);
    // The input thread wakes within its poll interval; do not wait for it longer than that.
    drop(input);
    result
}

/// Take one message into the state; collect the actions it asks for.
fn handle(
    app: &mut App,
    msg: Msg,
    actions: &mut Vec<Action>,
    terminal: &mut Term,
) -> std::io::Result<()> {
    match msg {
        Msg::Input(Event::Key(k)) => actions.extend(app.on_key(k)),
        Msg::Input(Event::Mouse(m)) => actions.extend(app.on_mouse(m.kind)),
        Msg::Input(Event::Paste(p)) => app.on_paste(&p),
        Msg::Input(Event::Resize(..)) => {
            terminal.autoresize()?;
            app.dirty = true;
        }
        Msg::Input(_) => {}
        Msg::InputGone(e) => {
            app.set_notice(format!("terminal input failed: {e}"), true);
            app.quit = true;
        }
        Msg::Page {
            generation,
            append,
            result,
        } => app.on_page(generation, append, result),
        Msg::Job(r) => app.on_job(r),
        Msg::Health(r) => app.on_health(r),
        Msg::Changes(r) => actions.extend(app.on_changes(r)),
        Msg::LogLine(g, line) => app.on_log_line(g, &line),
        Msg::LogEnd(g, e) => app.on_log_end(g, e),
        Msg::Cancelled(r) => actions.extend(app.on_cancelled(r)),
        Msg::Submitted { from_form, result } => actions.extend(app.on_submitted(from_form, result)),
        Msg::Profiles(r) => app.on_profiles(r),
        Msg::Notice(text, error) => app.set_notice(text, error),
    }
    Ok(())
}

impl Looper {
    fn spawn<F>(&self, f: impl FnOnce(Arc<Backend>) -> F + Send + 'static)
    where
        F: Future<Output = Msg> + Send + 'static,
    {
        let backend = Arc::clone(&self.backend);
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let _ = tx.send(f(backend).await);
        });
    }

    /// The change number, unless a check is still under way (a slow store must not pile up).
    fn check_changes(&self) {
        if self.changes_in_flight.swap(true, Ordering::AcqRel) {
            return;
        }
        let flag = Arc::clone(&self.changes_in_flight);
        self.spawn(move |b| async move {
            let r = b.changes().await.map_err(|e| e.to_string());
            flag.store(false, Ordering::Release);
            Msg::Changes(r)
        });
    }

    fn perform(&mut self, app: &mut App, action: Action) {
        match action {
            Action::Reload { generation, want } => {
                let status = app.status_filter();
                let query = app.search.clone();
                self.spawn(move |b| async move {
                    Msg::Page {
                        generation,
                        append: false,
                        result: data::list_page(&b, status, &query, None, want).await,
                    }
                });
            }
            Action::LoadMore { generation, cursor } => {
                let status = app.status_filter();
                let query = app.search.clone();
                self.spawn(move |b| async move {
                    Msg::Page {
                        generation,
                        append: true,
                        result: data::list_page(&b, status, &query, Some(cursor), super::app::PAGE)
                            .await,
                    }
                });
            }
            Action::Refresh { id } => {
                self.spawn(
                    |b| async move { Msg::Health(b.health().await.map_err(|e| e.to_string())) },
                );
                if let Some(id) = id {
                    self.spawn(move |b| async move {
                        Msg::Job(match id.parse::<JobId>() {
                            Ok(id) => b.get(id).await.map_err(|e| e.to_string()),
                            Err(e) => Err(e.to_string()),
                        })
                    });
                }
            }
            Action::Follow { id, generation } => {
                if let Some(h) = self.follow.take() {
                    h.abort();
                }
                let backend = Arc::clone(&self.backend);
                let tx = self.tx.clone();
                self.follow = Some(tokio::spawn(async move {
                    let err = follow(&backend, &id, generation, &tx).await.err();
                    let _ = tx.send(Msg::LogEnd(generation, err));
                }));
            }
            Action::StopFollow => {
                if let Some(h) = self.follow.take() {
                    h.abort();
                }
            }
            Action::Cancel { id } => self.spawn(move |b| async move {
                let r = match id.parse::<JobId>() {
                    Ok(jid) => b
                        .cancel(jid, true)
                        .await
                        .map(|(job, note)| {
                            format!(
                                "job {} {}: {}",
                                super::app::short_id(&job.id),
                                job.status,
                                note.text()
                            )
                        })
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                Msg::Cancelled(r)
            }),
            Action::Submit { body, from_form } => self.spawn(move |b| async move {
                Msg::Submitted {
                    from_form,
                    result: b.submit(body, false).await.map_err(|e| e.to_string()),
                }
            }),
            Action::LoadProfiles => {
                self.spawn(|b| async move { Msg::Profiles(data::profiles(&b).await) })
            }
            Action::OpenUrl(url) => open_url(url, self.tx.clone()),
            Action::Copy(id) => match term::copy_osc52(&id) {
                Ok(()) => app.set_notice(format!("copied {id} to the clipboard (OSC 52)"), false),
                Err(e) => app.set_notice(format!("cannot copy: {e}"), true),
            },
            Action::Quit => app.quit = true,
        }
    }
}

/// Send the job's log lines as they come, until the job ends.
async fn follow(
    backend: &Backend,
    id: &str,
    generation: u64,
    tx: &mpsc::UnboundedSender<Msg>,
) -> Result<(), String> {
    let id = id.parse::<JobId>().map_err(|e| e.to_string())?;
    let mut f = backend.follow_logs(id).await.map_err(|e| e.to_string())?;
    while let Some(line) = f.next().await {
        let line = line.map_err(|e| e.to_string())?;
        if tx.send(Msg::LogLine(generation, line)).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// Open `url` with the desktop's opener, without waiting for it; a failure is a notice.
fn open_url(url: String, tx: mpsc::UnboundedSender<Msg>) {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        let _ = tx.send(Msg::Notice(format!("not a web URL: {url}"), true));
        return;
    }
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let spawned = tokio::process::Command::new(opener)
        .arg(&url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn();
    match spawned {
        Ok(mut child) => {
            let _ = tx.send(Msg::Notice(format!("opening {url}"), false));
            tokio::spawn(async move {
                match child.wait().await {
                    Ok(s) if s.success() => {}
                    Ok(s) => {
                        let _ = tx.send(Msg::Notice(format!("{opener} {url} failed ({s})"), true));
                    }
                    Err(e) => {
                        let _ = tx.send(Msg::Notice(format!("{opener}: {e}"), true));
                    }
                }
            });
        }
        Err(e) => {
            let _ = tx.send(Msg::Notice(
                format!("cannot open the PR ({opener}: {e}); the URL is {url}"),
                true,
            ));
        }
    }
}

/// Terminal input on its own thread (crossterm's reader blocks). It polls with a timeout so it
/// notices `stop`; an idle poll costs one wake-up every half second.
fn spawn_input(
    tx: mpsc::UnboundedSender<Msg>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match event::poll(Duration::from_millis(500)) {
                Ok(false) => {}
                Ok(true) => match event::read() {
                    Ok(ev) => {
                        if tx.send(Msg::Input(ev)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Msg::InputGone(e.to_string()));
                        return;
                    }
                },
                Err(e) => {
                    let _ = tx.send(Msg::InputGone(e.to_string()));
                    return;
                }
            }
        }
    })
}
