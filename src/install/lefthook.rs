//! lefthook's per-clone config, `lefthook-local.yml`: written without any path of this
//! machine and kept out of commits, so that a routine `git add -A` cannot hand every teammate
//! a file naming one person's clone (issue 22, item 5).
//!
//! The command finds the per-clone shim from git at run time
//! (`$(git rev-parse --git-common-dir)/pushguard/hooks/pre-push`), so the same file works in
//! every clone that ran `pushguard install`, and in one that did not it prints a note and lets
//! the push through (as husky's committed block does). The file is listed in
//! `.git/info/exclude`. A committed copy is never rewritten behind the team's back: `install`
//! refuses and says what to do, `status` and `doctor` say what it does in this clone.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _, Result};

use super::{clone_shim, sh_quote};
use crate::outcome::WithHint;

/// The first line of a `lefthook-local.yml` that pushguard wrote.
pub const LEFTHOOK_MARK: &str = "# pushguard-managed-lefthook-local";

/// The lines pushguard adds to `.git/info/exclude` start with this comment.
const EXCLUDE_MARK: &str =
    "# pushguard: the per-clone lefthook config (removed by `pushguard uninstall`)";

/// Quotes a string as a YAML single-quoted scalar.
fn yaml_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The lefthook config that runs pushguard: `run` is the command (`{1} {2}` in it are git's
/// arguments); `use_stdin` hands it git's ref lines, `no_tty` stops lefthook's spinner from
/// drawing over the question pushguard asks on `/dev/tty`. lefthook skips a pre-push command
/// when the push changes no files (a branch deletion, a promotion of commits the remote has):
/// `files` names `config_file` (the file this snippet lives in, so it exists) and `run`
/// references it after a shell comment, so pushguard runs on every push.
pub fn lefthook_snippet(run: &str, config_file: &str) -> String {
    format!(
        "no_tty: true\npre-push:\n  commands:\n    pushguard:\n      run: {}\n      files: {}\n      use_stdin: true\n",
        yaml_quote(&format!("{run} # {{files}}")),
        yaml_quote(&format!("echo {}", sh_quote(config_file)))
    )
}

/// The snippet for the team's committed lefthook config (pushguard from `PATH`).
pub fn lefthook_team_snippet(config_file: &str) -> String {
    lefthook_snippet(
        "PUSHGUARD_VIA=lefthook pushguard hook pre-push {1} {2}",
        config_file,
    )
}

/// The shell command lefthook runs from `lefthook-local.yml` (lefthook fills in `{1} {2}`).
pub fn local_run() -> String {
    concat!(
        r#"pushguard_hook="$(git rev-parse --path-format=absolute --git-common-dir)/pushguard/hooks/pre-push"; "#,
        r#"if [ -x "$pushguard_hook" ]; then PUSHGUARD_VIA=lefthook "$pushguard_hook" {1} {2}; "#,
        r#"else echo "pushguard: not installed in this clone, so environment pushes are not gated here (run: pushguard install)" >&2; fi"#
    )
    .to_owned()
}

/// The whole `lefthook-local.yml` pushguard writes; `name` is its path from the work-tree
/// root (`lefthook-local.yml`, `.config/lefthook-local.yml`).
pub fn local_text(name: &str) -> String {
    format!(
        "{LEFTHOOK_MARK}: written by `pushguard install`, removed by `pushguard uninstall`; no path of this clone in it, and kept out of commits (.git/info/exclude)\n{}",
        lefthook_snippet(&local_run(), name)
    )
}

/// The file's path from the work-tree root.
fn name_in(root: &Path, local: &Path) -> String {
    local
        .strip_prefix(root)
        .unwrap_or(local)
        .to_string_lossy()
        .into_owned()
}

/// Tells whether git tracks `path` (it is committed, or staged to be).
pub fn is_tracked(root: &Path, path: &Path) -> bool {
    Command::new("git")
        .current_dir(root)
        .args(["ls-files", "--error-unmatch", "--"])
        .arg(path)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The absolute shim path an older pushguard wrote into the file, if it names one: its `run`
/// was `PUSHGUARD_VIA=lefthook '<path>' {1} {2} # {files}`, shell-quoted inside a YAML
/// single-quoted scalar.
pub fn named_shim(text: &str) -> Option<PathBuf> {
    let scalar = text
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("run: '"))?;
    let command = scalar.strip_suffix('\'')?.replace("''", "'");
    let mut rest = command.strip_prefix("PUSHGUARD_VIA=lefthook '")?;
    // A POSIX single-quoted word, in which `'\''` stands for a quote.
    let mut path = String::new();
    loop {
        let end = rest.find('\'')?;
        path.push_str(&rest[..end]);
        match rest[end..].strip_prefix(r"'\''") {
            Some(more) => {
                path.push('\'');
                rest = more;
            }
            None => return Some(PathBuf::from(path)),
        }
    }
}

/// What a pushguard-written `lefthook-local.yml` does in this clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Local {
    /// It runs this clone's shim (found at run time, or named and present).
    Runs,
    /// It runs the per-clone shim, which this clone does not have (`pushguard install`).
    NoShim,
    /// It names a shim of another clone (an older pushguard's file, committed): lefthook
    /// fails every push here with "not found" when that path does not exist.
    Foreign { shim: PathBuf, exists: bool },
}

/// Reads what a pushguard-written local config does here.
pub fn local_state(text: &str) -> Local {
    let own = clone_shim().ok();
    match named_shim(text) {
        Some(shim) if Some(&shim) != own.as_ref() => Local::Foreign {
            exists: shim.is_file(),
            shim,
        },
        _ if own.is_some_and(|s| s.is_file()) => Local::Runs,
        _ => Local::NoShim,
    }
}

/// Writes `local` (unless it is current), and keeps it out of commits. A committed copy is
/// rewritten only with `force`; otherwise the refusal says what to do.
pub fn install_local(root: &Path, local: &Path, force: bool) -> Result<()> {
    let name = name_in(root, local);
    let text = local_text(&name);
    let tracked = is_tracked(root, local);
    match fs::read(local)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
    {
        Some(existing) if existing == text => {}
        Some(existing) if !existing.starts_with(LEFTHOOK_MARK) => {
            bail!(
                "`{}` exists and is not pushguard's; pushguard will not merge YAML into it\nadd these lines to it (merging with an existing `pre-push:` section), then run `pushguard doctor`:\n\n{}",
                local.display(),
                lefthook_snippet(&local_run(), &name)
            );
        }
        Some(existing) if tracked && !force => {
            let what = match local_state(&existing) {
                Local::Foreign { shim, exists: false } => format!(
                    "it runs pushguard from `{}`, a path in the clone that committed it, which does not exist here: lefthook fails every push in this clone (feature branches too) with \"not found\"",
                    shim.display()
                ),
                Local::Foreign { shim, exists: true } => format!(
                    "it runs pushguard from `{}`, a path in one clone: every other clone's pushes fail with \"not found\"",
                    shim.display()
                ),
                Local::Runs | Local::NoShim => {
                    "it differs from the one this pushguard writes".to_owned()
                }
            };
            return Err(anyhow::anyhow!(
                "`{name}` is committed, and pushguard does not rewrite a committed file behind your back: {what}"
            ))
            .hint(
                "or keep it committed in the form that works in every clone (no path in it): `pushguard install --force` rewrites it here; commit that"
            )
            .hint(format!(
                "stop sharing it: `git rm --cached {name}` and commit that; then `pushguard install` in each clone writes its own and keeps it out of commits"
            ));
        }
        _ => {
            fs::write(local, &text)
                .with_context(|| format!("failed to write `{}`", local.display()))?;
            if tracked {
                eprintln!(
                    "pushguard: rewrote the committed {name} without any path of this clone (--force): commit it, so that it works in every clone"
                );
            }
        }
    }
    if !tracked {
        exclude(&name)?;
    }
    Ok(())
}

/// Removes `local` if pushguard wrote it, and its line in `.git/info/exclude`.
pub fn remove_local(root: &Path, local: &Path) -> Result<()> {
    let name = name_in(root, local);
    match fs::read(local)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
    {
        Some(text) if text.starts_with(LEFTHOOK_MARK) => {
            let tracked = is_tracked(root, local);
            fs::remove_file(local)
                .with_context(|| format!("failed to remove `{}`", local.display()))?;
            eprintln!("pushguard: removed {}", local.display());
            if tracked {
                eprintln!(
                    "pushguard: note: {name} is committed: its deletion is in your work tree only; commit it to stop running pushguard from it for the whole team, or `git checkout -- {name}` to keep it"
                );
            }
        }
        Some(_) => eprintln!(
            "pushguard: {} is not pushguard's; remove its pushguard command by hand",
            local.display()
        ),
        None => eprintln!(
            "pushguard: {} does not exist; nothing to do",
            local.display()
        ),
    }
    unexclude(&name)
}

/// `.git/info/exclude` of this clone (shared by its worktrees).
fn exclude_file() -> Result<PathBuf> {
    Ok(crate::git::common_dir_via_git()?
        .join("info")
        .join("exclude"))
}

/// The pattern that ignores the file at `name` (from the root) and nothing else.
fn pattern(name: &str) -> String {
    format!("/{name}")
}

/// Lists the local config in `.git/info/exclude`, once.
fn exclude(name: &str) -> Result<()> {
    let path = exclude_file()?;
    let text = fs::read_to_string(&path).unwrap_or_default();
    let line = pattern(name);
    if text.lines().any(|l| l.trim() == line) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("failed to create `{}`", dir.display()))?;
    }
    let mut out = text;
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!("{EXCLUDE_MARK}\n{line}\n"));
    fs::write(&path, out).with_context(|| format!("failed to write `{}`", path.display()))
}

/// Removes the lines [`exclude`] added.
fn unexclude(name: &str) -> Result<()> {
    let path = exclude_file()?;
    let Ok(text) = fs::read_to_string(&path) else {
        return Ok(());
    };
    let line = pattern(name);
    let lines: Vec<&str> = text.lines().collect();
    let mut kept = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        if lines[i] == EXCLUDE_MARK && lines.get(i + 1).is_some_and(|l| l.trim() == line) {
            i += 2;
            continue;
        }
        kept.push(lines[i]);
        i += 1;
    }
    if kept.len() == lines.len() {
        return Ok(());
    }
    let mut out = kept.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    fs::write(&path, out).with_context(|| format!("failed to write `{}`", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_config_names_no_path_issue_22() {
        let text = local_text("lefthook-local.yml");
        assert!(text.starts_with(LEFTHOOK_MARK));
        assert!(!text.contains("/.git/"), "{text}");
        assert!(
            text.contains("--git-common-dir)/pushguard/hooks/pre-push"),
            "{text}"
        );
        assert!(text.contains("use_stdin: true"));
        assert_eq!(named_shim(&text), None);
    }

    #[test]
    fn an_older_files_shim_path_is_read_back() {
        // As an older pushguard wrote it: the shell-quoted path inside YAML quotes.
        let command = format!(
            "PUSHGUARD_VIA=lefthook {} {{1}} {{2}}",
            sh_quote("/home/al's/app/.git/pushguard/hooks/pre-push")
        );
        let old = format!(
            "{LEFTHOOK_MARK}: …\n{}",
            lefthook_snippet(&command, "lefthook-local.yml")
        );
        assert_eq!(
            named_shim(&old),
            Some(PathBuf::from(
                "/home/al's/app/.git/pushguard/hooks/pre-push"
            ))
        );
    }

    #[test]
    fn lefthook_snippet_quotes_the_command_for_yaml() {
        let s = lefthook_snippet(
            "PUSHGUARD_VIA=lefthook '/it''s/pre-push' {1} {2}",
            "lefthook-local.yml",
        );
        assert!(
            s.contains("run: 'PUSHGUARD_VIA=lefthook ''/it''''s/pre-push'' {1} {2} # {files}'"),
            "{s}"
        );
        assert!(s.contains("files: 'echo ''lefthook-local.yml'''"), "{s}");
        assert!(s.contains("use_stdin: true"));
        assert!(s.starts_with("no_tty: true\n"));
    }
}
