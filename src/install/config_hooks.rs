//! `pushguard install --config-hooks`: pushguard as a config-based hook
//! (`hook.pushguard.command`, `hook.pushguard.event = pre-push`), which git runs from 2.54 on
//! beside whatever a hook manager keeps in the hooks directory.
//!
//! Older gits ignore these keys silently, which would leave pushes ungated, so the version
//! is checked first and an older git is refused with the way that works instead.

use std::process::Command;

use anyhow::{bail, Context as _, Result};

use crate::install::{self, Kind};
use crate::outcome::{Exit, WithHint};

/// The first git version that runs config-based hooks.
pub const MIN_GIT: (u32, u32) = (2, 54);

/// The config section pushguard writes.
pub const SECTION: &str = "hook.pushguard";

/// Parses `git version 2.47.3` (also `2.39.2 (Apple Git-143)`, `2.54.0.rc1`) into
/// (major, minor).
pub fn parse_version(text: &str) -> Option<(u32, u32)> {
    let version = text.trim().strip_prefix("git version ")?;
    let mut parts = version.split(|c: char| c == '.' || c.is_whitespace());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

fn git_version() -> Result<(String, (u32, u32))> {
    let out = Command::new("git")
        .arg("version")
        .output()
        .context("failed to run `git version`; is git installed?")?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let version = parse_version(&text)
        .with_context(|| format!("failed to read git's version from `{text}`"))?;
    Ok((text, version))
}

/// The config entries that make git run pushguard as its pre-push hook at `bin`.
pub fn entries(bin: &std::path::Path) -> Vec<(String, String)> {
    let quoted = format!("'{}'", bin.to_string_lossy().replace('\'', r"'\''"));
    vec![
        (
            format!("{SECTION}.command"),
            format!("{quoted} hook pre-push"),
        ),
        (format!("{SECTION}.event"), "pre-push".to_owned()),
    ]
}

/// `pushguard install --config-hooks`.
pub fn install(_force: bool) -> Result<Exit> {
    let (text, version) = git_version()?;
    if version < MIN_GIT {
        return Err(anyhow::anyhow!(
            "config-based hooks need git >= {}.{}; this is {text}",
            MIN_GIT.0,
            MIN_GIT.1
        ))
        .hint("run `pushguard install` without --config-hooks: a hook file works with every git");
    }
    for (key, value) in entries(&install::current_binary()?) {
        let status = Command::new("git")
            .args(["config", "--local", &key, &value])
            .status()
            .with_context(|| format!("failed to run `git config {key}`"))?;
        if !status.success() {
            bail!("`git config --local {key}` failed");
        }
    }
    eprintln!("pushguard: git runs pushguard as a config-based pre-push hook ({SECTION}.command)");
    // Both would run: the hook file goes, so that a push is gated once.
    let dir = install::hooks_dir()?;
    if matches!(
        install::hook_state(&dir)?,
        install::HookState::Current | install::HookState::Outdated
    ) {
        install::uninstall_kind(Kind::PrePush, &dir)?;
    }
    eprint!("{}", install::gated::note());
    Ok(Exit::Success)
}

/// Removes the config-based hook, if this clone has it; tells whether it did.
pub fn uninstall() -> Result<bool> {
    let has = Command::new("git")
        .args(["config", "--local", "--get", &format!("{SECTION}.command")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has {
        return Ok(false);
    }
    let status = Command::new("git")
        .args(["config", "--local", "--remove-section", SECTION])
        .status()
        .context("failed to run `git config --remove-section`")?;
    if !status.success() {
        bail!("`git config --local --remove-section {SECTION}` failed");
    }
    eprintln!("pushguard: removed the config-based hook ({SECTION})");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_compare() {
        assert_eq!(parse_version("git version 2.47.3\n"), Some((2, 47)));
        assert_eq!(
            parse_version("git version 2.39.2 (Apple Git-143)"),
            Some((2, 39))
        );
        assert_eq!(parse_version("git version 2.54.0.rc1"), Some((2, 54)));
        assert_eq!(parse_version("hub version 1"), None);
        assert!(parse_version("git version 2.47.3").unwrap() < MIN_GIT);
        assert!(parse_version("git version 3.0.0").unwrap() >= MIN_GIT);
    }

    #[test]
    fn entries_quote_the_binary_for_the_shell() {
        let e = entries(std::path::Path::new("/opt/it's/pushguard"));
        assert_eq!(e[0].1, r"'/opt/it'\''s/pushguard' hook pre-push");
        assert_eq!(
            e[1],
            ("hook.pushguard.event".to_owned(), "pre-push".to_owned())
        );
    }
}
