//! Git's `safe.directory` protection, said plainly: a repository owned by another user (root
//! in a bare repository that belongs to the account a server runs as) is one that git and
//! libgit2 refuse to open, and every command says so, with the two ways forward, instead of
//! carrying on as if there were no repository (issue 24, item 3).

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use git2::ErrorCode;

/// Why the repository here cannot be opened because of its owner, if that is so: an error
/// naming the repository, its owner and the user running pushguard, with hints.
pub fn refusal() -> Option<anyhow::Error> {
    let err = match git2::Repository::open_from_env() {
        Err(e) if e.code() == ErrorCode::Owner => e,
        _ => return None,
    };
    let path = quoted_path(err.message())
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."));
    Some(refused(&path))
}

/// The error for a repository at `path` that git will not open for its owner.
pub fn refused(path: &Path) -> anyhow::Error {
    let owner = std::fs::metadata(path).ok().map(|m| user_name(m.uid()));
    let me = user_name(current_uid());
    let owner_said = owner
        .as_deref()
        .map(|o| format!("it belongs to {o}, and you are {me}"))
        .unwrap_or_else(|| format!("it does not belong to you ({me})"));
    let err = anyhow::anyhow!(
        "git refuses to open the repository `{}`: {owner_said} (git's safe.directory protection), so pushguard cannot read its configuration or its hooks",
        path.display()
    );
    let as_owner = owner.as_deref().unwrap_or("<owner>");
    crate::outcome::with_hint(
        crate::outcome::with_hint(
            err,
            format!(
                "or, if you trust the repository, let git open it for you: `git config --global --add safe.directory {}`",
                path.display()
            ),
        ),
        format!(
            "run pushguard as the repository's owner: `sudo -u {as_owner} {}`",
            this_command()
        ),
    )
}

/// Tells whether git's own message says it refused a repository for its owner.
pub fn is_refusal_message(stderr: &str) -> bool {
    stderr.contains("dubious ownership")
}

/// The path libgit2 quotes in its message (`repository path '/srv/app.git' is not owned by
/// current user`).
fn quoted_path(message: &str) -> Option<PathBuf> {
    let start = message.find('\'')? + 1;
    let end = start + message[start..].find('\'')?;
    Some(PathBuf::from(&message[start..end]))
}

fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The user name of `uid` (through NSS, as `getent` resolves it), else `uid N`.
fn user_name(uid: u32) -> String {
    Command::new("getent")
        .args(["passwd", &uid.to_string()])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split(':')
                .next()
                .map(str::to_owned)
        })
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| format!("uid {uid}"))
}

/// The command line being run, as the user would type it again (`pushguard config --check`).
fn this_command() -> String {
    let mut words = vec!["pushguard".to_owned()];
    words.extend(std::env::args().skip(1).map(|a| {
        if !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:@,+".contains(c))
        {
            a
        } else {
            format!("'{}'", a.replace('\'', r"'\''"))
        }
    }));
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_is_read_from_libgit2s_message() {
        assert_eq!(
            quoted_path("repository path '/srv/git/app.git' is not owned by current user"),
            Some(PathBuf::from("/srv/git/app.git"))
        );
        assert_eq!(quoted_path("no quotes"), None);
        assert!(is_refusal_message(
            "fatal: detected dubious ownership in repository at '/srv/git/app.git'"
        ));
    }
}
