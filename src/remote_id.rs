//! How pushguard tells remotes apart: a record is bound to the remote its push went to by the
//! URL git gave the hook (`$2`), and a remote is identified by its URLs, normalised so that
//! the ways of writing one repository's address compare equal (`git@host:team/app.git`,
//! `ssh://git@host/team/app`, `https://host/team/app/` all become `host/team/app`).
//!
//! A remote's name is not its identity: names are local to a clone (anyone can call a
//! throwaway repository `origin`), and renaming a remote changes nothing for the trail.
//! A clone can name extra URLs for a remote with `git config --add remote.<name>.pushguardUrl
//! <url>` (a repository that moved keeps counting the records made under its old address).

use std::collections::HashMap;
use std::path::Path;

use crate::audit::Record;

use crate::git::Repo;

/// The git config key (under `remote.<name>.`) naming extra URLs of a remote.
pub const EXTRA_URL_KEY: &str = "pushguardurl";

/// The normalised form of a remote URL or path: `host/path` for network URLs (scheme, user,
/// port, a trailing `.git` and slashes dropped, host lowercased), the absolute path (symbolic
/// links resolved when it exists, `.git` and slashes dropped) for a local repository.
pub fn key(url: &str) -> String {
    let url = url.trim();
    if let Some((scheme, rest)) = url.split_once("://") {
        if scheme.eq_ignore_ascii_case("file") {
            return local_key(rest);
        }
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        return host_key(authority, path);
    }
    // scp-like syntax: `[user@]host:path`, a colon before any slash.
    if let Some((host, path)) = url.split_once(':') {
        if !host.is_empty() && !host.contains('/') && !url.starts_with('/') {
            return host_key(host, path);
        }
    }
    local_key(url)
}

fn host_key(authority: &str, path: &str) -> String {
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.rsplit_once(':') {
        // A port, not part of an IPv6 address in brackets.
        Some((h, port)) if !port.contains(']') => h,
        _ => host,
    };
    let path = path.trim_start_matches('/').trim_start_matches("~/");
    format!("{}/{}", host.to_ascii_lowercase(), trim_repo_suffix(path))
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

/// The identities of `remote` (a configured remote's name, or a URL) in this clone: the
/// normalised keys of its URL, push URLs (as configured and as git rewrites them with
/// `insteadOf`) and any `remote.<name>.pushguardUrl`.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ways_of_writing_one_address_compare_equal() {
        let forms = [
            "git@github.com:team/app.git",
            "ssh://git@github.com/team/app",
            "ssh://git@GitHub.com:22/team/app.git/",
            "https://github.com/team/app",
            "https://user@github.com/team/app.git",
        ];
        for f in forms {
            assert_eq!(key(f), "github.com/team/app", "{f}");
        }
    }

    #[test]
    fn different_repositories_stay_apart() {
        assert_ne!(
            key("git@github.com:team/app.git"),
            key("git@github.com:team/app2.git")
        );
        assert_ne!(
            key("git@github.com:team/app.git"),
            key("git@gitlab.com:team/app.git")
        );
        assert_ne!(key("/srv/git/app.git"), key("/srv/git/throwaway.git"));
    }

    #[test]
    fn local_paths_lose_the_git_suffix_and_file_scheme() {
        assert_eq!(key("/srv/none/app.git/"), "/srv/none/app");
        assert_eq!(key("file:///srv/none/app.git"), "/srv/none/app");
        assert_eq!(key("/srv/none/app"), "/srv/none/app");
    }
}
