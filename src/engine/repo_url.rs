//! Repository URLs and refs, validated before git ever sees them: what a job may name as its
//! repository (https, ssh, scp-like, file and local paths, without credentials) and as its base
//! ref, and the cache key of a URL.

use std::fmt;
use std::path::{Component, Path};

use sha2::{Digest, Sha256};

use super::repo::RepoError;

const MAX_URL_LEN: usize = 2048;
const MAX_REF_LEN: usize = 255;
const MAX_SLUG_LEN: usize = 48;

/// What kind of remote a [`RepoUrl`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlKind {
    Https,
    /// Plain `http://`: allowed, but nothing (token included) is encrypted.
    Http,
    Ssh,
    /// `git@host:org/repo.git`
    Scp,
    /// `file:///path` or an absolute local path. A server may want to refuse these.
    Local,
}

/// A validated repository URL: the string as given (passed to git unchanged) and a normalised
/// key that names its cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoUrl {
    original: String,
    key: String,
    kind: UrlKind,
}

impl RepoUrl {
    pub fn as_str(&self) -> &str {
        &self.original
    }

    /// The normalised URL: lowercase scheme and host, default port, trailing `/` and `.git`
    /// removed (`.git` only for network URLs: locally `x` and `x.git` are different dirs).
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn kind(&self) -> UrlKind {
        self.kind
    }

    pub fn is_local(&self) -> bool {
        self.kind == UrlKind::Local
    }

    /// The remote's host name, lower case and without user or port (`None` for a local repo).
    pub fn host(&self) -> Option<&str> {
        if self.is_local() {
            return None;
        }
        let rest = self.key.split_once("://").map_or(&*self.key, |(_, r)| r);
        let authority = rest.split('/').next().unwrap_or("");
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = match host.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(v6),
            None => host.split(':').next().unwrap_or(host),
        };
        (!host.is_empty()).then_some(host)
    }

    /// The repository's path on its host, without `.git`, a trailing `/` or the `~/` of
    /// `host:path` URLs (`org/repo`); `None` for a local repo.
    pub fn remote_path(&self) -> Option<&str> {
        if self.is_local() {
            return None;
        }
        let rest = self.key.split_once("://").map_or(&*self.key, |(_, r)| r);
        let (_, path) = rest.split_once('/')?;
        let path = path.strip_prefix("~/").unwrap_or(path);
        (!path.is_empty()).then_some(path)
    }

    /// The cache directory name: a readable slug and 12 hex digits of SHA-256 of [`Self::key`].
    pub fn cache_name(&self) -> String {
        let hash = Sha256::digest(self.key.as_bytes());
        let hex: String = hash.iter().take(6).map(|b| format!("{b:02x}")).collect();
        let body = self.key.split_once("://").map_or(&*self.key, |(_, r)| r);
        // Drop the user of ssh URLs (`git@`) from the slug.
        let body = match body.split_once('/') {
            Some((auth, path)) => {
                let host = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
                format!("{host}/{path}")
            }
            None => body.to_string(),
        };
        let mut slug = String::new();
        for c in body.chars() {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '.' {
                slug.push(c);
            } else if !slug.ends_with('-') {
                slug.push('-');
            }
        }
        let mut slug = slug.trim_matches(|c| c == '-' || c == '.').to_string();
        if slug.len() > MAX_SLUG_LEN {
            // ASCII only, so any index is a char boundary.
            slug.truncate(MAX_SLUG_LEN);
            slug = slug.trim_end_matches(['-', '.']).to_string();
        }
        if slug.is_empty() {
            slug.push_str("repo");
        }
        format!("{slug}-{hex}")
    }
}

impl fmt::Display for RepoUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

fn bad_url(url: &str, reason: &'static str) -> RepoError {
    RepoError::InvalidUrl {
        url: url.to_string(),
        reason,
    }
}

/// Validate a repository URL. Accepted: `https://`, `http://`, `ssh://`, `user@host:path`,
/// `file:///path` and existing absolute paths. Refused: empty, leading `-`, `<transport>::`
/// forms (`ext::`, `file::`...), other schemes, whitespace or control characters, and
/// credentials in the URL (the error never repeats them).
pub fn validate_repo_url(url: &str) -> Result<RepoUrl, RepoError> {
    if url.trim().is_empty() {
        return Err(bad_url(url, "it is empty"));
    }
    // Before anything that echoes the URL: never repeat a password or token.
    if has_credentials(url) {
        return Err(RepoError::CredentialsInUrl);
    }
    if url.len() > MAX_URL_LEN {
        return Err(bad_url("", "it is longer than 2048 bytes"));
    }
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad_url(url, "it contains whitespace or control characters"));
    }
    if url.starts_with('-') {
        return Err(bad_url(url, "it must not start with '-'"));
    }
    if transport_helper(url) {
        return Err(bad_url(
            url,
            "'<transport>::' remote helpers (ext::, file::...) are not allowed",
        ));
    }
    if let Some((scheme, rest)) = url.split_once("://") {
        let scheme = scheme.to_ascii_lowercase();
        return match scheme.as_str() {
            "https" => network_url(url, UrlKind::Https, "https", rest, 443),
            "http" => {
                tracing::warn!(url, "repository URL uses plain http: nothing is encrypted");
                network_url(url, UrlKind::Http, "http", rest, 80)
            }
            "ssh" => network_url(url, UrlKind::Ssh, "ssh", rest, 22),
            "file" => {
                if !rest.starts_with('/') {
                    return Err(bad_url(
                        url,
                        "file URLs must be absolute, with no host (file:///path)",
                    ));
                }
                local_url(url, rest)
            }
            _ => Err(bad_url(
                url,
                "unsupported scheme (use https://, ssh://, git@host:path, file:// or an absolute path)",
            )),
        };
    }
    if url.starts_with('/') {
        let path = Path::new(url);
        if !path.exists() {
            return Err(RepoError::LocalPathMissing(path.to_path_buf()));
        }
        return local_url(url, url);
    }
    scp_url(url)
}

/// `scheme://user:pass@host`, `http(s)://token@host` or `user:pass@host:path`.
fn has_credentials(url: &str) -> bool {
    if let Some((scheme, rest)) = url.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let Some((userinfo, _)) = authority.rsplit_once('@') else {
            return false;
        };
        let scheme = scheme.to_ascii_lowercase();
        // Over http(s) a bare user part is a token in practice (`https://ghp_x@github.com`).
        scheme == "https" || scheme == "http" || userinfo.contains(':')
    } else {
        let head = url.split('/').next().unwrap_or("");
        head.rsplit_once('@')
            .is_some_and(|(userinfo, _)| userinfo.contains(':'))
    }
}

/// git's own rule for `<transport>::<address>`: scheme characters, then `::`.
fn transport_helper(url: &str) -> bool {
    let mut chars = url.char_indices();
    match chars.next() {
        Some((_, c)) if c.is_ascii_alphabetic() => {}
        _ => return false,
    }
    for (i, c) in chars {
        if c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.') {
            continue;
        }
        return url[i..].starts_with("::");
    }
    false
}

fn valid_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[') {
        // IPv6 literal.
        return inner.strip_suffix(']').is_some_and(|v6| {
            !v6.is_empty()
                && v6
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        });
    }
    !host.is_empty()
        && !host.starts_with(['-', '.'])
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

fn valid_user(user: &str) -> bool {
    !user.is_empty()
        && !user.starts_with('-')
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// Network path for the key: no duplicate or trailing `/`, no `.git` suffix.
fn normalise_remote_path(path: &str) -> String {
    let mut parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if let Some(last) = parts.last_mut() {
        if let Some(stripped) = last.strip_suffix(".git") {
            *last = stripped;
        }
        if last.is_empty() {
            parts.pop();
        }
    }
    parts.join("/")
}

fn network_url(
    url: &str,
    kind: UrlKind,
    scheme: &str,
    rest: &str,
    default_port: u16,
) -> Result<RepoUrl, RepoError> {
    if rest.contains(['?', '#']) {
        return Err(bad_url(url, "it must not contain a query or fragment"));
    }
    let Some((authority, path)) = rest.split_once('/') else {
        return Err(bad_url(url, "it has no repository path"));
    };
    let (user, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if let Some(u) = user
        && !valid_user(u)
    {
        return Err(bad_url(url, "invalid user name"));
    }
    let (host, port) = split_port(hostport).ok_or_else(|| bad_url(url, "invalid port"))?;
    if !valid_host(host) {
        return Err(bad_url(url, "invalid host name"));
    }
    let path = normalise_remote_path(path);
    if path.is_empty() {
        return Err(bad_url(url, "it has no repository path"));
    }
    let mut key = format!("{scheme}://");
    if let Some(u) = user {
        key.push_str(u);
        key.push('@');
    }
    key.push_str(&host.to_ascii_lowercase());
    if let Some(p) = port
        && p != default_port
    {
        key.push_str(&format!(":{p}"));
    }
    key.push('/');
    key.push_str(&path);
    Ok(RepoUrl {
        original: url.to_string(),
        key,
        kind,
    })
}

/// `host[:port]`; `None` when the port is not a number in 1..=65535.
fn split_port(hostport: &str) -> Option<(&str, Option<u16>)> {
    let colon = if hostport.starts_with('[') {
        hostport
            .find(']')
            .and_then(|end| hostport[end..].find(':').map(|c| end + c))
    } else {
        hostport.rfind(':')
    };
    let Some(colon) = colon else {
        return Some((hostport, None));
    };
    let (host, port) = (&hostport[..colon], &hostport[colon + 1..]);
    if port.is_empty() {
        return Some((host, None));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Some((host, Some(p))),
        _ => None,
    }
}

fn local_url(url: &str, path: &str) -> Result<RepoUrl, RepoError> {
    if url.contains(['?', '#']) {
        return Err(bad_url(url, "it must not contain '?' or '#'"));
    }
    let mut norm = String::new();
    for comp in Path::new(path).components() {
        match comp {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => norm.push_str("/.."),
            Component::Normal(s) => {
                norm.push('/');
                norm.push_str(&s.to_string_lossy());
            }
        }
    }
    if norm.is_empty() {
        return Err(bad_url(url, "it names the root directory"));
    }
    Ok(RepoUrl {
        original: url.to_string(),
        key: format!("file://{norm}"),
        kind: UrlKind::Local,
    })
}

/// `user@host:path` (or `host.domain:path`). A bare `word:rest` (`javascript:...`) is refused.
fn scp_url(url: &str) -> Result<RepoUrl, RepoError> {
    let unsupported = || {
        bad_url(
            url,
            "unsupported URL (use https://, ssh://, git@host:path, file:// or an absolute path)",
        )
    };
    let Some(colon) = url.find(':') else {
        return Err(unsupported());
    };
    let (head, path) = (&url[..colon], &url[colon + 1..]);
    if head.contains('/') {
        return Err(unsupported());
    }
    let (user, host) = match head.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, head),
    };
    if user.is_none() && !host.contains('.') {
        return Err(unsupported());
    }
    if let Some(u) = user
        && !valid_user(u)
    {
        return Err(bad_url(url, "invalid user name"));
    }
    if !valid_host(host) {
        return Err(bad_url(url, "invalid host name"));
    }
    if path.starts_with('-') || path.contains(['?', '#']) {
        return Err(bad_url(url, "invalid repository path"));
    }
    let absolute = path.starts_with('/');
    let norm = normalise_remote_path(path);
    if norm.is_empty() {
        return Err(bad_url(url, "it has no repository path"));
    }
    // `host:path` is relative to the home directory: `ssh://host/~/path` in URL form.
    let mut key = String::from("ssh://");
    if let Some(u) = user {
        key.push_str(u);
        key.push('@');
    }
    key.push_str(&host.to_ascii_lowercase());
    key.push_str(if absolute { "/" } else { "/~/" });
    key.push_str(&norm);
    Ok(RepoUrl {
        original: url.to_string(),
        key,
        kind: UrlKind::Scp,
    })
}

// ---------------------------------------------------------------------------------------------
// Refs
// ---------------------------------------------------------------------------------------------

/// The rules of `git check-ref-format --branch`, in Rust (plus a length cap and no `HEAD`).
pub fn validate_ref(r: &str) -> Result<(), RepoError> {
    let bad = |reason: &'static str| {
        Err(RepoError::InvalidRef {
            reference: r.to_string(),
            reason,
        })
    };
    if r.is_empty() {
        return bad("it is empty");
    }
    if r.len() > MAX_REF_LEN {
        return bad("it is longer than 255 bytes");
    }
    if r.starts_with('-') {
        return bad("it must not start with '-'");
    }
    if r == "@" || r == "HEAD" {
        return bad("it is not a branch name");
    }
    if r.chars()
        .any(|c| c.is_control() || c == ' ' || c == '\u{7f}')
    {
        return bad("it contains a space or control character");
    }
    if r.contains(['~', '^', ':', '?', '*', '[', '\\']) {
        return bad("it contains one of ~ ^ : ? * [ \\");
    }
    if r.contains("..") {
        return bad("it contains '..'");
    }
    if r.contains("@{") {
        return bad("it contains '@{'");
    }
    if r.starts_with('/') || r.ends_with('/') || r.contains("//") {
        return bad("it has an empty path component");
    }
    if r.ends_with('.') {
        return bad("it ends with '.'");
    }
    for comp in r.split('/') {
        if comp.starts_with('.') {
            return bad("a component starts with '.'");
        }
        if comp.ends_with(".lock") {
            return bad("a component ends with '.lock'");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_urls() {
        let dir = tempfile::tempdir().expect("tempdir");
        let local = dir.path().to_string_lossy().into_owned();
        let cases: Vec<(String, UrlKind, String)> = vec![
            (
                "https://github.com/org/repo.git".into(),
                UrlKind::Https,
                "https://github.com/org/repo".into(),
            ),
            (
                "HTTPS://GitHub.com:443/Org/Repo.git/".into(),
                UrlKind::Https,
                "https://github.com/Org/Repo".into(),
            ),
            (
                "https://gitlab.example.com:8443/a/b/c".into(),
                UrlKind::Https,
                "https://gitlab.example.com:8443/a/b/c".into(),
            ),
            (
                "http://git.local/x.git".into(),
                UrlKind::Http,
                "http://git.local/x".into(),
            ),
            (
                "ssh://git@github.com:22/org/repo.git".into(),
                UrlKind::Ssh,
                "ssh://git@github.com/org/repo".into(),
            ),
            (
                "ssh://[::1]:2222/srv/repo".into(),
                UrlKind::Ssh,
                "ssh://[::1]:2222/srv/repo".into(),
            ),
            (
                "git@github.com:org/repo.git".into(),
                UrlKind::Scp,
                "ssh://git@github.com/~/org/repo".into(),
            ),
            (
                "git@host:/srv/repo.git".into(),
                UrlKind::Scp,
                "ssh://git@host/srv/repo".into(),
            ),
            (
                "file:///srv/git/repo.git".into(),
                UrlKind::Local,
                "file:///srv/git/repo.git".into(),
            ),
            (local.clone(), UrlKind::Local, format!("file://{local}")),
            (
                format!("{local}/"),
                UrlKind::Local,
                format!("file://{local}"),
            ),
        ];
        for (url, kind, key) in cases {
            let r = validate_repo_url(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(r.kind(), kind, "{url}");
            assert_eq!(r.key(), key, "{url}");
            assert_eq!(r.as_str(), url);
        }
    }

    #[test]
    fn bad_urls() {
        let cases = [
            "",
            "   ",
            "-oProxyCommand=x",
            "--upload-pack=touch /tmp/x",
            "ext::sh -c x",
            "ext::sh",
            "file::x",
            "fd::17",
            "https::github.com/x",
            "ftp://x/y",
            "javascript:alert(1)",
            "git://github.com/org/repo",
            "https://github.com/org/re po",
            "https://github.com/org/repo\n",
            "https://github.com/org/repo\nfoo",
            "https://github.com/org/re\tpo",
            "https://github.com",
            "https://github.com/",
            "https:///org/repo",
            "https://-oProxyCommand=x/org/repo",
            "ssh://-oProxyCommand=x/org/repo",
            "ssh://git@-oProxyCommand=x/repo",
            "https://github.com:99999/org/repo",
            "https://github.com/org/repo?x=1",
            "file://host/srv/repo",
            "relative/path",
            "host:repo",
            "/nonexistent/agenticore/nope.git",
        ];
        for url in cases {
            assert!(validate_repo_url(url).is_err(), "accepted {url:?}");
        }
    }

    #[test]
    fn credentials_are_refused_and_never_echoed() {
        for url in [
            "https://u:s3cr3tT0ken@github.com/org/repo.git",
            "https://ghp_s3cr3tT0ken@github.com/org/repo.git",
            "http://u:s3cr3tT0ken@h/r",
            "ssh://git:s3cr3tT0ken@h/r",
            "git:s3cr3tT0ken@host:org/repo.git",
            "ftp://u:s3cr3tT0ken@h/r",
            "https://u:s3cr3tT0ken@h/r\n",
        ] {
            let err = validate_repo_url(url).expect_err(url);
            assert!(matches!(err, RepoError::CredentialsInUrl), "{url}: {err}");
            let msg = err.to_string();
            assert!(!msg.contains("s3cr3tT0ken"), "{msg}");
            assert!(msg.contains("GITHUB_TOKEN"), "{msg}");
        }
    }

    #[test]
    fn host_and_remote_path() {
        for (url, host, path) in [
            (
                "https://GitHub.com/acme/widgets.git",
                "github.com",
                "acme/widgets",
            ),
            (
                "https://github.com:443/acme/widgets/",
                "github.com",
                "acme/widgets",
            ),
            (
                "git@github.com:acme/widgets.git",
                "github.com",
                "acme/widgets",
            ),
            ("ssh://git@GHE.corp:2222/acme/w.git", "ghe.corp", "acme/w"),
            ("ssh://[::1]:2222/srv/repo", "::1", "srv/repo"),
            ("http://git.local/x.git", "git.local", "x"),
        ] {
            let u = validate_repo_url(url).expect(url);
            assert_eq!(u.host(), Some(host), "{url}");
            assert_eq!(u.remote_path(), Some(path), "{url}");
        }
        let local = validate_repo_url("file:///srv/git/repo.git").expect("local");
        assert_eq!(local.host(), None);
        assert_eq!(local.remote_path(), None);
    }

    #[test]
    fn spellings_share_a_cache() {
        let a = validate_repo_url("https://GitHub.com/Org/Repo.git").expect("a");
        let b = validate_repo_url("https://github.com/Org/Repo").expect("b");
        let c = validate_repo_url("https://github.com:443/Org/Repo/").expect("c");
        assert_eq!(a.cache_name(), b.cache_name());
        assert_eq!(a.cache_name(), c.cache_name());
        let name = a.cache_name();
        assert!(name.starts_with("github.com-org-repo-"), "{name}");
        assert_eq!(name.len(), "github.com-org-repo-".len() + 12);

        let other = validate_repo_url("https://github.com/Org/Other").expect("other");
        assert_ne!(a.cache_name(), other.cache_name());
        let ssh = validate_repo_url("git@github.com:Org/Repo.git").expect("ssh");
        assert_ne!(a.cache_name(), ssh.cache_name());
        assert!(ssh.cache_name().starts_with("github.com-org-repo-"));
    }

    #[test]
    fn good_refs() {
        for r in [
            "main",
            "dev",
            "feature/x-1",
            "release/1.2",
            "a.b",
            "user@host",
            "ü",
        ] {
            validate_ref(r).unwrap_or_else(|e| panic!("{r}: {e}"));
        }
    }

    #[test]
    fn bad_refs() {
        let long = "a".repeat(300);
        for r in [
            "",
            "-x",
            "--orphan",
            "a..b",
            "@{",
            "a@{1}",
            "@",
            "HEAD",
            "x.lock",
            "a/x.lock/b",
            "a b",
            "a\tb",
            "a\nb",
            "a~1",
            "a^",
            "a:b",
            "a?",
            "a*",
            "a[b",
            "a\\b",
            "/a",
            "a/",
            "a//b",
            ".a",
            "a/.b",
            "a.",
            "a\u{7f}",
            long.as_str(),
        ] {
            assert!(validate_ref(r).is_err(), "accepted {r:?}");
        }
    }
}
