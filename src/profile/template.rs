//! `{{VAR}}` templates in `append_prompt`. Checked when a profile is loaded (an unknown variable
//! is a load error), rendered in one pass when a job starts, so text substituted for a variable
//! (the task, say) is never expanded again.

use super::TemplateVars;

/// The variables a template may use.
pub const VARIABLES: &[&str] = &["TASK", "REPO_URL", "BASE_REF", "JOB_ID", "PROFILE"];

enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

/// Split a template into text and variables. `{{` not followed by a name and `}}` is text.
/// Spaces inside the braces are allowed: `{{ TASK }}`.
fn pieces(template: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let var = after.find("}}").and_then(|close| {
            let name = after[..close].trim();
            is_identifier(name).then_some((name, close))
        });
        match var {
            Some((name, close)) => {
                out.push(Piece::Text(&rest[..open]));
                out.push(Piece::Var(name));
                rest = &after[close + 2..];
            }
            None => {
                out.push(Piece::Text(&rest[..open + 2]));
                rest = after;
            }
        }
    }
    out.push(Piece::Text(rest));
    out
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The first variable of `template` that is not one of [`VARIABLES`].
pub(super) fn unknown_variable(template: &str) -> Option<String> {
    pieces(template).into_iter().find_map(|p| match p {
        Piece::Var(name) if !VARIABLES.contains(&name) => Some(name.to_string()),
        _ => None,
    })
}

pub(super) fn render(template: &str, vars: &TemplateVars<'_>) -> String {
    let mut out = String::with_capacity(template.len() + vars.task.len());
    for piece in pieces(template) {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Var(name) => {
                let value = match name {
                    "TASK" => vars.task,
                    "REPO_URL" => vars.repo_url,
                    "BASE_REF" => vars.base_ref,
                    "JOB_ID" => vars.job_id,
                    "PROFILE" => vars.profile,
                    // Unknown names are rejected at load time; keep the text if one slips by.
                    _ => {
                        out.push_str("{{");
                        out.push_str(name);
                        out.push_str("}}");
                        continue;
                    }
                };
                out.push_str(value);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const VARS: TemplateVars<'static> = TemplateVars {
        task: "fix {{JOB_ID}}",
        repo_url: "https://github.com/o/r",
        base_ref: "main",
        job_id: "0190",
        profile: "code",
    };

    #[test]
    fn renders_every_variable_once() {
        let t = "{{TASK}}|{{ REPO_URL }}|{{BASE_REF}}|{{JOB_ID}}|{{PROFILE}}";
        assert_eq!(
            render(t, &VARS),
            "fix {{JOB_ID}}|https://github.com/o/r|main|0190|code"
        );
    }

    #[test]
    fn braces_that_are_not_variables_are_text() {
        let t = "json: {{\"a\": 1}} and {{ unclosed";
        assert_eq!(unknown_variable(t), None);
        assert_eq!(render(t, &VARS), t);
    }

    #[test]
    fn unknown_variables_are_found() {
        assert_eq!(
            unknown_variable("{{TASK}} {{BRANCH}}"),
            Some("BRANCH".into())
        );
        assert_eq!(unknown_variable("{{task}}"), Some("task".into()));
        assert_eq!(unknown_variable("plain"), None);
    }
}
