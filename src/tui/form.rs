//! The new-job form: task, repository URL, base ref and a profile chosen from the list.
//! It checks what it can before anything is sent; the backend's refusal lands in `error`.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::api::SubmitBody;

/// The form's fields, in tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Task,
    Repo,
    Base,
    Profile,
}

const FIELDS: [Field; 4] = [Field::Task, Field::Repo, Field::Base, Field::Profile];

#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    pub task: String,
    pub repo: String,
    pub base: String,
    /// `(name, description)` of the profiles to choose from.
    pub profiles: Vec<(String, String)>,
    /// Index into `profiles`; `None`: the default profile.
    pub profile: Option<usize>,
    pub focus: Field,
    /// Why the form was not sent (shown under the fields).
    pub error: Option<String>,
}

/// What a key did to the form.
#[derive(Debug, Clone, PartialEq)]
pub enum FormOutcome {
    Stay,
    Close,
    Submit(SubmitBody),
}

impl Form {
    pub fn new(profiles: &[(String, String)]) -> Form {
        let mut f = Form {
            task: String::new(),
            repo: String::new(),
            base: String::new(),
            profiles: Vec::new(),
            profile: None,
            focus: Field::Task,
            error: None,
        };
        f.set_profiles(profiles);
        f
    }

    pub fn set_profiles(&mut self, profiles: &[(String, String)]) {
        let current = self
            .profile
            .and_then(|i| self.profiles.get(i))
            .map(|p| p.0.clone());
        self.profiles = profiles.to_vec();
        self.profile = current.and_then(|name| self.profiles.iter().position(|p| p.0 == name));
    }

    /// The chosen profile's name, or `None` for the default.
    pub fn profile_name(&self) -> Option<&str> {
        self.profile
            .and_then(|i| self.profiles.get(i))
            .map(|p| p.0.as_str())
    }

    fn text_mut(&mut self) -> Option<&mut String> {
        match self.focus {
            Field::Task => Some(&mut self.task),
            Field::Repo => Some(&mut self.repo),
            Field::Base => Some(&mut self.base),
            Field::Profile => None,
        }
    }

    fn step_focus(&mut self, forward: bool) {
        let i = FIELDS.iter().position(|f| *f == self.focus).unwrap_or(0);
        let n = FIELDS.len();
        self.focus = FIELDS[if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        }];
    }

    fn step_profile(&mut self, forward: bool) {
        let n = self.profiles.len();
        if n == 0 {
            return;
        }
        // None (default) -> 0 -> 1 ... -> n-1 -> None
        self.profile = match (self.profile, forward) {
            (None, true) => Some(0),
            (None, false) => Some(n - 1),
            (Some(i), true) if i + 1 < n => Some(i + 1),
            (Some(i), false) if i > 0 => Some(i - 1),
            (Some(_), _) => None,
        };
    }

    pub fn paste(&mut self, text: &str) {
        let line = text.replace(['\r', '\n'], " ");
        if let Some(t) = self.text_mut() {
            t.push_str(&line);
        }
    }

    pub fn on_key(&mut self, key: KeyEvent) -> FormOutcome {
        match key.code {
            KeyCode::Esc => return FormOutcome::Close,
            KeyCode::Enter => {
                return match self.validate() {
                    Ok(body) => {
                        self.error = None;
                        FormOutcome::Submit(body)
                    }
                    Err(e) => {
                        self.error = Some(e);
                        FormOutcome::Stay
                    }
                };
            }
            KeyCode::Tab | KeyCode::Down => self.step_focus(true),
            KeyCode::BackTab | KeyCode::Up => self.step_focus(false),
            KeyCode::Left if self.focus == Field::Profile => self.step_profile(false),
            KeyCode::Right | KeyCode::Char(' ') if self.focus == Field::Profile => {
                self.step_profile(true)
            }
            KeyCode::Backspace => {
                if let Some(t) = self.text_mut() {
                    t.pop();
                }
            }
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                if let Some(t) = self.text_mut() {
                    t.clear();
                }
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                if let Some(t) = self.text_mut() {
                    t.push(c);
                }
            }
            _ => {}
        }
        FormOutcome::Stay
    }

    /// The request, or the first problem found.
    pub fn validate(&self) -> Result<SubmitBody, String> {
        let task = self.task.trim();
        if task.is_empty() {
            return Err("the task is empty: say what Claude Code should do".into());
        }
        let repo = self.repo.trim();
        if !repo.is_empty() && !looks_like_repo(repo) {
            return Err(format!(
                "{repo:?} is not a repository URL (https://, ssh://, git@host:path, file:// or a path)"
            ));
        }
        let base = self.base.trim();
        if !base.is_empty() {
            if repo.is_empty() {
                return Err("a base ref needs a repository URL".into());
            }
            if base.starts_with('-') || base.contains(char::is_whitespace) || base.contains("..") {
                return Err(format!("{base:?} is not a valid git ref"));
            }
        }
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Ok(SubmitBody {
            task: task.to_string(),
            repo_url: opt(repo),
            profile: self.profile_name().map(str::to_string),
            base_ref: opt(base),
            wait: false,
            session_id: None,
            timeout: None,
        })
    }
}

fn looks_like_repo(s: &str) -> bool {
    if s.contains(char::is_whitespace) || s.starts_with('-') {
        return false;
    }
    [
        "https://", "http://", "ssh://", "git://", "file://", "/", "./", "../", "~/",
    ]
    .iter()
    .any(|p| s.starts_with(p))
        || (s.contains('@') && s.contains(':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn typed(form: &mut Form, s: &str) {
        for c in s.chars() {
            form.on_key(key(KeyCode::Char(c)));
        }
    }

    #[test]
    fn an_empty_task_is_refused_in_the_form() {
        let mut f = Form::new(&[]);
        assert_eq!(f.on_key(key(KeyCode::Enter)), FormOutcome::Stay);
        assert!(
            f.error
                .as_deref()
                .is_some_and(|e| e.contains("task is empty"))
        );
    }

    #[test]
    fn fields_profile_and_validation() {
        let profiles = vec![("code".into(), "c".into()), ("review".into(), "r".into())];
        let mut f = Form::new(&profiles);
        typed(&mut f, "fix it");
        f.on_key(key(KeyCode::Tab));
        typed(&mut f, "not a url");
        assert_eq!(f.on_key(key(KeyCode::Enter)), FormOutcome::Stay);
        assert!(
            f.error
                .as_deref()
                .is_some_and(|e| e.contains("not a repository URL"))
        );
        f.on_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
        typed(&mut f, "https://github.com/you/repo");
        f.on_key(key(KeyCode::Tab));
        typed(&mut f, "main");
        f.on_key(key(KeyCode::Tab));
        f.on_key(key(KeyCode::Right));
        f.on_key(key(KeyCode::Right));
        match f.on_key(key(KeyCode::Enter)) {
            FormOutcome::Submit(b) => {
                assert_eq!(b.task, "fix it");
                assert_eq!(b.repo_url.as_deref(), Some("https://github.com/you/repo"));
                assert_eq!(b.base_ref.as_deref(), Some("main"));
                assert_eq!(b.profile.as_deref(), Some("review"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(f.on_key(key(KeyCode::Esc)), FormOutcome::Close);
    }
}
