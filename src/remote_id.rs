//! How pushguard tells remotes apart: a record is bound to the remote its push went to by the
//! URL git gave the hook (`$2`), and a remote is identified by its URLs, normalised so that
//! the spellings of one address compare equal (`git@host:team/app.git` and
//! `ssh://git@host:22/team/app` are both `ssh://git@host/team/app`) while every part that can
//! name another repository is kept: scheme, user, host, a port other than the default, and
//! `~/` against an absolute path (`git://host:19418/app` and `git://host:19419/app` are two
//! remotes).
//!
//! A remote's name is not its identity: names are local to a clone (anyone can call a
//! throwaway repository `origin`), and renaming a remote changes nothing for the trail.
//! An auditing clone can name extra URLs for a remote with `git config --add
//! remote.<name>.pushguardUrl <url>` (a repository that moved keeps counting the records made
//! under its old address); those only widen what is counted, never where records are sent.

use std::collections::HashMap;
use std::path::Path;

use crate::audit::Record;

use crate::git::Repo;

/// The git config key (under `remote.<name>.`) naming extra URLs of a remote.
pub const EXTRA_URL_KEY: &str = "pushguardurl";

/// The normalised form of a remote URL or path, keeping every part that can name a
/// different repository: `scheme://user@host:port/path` for network URLs, the absolute path
/// (symbolic links resolved when it exists) for a local repository.
///
/// What still compares equal: the scheme's spellings (`ssh`, `git+ssh`, `ssh+git`; an
/// scp-like `user@host:path` is ssh, and its path is read as `ssh://user@host/path` reads it,
/// as hosting services do), the default port and no port (22, 9418, 80, 443), the host's
/// case, a password (dropped), repeated, leading and trailing slashes and a trailing `.git`.
/// What stays apart: the scheme (`http`, `https`, `ssh`, `git` are different servers), the
/// user (another account's home), any other port, and `~/` or `~user/` against an absolute
/// path.
pub fn key(url: &str) -> String {
    let url = url.trim();
    if let Some((scheme, rest)) = url.split_once("://") {
        if scheme.eq_ignore_ascii_case("file") {
            return local_key(rest);
        }
        if is_scheme(scheme) {
            let (authority, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            return network_key(&scheme.to_ascii_lowercase(), authority, path);
        }
    }
    // A remote helper's address (`<transport>::<address>`): kept as written.
    if let Some((transport, address)) = url.split_once("::") {
        if is_scheme(transport) {
            return format!("{}::{address}", transport.to_ascii_lowercase());
        }
    }
    // scp-like syntax: `[user@]host:path`, a colon before any slash (a bracketed IPv6 host may
    // hold colons of its own).
    if let Some((authority, path)) = scp_split(url) {
        return network_key("ssh", authority, path);
    }
    local_key(url)
}

/// Tells whether `text` can be a URL scheme or a remote helper's name.
fn is_scheme(text: &str) -> bool {
    text.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

/// Splits an scp-like address into its `[user@]host` and its path.
fn scp_split(url: &str) -> Option<(&str, &str)> {
    let colon = match url.find('[') {
        Some(open) if !url[..open].contains('/') => {
            let close = url[open..].find(']')? + open;
            close + 1 + url[close + 1..].find(':')?
        }
        _ => url.find(':')?,
    };
    let authority = &url[..colon];
    (!authority.is_empty() && !authority.contains('/')).then(|| (authority, &url[colon + 1..]))
}

/// The port a scheme uses when none is given.
fn default_port(scheme: &str) -> Option<&'static str> {
    match scheme {
        "ssh" => Some("22"),
        "git" => Some("9418"),
        "http" => Some("80"),
        "https" => Some("443"),
        "ftp" => Some("21"),
        "ftps" => Some("990"),
        _ => None,
    }
}

fn network_key(scheme: &str, authority: &str, path: &str) -> String {
    let scheme = match scheme {
        "git+ssh" | "ssh+git" => "ssh",
        s => s,
    };
    let (user, host_port) = match authority.rsplit_once('@') {
        // A password is a credential, not part of the address.
        Some((user, host)) => (Some(user.split(':').next().unwrap_or(user)), host),
        None => (None, authority),
    };
    let (host, port) = match host_port.rfind(':') {
        // A port, not a colon inside an IPv6 address in brackets.
        Some(i) if !host_port[i..].contains(']') => (&host_port[..i], Some(&host_port[i + 1..])),
        _ => (host_port, None),
    };
    let port = port.filter(|p| !p.is_empty() && Some(*p) != default_port(scheme));
    let mut out = format!("{scheme}://");
    if let Some(user) = user.filter(|u| !u.is_empty()) {
        out.push_str(user);
        out.push('@');
    }
    out.push_str(&host.to_ascii_lowercase());
    if let Some(port) = port {
        out.push(':');
        out.push_str(port);
    }
    for segment in trim_repo_suffix(path).split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        out.push_str(segment);
    }
    out
}

fn local_key(path: &str) -> String {
    let p = Path::new(path);
    let full = p
        .canonicalize()
        .or_else(|_| p.with_extension("git").canonicalize())
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_else(|_| path.to_owned());
    trim_repo_suffix(&full).to_owned()
}

fn trim_repo_suffix(path: &str) -> &str {
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    path.trim_end_matches('/')
}

/// The identities of `remote` (a configured remote's name, or a URL) in this clone, for
/// counting records: the normalised keys of its URL, push URLs (as configured and as git
/// rewrites them with `insteadOf`) and any `remote.<name>.pushguardUrl`. Records are sent
/// only to the URL pushed to ([`crate::notes::share_audit`]), never by these.
pub fn keys(repo: &Repo, remote: &str) -> Vec<String> {
    let mut urls = Vec::new();
    let git = repo.git2();
    if let Ok(r) = git.find_remote(remote) {
        urls.extend(r.url().map(str::to_owned));
        urls.extend(r.pushurl().map(str::to_owned));
        if let Ok(config) = git.config() {
            for name in ["url", "pushurl", EXTRA_URL_KEY] {
                let pattern = format!("remote.{remote}.{name}");
                if let Ok(mut values) = config.multivar(&pattern, None) {
                    while let Some(Ok(entry)) = values.next() {
                        urls.extend(entry.value().map(str::to_owned));
                    }
                }
            }
        }
    } else {
        urls.push(remote.to_owned());
    }
    let mut out: Vec<String> = urls.iter().map(|u| key(u)).collect();
    out.sort();
    out.dedup();
    out
}

/// Tells whether a record made for a push to `url` (the hook's `$2`) is bound to a remote
/// with these identities.
pub fn bound_to(url: &str, keys: &[String]) -> bool {
    let k = key(url);
    keys.contains(&k)
}

/// The records bound to `remote` (made for pushes to one of its URLs, or by the server that
/// holds them), and how many others its notes carry.
pub fn bound_records<'a>(repo: &Repo, remote: &str, all: &'a [Record]) -> (Vec<&'a Record>, usize) {
    let keys = keys(repo, remote);
    let mut seen: HashMap<&str, bool> = HashMap::new();
    let mut bound = Vec::new();
    let mut foreign = 0;
    for r in all {
        let ok = r.remote == crate::audit::SERVER_REMOTE
            || *seen
                .entry(r.url.as_str())
                .or_insert_with(|| bound_to(&r.url, &keys));
        if ok {
            bound.push(r);
        } else {
            foreign += 1;
        }
    }
    (bound, foreign)
}

/// The addresses this server answers to, as remote identities ([`key`]): its
/// `[server] urls`, and its own directory (a push over a local path or `file://` on this
/// machine reaches exactly this repository).
pub fn server_addresses(repo: &Repo, config: &crate::config::Config) -> Vec<String> {
    let mut out: Vec<String> = config.server.urls.iter().map(|u| key(u)).collect();
    out.push(key(&repo.common_dir().to_string_lossy()));
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spellings_of_one_ssh_address_compare_equal() {
        let forms = [
            "git@github.com:team/app.git",
            "ssh://git@github.com/team/app",
            "ssh://git@GitHub.com:22/team/app.git/",
            "git+ssh://git@github.com//team/app",
            "git@github.com:/team/app",
        ];
        for f in forms {
            assert_eq!(key(f), "ssh://git@github.com/team/app", "{f}");
        }
        assert_eq!(
            key("https://github.com:443/team/app.git"),
            key("https://github.com/team/app")
        );
        assert_eq!(key("git://host:9418/app.git"), key("git://HOST/app"));
        assert_eq!(
            key("https://pat:secret@host/app"),
            key("https://pat@host/app"),
            "a password is not part of the address"
        );
    }

    #[test]
    fn every_part_that_names_another_repository_is_kept_issue_23() {
        let apart = [
            ("git://host:19419/app.git", "git://host:19418/app.git"),
            ("git://host:19419/app.git", "git://host/app.git"),
            ("ssh://host:2222/app", "ssh://host/app"),
            ("https://github.com/team/app", "git@github.com:team/app.git"),
            ("http://host/app", "https://host/app"),
            ("alice@host:app", "bob@host:app"),
            ("https://pat@host/app", "https://host/app"),
            ("host:~/app.git", "host:/app.git"),
            ("ssh://host/~/app", "ssh://host/app"),
            ("ssh://host/~alice/app", "ssh://host/~bob/app"),
            (
                "git@github.com:team/app.git",
                "git@github.com:team/app2.git",
            ),
            ("git@github.com:team/app.git", "git@gitlab.com:team/app.git"),
            ("/srv/git/app.git", "/srv/git/throwaway.git"),
        ];
        for (a, b) in apart {
            assert_ne!(key(a), key(b), "{a} and {b}");
        }
        assert_eq!(key("host:~/app.git"), key("ssh://host/~/app"));
        assert_eq!(key("[::1]:app.git"), "ssh://[::1]/app");
        assert_eq!(key("ssh://[::1]:2222/app"), "ssh://[::1]:2222/app");
    }

    #[test]
    fn local_paths_lose_the_git_suffix_and_file_scheme() {
        assert_eq!(key("/srv/none/app.git/"), "/srv/none/app");
        assert_eq!(key("file:///srv/none/app.git"), "/srv/none/app");
        assert_eq!(key("/srv/none/app"), "/srv/none/app");
        assert_eq!(key("./a:b"), "./a:b");
    }
}
