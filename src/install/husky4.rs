//! husky v4 (hooks configured in `package.json` under `"husky": {"hooks": …}` or in a
//! `.huskyrc`): its install script writes a stub per hook into git's own hooks directory
//! (`<git common dir>/hooks`), each sourcing `husky.sh` there, which takes the hook's name
//! from `$0` and runs the configured command. It skips a hook it did not write ("skipping
//! existing user hook"), so pushguard's hook, once there, stays there through every `npm
//! install`; but husky's stub cannot be chained under another name (it would look up the
//! command for `pre-push.pushguard-chained`, find none and exit 0). pushguard therefore chains
//! an adapter that runs `husky.sh` under the name `pre-push`, in either install order, and
//! keeps husky's own stub inside it for `pushguard uninstall` to put back.

use std::fs;
use std::path::Path;

use anyhow::{bail, Context as _, Result};

use crate::install::{self, Kind, CHAINED_HOOK};
use crate::outcome::WithHint;

/// The first line after the `#!` of the adapter pushguard chains for husky v4.
pub const ADAPTER_MARK: &str = "# pushguard-husky4-adapter";
/// The prefix of the lines that keep husky's own stub inside the adapter.
const KEPT: &str = "#| ";

/// husky v4's configuration files besides `package.json` (what its `husky.sh` looks at).
const RC_FILES: &[&str] = &[
    ".huskyrc",
    ".huskyrc.json",
    ".huskyrc.yaml",
    ".huskyrc.yml",
    ".huskyrc.js",
    ".huskyrc.cjs",
    "husky.config.js",
    "husky.config.cjs",
];

/// Tells whether a hook's text is husky v4's stub (`# husky`, sourcing `husky.sh`).
pub fn is_stub(text: &str) -> bool {
    !is_adapter(text)
        && text
            .lines()
            .any(|l| matches!(l.trim(), "# husky" | "#husky"))
        && text.contains("/husky.sh\"")
}

/// Tells whether a hook's text is pushguard's adapter for husky v4.
pub fn is_adapter(text: &str) -> bool {
    text.lines().take(2).any(|l| l.starts_with(ADAPTER_MARK))
}

/// Tells whether husky v4 is installed in the hooks directory `dir` (its `husky.sh` and
/// `husky.local.sh` sit beside the hooks; v5–v8 keep theirs in `.husky/_/`).
pub fn installed_in(dir: &Path) -> bool {
    dir.join("husky.sh").is_file() && dir.join("husky.local.sh").is_file()
}

/// Tells whether the project at `root` configures husky v4 hooks (and has no `.husky/`
/// directory, which is v5 and later).
pub fn configured_in(root: &Path) -> bool {
    if root.join(".husky").is_dir() {
        return false;
    }
    if RC_FILES.iter().any(|f| root.join(f).is_file()) {
        return true;
    }
    fs::read(root.join("package.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|p| p.get("husky").and_then(|h| h.get("hooks")).is_some())
}

/// The adapter's text; `original` is husky's stub that it replaces, if there was one.
pub fn adapter_text(original: Option<&str>) -> String {
    let mut text = format!(
        r#"#!/bin/sh
{ADAPTER_MARK}: written by `pushguard install`, removed by `pushguard uninstall`
# Runs husky v4's pre-push (the command in package.json or .huskyrc) after pushguard allows a
# push. husky.sh names the hook after $0, so it runs under the name pre-push, from this
# directory, with git's arguments and stdin.
hooks_dir=$(dirname "$0")
[ -f "$hooks_dir/husky.sh" ] || exit 0
exec sh -c '. "$(dirname "$0")/husky.sh"' "$hooks_dir/pre-push" "$@"
"#
    );
    if let Some(original) = original {
        text.push_str("# husky's own pre-push hook, as pushguard found it (`pushguard uninstall` puts it back):\n");
        for line in original.lines() {
            text.push_str(KEPT);
            text.push_str(line);
            text.push('\n');
        }
    }
    text
}

/// husky's stub kept inside an adapter.
fn kept_original(adapter: &str) -> Option<String> {
    let lines: Vec<&str> = adapter
        .lines()
        .filter_map(|l| l.strip_prefix(KEPT))
        .collect();
    (!lines.is_empty()).then(|| lines.iter().map(|l| format!("{l}\n")).collect())
}

/// A stub as husky v4 writes it, for a clone where pushguard was installed before husky (so
/// husky skipped `pre-push`); husky's next install recognises it by `# husky` and updates it.
fn fresh_stub() -> String {
    "#!/bin/sh\n# husky\n# Written by `pushguard uninstall` in husky v4's place.\n\n. \"$(dirname \"$0\")/husky.sh\"\n"
        .to_owned()
}

fn read_text(path: &Path) -> Option<String> {
    fs::read(path)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Installs pushguard's hook in `dir` with husky v4's pre-push chained behind it.
pub fn install(dir: &Path, force: bool) -> Result<()> {
    let hook = dir.join(Kind::PrePush.name());
    let chained = dir.join(CHAINED_HOOK);
    let hook_text = read_text(&hook);
    let chained_text = read_text(&chained);
    let stub = hook_text.as_deref().filter(|t| is_stub(t));
    if hook_text
        .as_deref()
        .is_some_and(|t| !install::is_ours(t) && !is_stub(t))
    {
        return Err(anyhow::anyhow!(
            "`{}` is another tool's hook, and husky v4 also runs from this directory; pushguard will not choose between them",
            hook.display()
        ))
        .hint("move that hook's command into husky's `pre-push` in package.json, remove the file, then run `pushguard install` again");
    }
    let original = match (stub, chained_text.as_deref()) {
        (Some(stub), None) => Some(stub.to_owned()),
        (Some(_), Some(other)) if !is_adapter(other) && !is_stub(other) => bail!(
            "`{}` is husky v4's hook, and `{}` already holds a chained hook; pushguard will not choose between them",
            hook.display(),
            chained.display()
        ),
        (Some(stub), Some(_)) => Some(stub.to_owned()),
        // An earlier install chained husky's stub under pushguard's name, where it ran
        // nothing: it goes back inside the adapter.
        (None, Some(other)) if is_stub(other) => Some(other.to_owned()),
        (None, Some(adapter)) if is_adapter(adapter) => kept_original(adapter),
        (None, Some(_)) => bail!(
            "`{}` holds another hook that pushguard chains; husky v4's pre-push would not run after pushguard",
            chained.display()
        ),
        (None, None) => None,
    };
    let adapter = adapter_text(original.as_deref());
    if chained_text.as_deref() != Some(adapter.as_str()) {
        install::write_executable(&chained, &adapter)?;
    }
    if stub.is_some() {
        // husky's stub now lives in the adapter; pushguard's hook takes its place.
        fs::remove_file(&hook).with_context(|| format!("failed to remove `{}`", hook.display()))?;
    }
    install::install_kind(Kind::PrePush, dir, force)?;
    eprintln!(
        "pushguard: husky v4's pre-push (package.json) runs after pushguard allows a push: {}",
        chained.display()
    );
    Ok(())
}

/// Undoes [`install()`]: husky's stub goes back in place of pushguard's hook.
pub fn uninstall(dir: &Path) -> Result<()> {
    let hook = dir.join(Kind::PrePush.name());
    let chained = dir.join(CHAINED_HOOK);
    let ours = matches!(
        install::hook_state(dir)?,
        install::HookState::Current | install::HookState::Outdated
    );
    let Some(adapter) = read_text(&chained).filter(|t| ours && is_adapter(t)) else {
        return install::uninstall_kind(Kind::PrePush, dir);
    };
    let original = kept_original(&adapter).or_else(|| installed_in(dir).then(fresh_stub));
    fs::remove_file(&chained)
        .with_context(|| format!("failed to remove `{}`", chained.display()))?;
    match original {
        Some(stub) => {
            install::write_executable(&hook, &stub)?;
            eprintln!(
                "pushguard: removed the pre-push hook and put husky v4's back: {}",
                hook.display()
            );
        }
        None => {
            fs::remove_file(&hook)
                .with_context(|| format!("failed to remove `{}`", hook.display()))?;
            eprintln!("pushguard: removed the pre-push hook: {}", hook.display());
        }
    }
    Ok(())
}

/// `pushguard status`'s view: whether pushguard's hook runs, and whether husky's runs after it.
pub fn summary(dir: &Path) -> Result<(bool, String)> {
    let hook = read_text(&dir.join(Kind::PrePush.name())).unwrap_or_default();
    let adapter = read_text(&dir.join(CHAINED_HOOK)).is_some_and(|t| is_adapter(&t));
    Ok(if install::is_ours(&hook) && adapter {
        (
            true,
            "git runs pushguard's pre-push hook, then husky v4's".to_owned(),
        )
    } else if install::is_ours(&hook) {
        (
            true,
            "git runs pushguard's pre-push hook, but not husky v4's pre-push command after it (run `pushguard install` to chain it)".to_owned(),
        )
    } else if is_stub(&hook) {
        (
            false,
            "husky v4's pre-push hook, which does not run pushguard".to_owned(),
        )
    } else {
        (false, "no pre-push hook runs pushguard".to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STUB: &str =
        "#!/bin/sh\n# husky\n\n# Created by Husky v4.3.8\n\n. \"$(dirname \"$0\")/husky.sh\"\n";

    #[test]
    fn stubs_and_adapters_are_told_apart_and_the_stub_comes_back() {
        assert!(is_stub(STUB));
        let adapter = adapter_text(Some(STUB));
        assert!(is_adapter(&adapter));
        assert!(!is_stub(&adapter));
        assert_eq!(kept_original(&adapter).as_deref(), Some(STUB));
        assert_eq!(kept_original(&adapter_text(None)), None);
        assert!(!is_stub("#!/usr/bin/env sh\n. \"$(dirname \"$0\")/h\"\n"));
        assert!(!is_stub("#!/bin/sh\nnpm test\n"));
    }
}
