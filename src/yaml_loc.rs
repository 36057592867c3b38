//! Small helpers shared by `config` and `profile` to point users at a line of a YAML file.
//!
//! `yaml_serde` gives positions for syntax and type errors; for errors we find after parsing
//! (a bad value, an unknown key) we scan the text for the key's line. The scan understands block
//! mappings (indentation) and quoted keys, which is what hand-written config files use; for flow
//! mappings (`claude: {timeout: 5}`) it falls back to the deepest key it can find.

/// Maximum size of a config or profile file we are willing to read.
pub(crate) const MAX_FILE_BYTES: u64 = 1024 * 1024;

struct Line<'a> {
    number: usize,
    indent: usize,
    text: &'a str,
}

/// The 1-based line of the deepest key of `path` found in `text` (e.g. `["claude", "timeout"]`).
pub(crate) fn key_line(text: &str, path: &[&str]) -> Option<usize> {
    let lines: Vec<Line<'_>> = text
        .lines()
        .enumerate()
        .filter_map(|(i, raw)| {
            let trimmed = raw.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("---") {
                return None;
            }
            Some(Line {
                number: i + 1,
                indent: raw.len() - trimmed.len(),
                text: trimmed,
            })
        })
        .collect();

    let (mut start, mut end) = (0, lines.len());
    let mut found = None;
    for key in path {
        let Some(first) = lines.get(start).filter(|_| start < end) else {
            break;
        };
        let level = first.indent;
        let hit = (start..end).find(|&i| lines[i].indent == level && is_key(lines[i].text, key));
        let Some(i) = hit else { break };
        found = Some(lines[i].number);
        let own = lines[i].indent;
        start = i + 1;
        end = (start..end)
            .find(|&j| lines[j].indent <= own && !lines[j].text.starts_with("- "))
            .unwrap_or(end);
    }
    found
}

fn is_key(text: &str, key: &str) -> bool {
    let rest = if let Some(r) = text.strip_prefix('"') {
        r.strip_prefix(key).and_then(|r| r.strip_prefix('"'))
    } else if let Some(r) = text.strip_prefix('\'') {
        r.strip_prefix(key).and_then(|r| r.strip_prefix('\''))
    } else {
        text.strip_prefix(key)
    };
    match rest.map(str::trim_start) {
        Some(r) => r == ":" || r.starts_with(": ") || r.starts_with(":\t"),
        None => false,
    }
}

/// The line of a `yaml_serde` error, when it has one.
pub(crate) fn error_line(err: &serde_yaml::Error) -> Option<usize> {
    err.location().map(|l| l.line()).filter(|&l| l > 0)
}

/// A `yaml_serde` error message without its trailing " at line N column M" (we print the
/// position ourselves, as `file:line`).
pub(crate) fn error_message(err: &serde_yaml::Error) -> String {
    let msg = err.to_string();
    match msg.rfind(" at line ") {
        Some(i) if msg[i..].contains(" column ") => msg[..i].to_string(),
        _ => msg,
    }
}

/// Levenshtein distance, for "did you mean" hints.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The candidate closest to `word`, if it is close enough to be a plausible typo.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# comment
server:
  port: 1
  host: x
claude:
  # nested comment
  timeout: 5
  'binary': claude
repos:
  root: ~/r
";

    #[test]
    fn finds_nested_keys() {
        assert_eq!(key_line(TEXT, &["server", "port"]), Some(3));
        assert_eq!(key_line(TEXT, &["claude", "timeout"]), Some(7));
        assert_eq!(key_line(TEXT, &["claude", "binary"]), Some(8));
        assert_eq!(key_line(TEXT, &["repos"]), Some(9));
        // Falls back to the deepest key found; does not look into other sections.
        assert_eq!(key_line(TEXT, &["repos", "timeout"]), Some(9));
        assert_eq!(key_line(TEXT, &["nope"]), None);
    }

    #[test]
    fn closest_suggests_typos_only() {
        let keys = ["claude.timeout", "claude.binary"];
        assert_eq!(closest("claude.timout", keys), Some("claude.timeout"));
        assert_eq!(closest("something.else", keys), None);
    }
}
