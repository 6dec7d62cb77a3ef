//! Living beside hook managers: finding which one owns a clone's pre-push hook (husky,
//! lefthook, pre-commit, prek) and putting pushguard in its path the way that manager
//! expects, so that the manager's own re-install keeps pushguard there.
//!
//! - husky (v5–v9: `core.hooksPath` is `.husky` or `.husky/_`): a marked block at the top of
//!   the user script `.husky/pre-push`; `.husky/_` is never written.
//! - husky v4 (hooks in `package.json`, its stubs in `.git/hooks`): pushguard's own hook, with
//!   husky's runner chained behind it under the name `pre-push` ([`super::husky4`]).
//! - lefthook: a `lefthook-local.yml` (per clone, merged by lefthook, kept out of commits and
//!   naming no path: [`super::lefthook`]) with `use_stdin` and `no_tty`, or a snippet for the
//!   team's `lefthook.yml` (`pushguard install --print`).
//! - pre-commit and prek: their legacy hook, `pre-push.legacy`, which their script runs first
//!   with git's stdin; their script is never chained (in migration mode it refuses to run).
//!
//! husky's block and lefthook's command run a per-clone shim kept in the state directory
//! (`<git common dir>/pushguard/hooks/pre-push`), so that nothing committed names a path of
//! one person's machine. Anything else that owns the hook keeps today's chaining
//! ([`crate::install`]).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _, Result};

use crate::install::{self, clone_shim, husky4, lefthook, Kind};
use crate::outcome::WithHint;
use lefthook::{lefthook_team_snippet, LEFTHOOK_MARK};

/// pre-commit's (and prek's) name for the hook that ran there before them.
pub const LEGACY_HOOK: &str = "pre-push.legacy";

/// The first line of pushguard's block in a husky user script.
pub const BLOCK_START: &str = "# >>> pushguard";
/// The same, when pushguard created the script (uninstall then removes the file).
const BLOCK_START_CREATED: &str = "# >>> pushguard [created this file]";
/// The last line of pushguard's block in a husky user script.
pub const BLOCK_END: &str = "# <<< pushguard <<<";

/// pre-commit's hook script ID (current and the one its script still accepts).
const PRE_COMMIT_IDS: &[&str] = &[
    "138fd403232d2ddd5efb44317e38bf03",
    "4d9958c90bc262f47553e2c073f14cfe",
    "d8ee923c46731b42cd95cc869add4062",
    "49fd668cb42069aa1b6048464be5d395",
    "79f09a650522a87b0da915d0d983b2de",
    "e358c9dae00eac5d06b38dfdb1e33a8c",
];
/// prek's hook script ID.
const PREK_ID: &str = "182c10f181da4464a3eec51b83331688";

/// lefthook's main config file names, in the order lefthook looks for them.
const LEFTHOOK_CONFIGS: &[&str] = &[
    "lefthook.yml",
    ".lefthook.yml",
    "lefthook.yaml",
    ".lefthook.yaml",
    ".config/lefthook.yml",
    ".config/lefthook.yaml",
];

/// The hook manager in charge of a clone's pre-push hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manager {
    /// husky; `script` is the user script (`.husky/pre-push`); `active` when git's
    /// `core.hooksPath` points into husky's directory (else husky is set up in the project
    /// but not yet installed in this clone).
    Husky { script: PathBuf, active: bool },
    /// husky v4 (hooks in `package.json`), which writes its stubs into git's own hooks
    /// directory; `active` when it is installed there ([`crate::install::husky4`]).
    HuskyV4 { active: bool },
    /// lefthook; `local` is the per-clone config it merges; `active` when its script is the
    /// pre-push hook.
    Lefthook { local: PathBuf, active: bool },
    /// pre-commit or prek (same conventions); `tool` is its name.
    PreCommit { tool: &'static str },
    /// No manager pushguard knows: a plain hook, another tool's, or none.
    None,
}

impl Manager {
    /// The manager's name as users know it.
    pub fn name(&self) -> &'static str {
        match self {
            Manager::Husky { .. } => "husky",
            Manager::HuskyV4 { .. } => "husky v4",
            Manager::Lefthook { .. } => "lefthook",
            Manager::PreCommit { tool } => tool,
            Manager::None => "none",
        }
    }
}

/// What a hook script's text says about who wrote it.
pub fn script_owner(text: &str) -> Option<&'static str> {
    if text.contains(PREK_ID) {
        Some("prek")
    } else if PRE_COMMIT_IDS.iter().any(|id| text.contains(id)) {
        Some("pre-commit")
    } else if text.contains("call_lefthook") || text.contains("lefthook run") {
        Some("lefthook")
    } else {
        None
    }
}

fn read_text(path: &Path) -> Option<String> {
    fs::read(path)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Finds the manager of the pre-push hook in `hooks_dir`, for the work tree at `root`.
pub fn detect(hooks_dir: &Path, root: Option<&Path>) -> Manager {
    if let Some(owner) = read_text(&hooks_dir.join("pre-push"))
        .as_deref()
        .and_then(script_owner)
    {
        return match owner {
            "lefthook" => Manager::Lefthook {
                local: lefthook_local(root.unwrap_or(hooks_dir)),
                active: true,
            },
            tool => Manager::PreCommit { tool },
        };
    }
    if husky4::installed_in(hooks_dir) {
        return Manager::HuskyV4 { active: true };
    }
    // husky v9: hooksPath is `<dir>/_` holding its helper `h`; v5–v8: hooksPath is `<dir>`
    // holding `_/husky.sh`. The user script is `<dir>/pre-push` either way.
    if hooks_dir.file_name().is_some_and(|n| n == "_") && hooks_dir.join("h").is_file() {
        if let Some(dir) = hooks_dir.parent() {
            return Manager::Husky {
                script: dir.join("pre-push"),
                active: true,
            };
        }
    }
    if hooks_dir.join("_").join("husky.sh").is_file() {
        return Manager::Husky {
            script: hooks_dir.join("pre-push"),
            active: true,
        };
    }
    let Some(root) = root else {
        return Manager::None;
    };
    if LEFTHOOK_CONFIGS.iter().any(|c| root.join(c).is_file()) {
        return Manager::Lefthook {
            local: lefthook_local(root),
            active: false,
        };
    }
    if husky4::configured_in(root) {
        return Manager::HuskyV4 { active: false };
    }
    let husky = root.join(".husky");
    let uses_husky = read_text(&root.join("package.json")).is_some_and(|p| p.contains("husky"));
    if husky.is_dir() && uses_husky {
        return Manager::Husky {
            script: husky.join("pre-push"),
            active: false,
        };
    }
    Manager::None
}

/// The per-clone lefthook config that goes with the project's main one.
fn lefthook_local(root: &Path) -> PathBuf {
    for name in LEFTHOOK_CONFIGS {
        if root.join(name).is_file() {
            let local = name
                .replace("lefthook.yml", "lefthook-local.yml")
                .replace("lefthook.yaml", "lefthook-local.yaml");
            return root.join(local);
        }
    }
    root.join("lefthook-local.yml")
}

/// The work tree's root, asked from git (hooks and commands may run in a subdirectory).
pub fn work_tree_root() -> Option<PathBuf> {
    let out = Command::new("git")
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim_end_matches('\n')))
}

/// The block that runs pushguard from a husky user script. It keeps git's ref lines for the
/// rest of the script (pushguard reads all of stdin, the commands after it may read it too).
pub fn husky_block(created: bool) -> String {
    let start = if created {
        BLOCK_START_CREATED
    } else {
        BLOCK_START
    };
    format!(
        r#"{start}: gates pushes to environment branches; `pushguard uninstall` removes this block >>>
pushguard_hook="$(git rev-parse --path-format=absolute --git-common-dir)/pushguard/hooks/pre-push"
if [ -x "$pushguard_hook" ]; then
  pushguard_in="$(mktemp)" || exit 1
  cat >"$pushguard_in"
  PUSHGUARD_VIA=husky "$pushguard_hook" "$@" <"$pushguard_in" || {{ pushguard_rc=$?; rm -f "$pushguard_in"; exit "$pushguard_rc"; }}
  exec <"$pushguard_in"
  rm -f "$pushguard_in"
else
  echo "pushguard: not installed in this clone, so environment pushes are not gated here (run \`pushguard install\`)" >&2
fi
{BLOCK_END}
"#
    )
}

/// Prints the committed snippet for the manager of this clone (`pushguard install --print`).
pub fn print_snippet() -> Result<crate::outcome::Exit> {
    let dir = install::hooks_dir()?;
    let root = work_tree_root();
    match detect(&dir, root.as_deref()) {
        Manager::Husky { script, .. } => {
            println!("# at the top of {} (after a `#!` line):", script.display());
            print!("{}", husky_block(false));
        }
        Manager::Lefthook { .. } => {
            let main = root
                .as_deref()
                .and_then(|r| LEFTHOOK_CONFIGS.iter().find(|c| r.join(c).is_file()))
                .copied()
                .unwrap_or("lefthook.yml");
            println!("# in {main} (merge with an existing `pre-push:` section):");
            print!("{}", lefthook_team_snippet(main));
        }
        Manager::HuskyV4 { .. } => {
            println!("# husky v4: nothing to commit; each clone runs `pushguard install`, which installs pushguard's pre-push hook in git's hooks directory and runs husky's pre-push after it");
        }
        Manager::PreCommit { tool } => {
            println!("# {tool}: nothing to commit; each clone runs `pushguard install`, which installs pushguard as {tool}'s legacy hook ({LEGACY_HOOK})");
        }
        Manager::None => {
            println!(
                "# no hook manager found: `pushguard install` installs the pre-push hook itself"
            );
        }
    }
    Ok(crate::outcome::Exit::Success)
}

/// Installs the pre-push hook the way the clone's manager expects. Returns `false` when no
/// manager is in charge (the caller chains as before).
pub fn install(dir: &Path, force: bool) -> Result<bool> {
    let root = work_tree_root();
    restore_chained_manager(dir)?;
    match detect(dir, root.as_deref()) {
        Manager::None => Ok(false),
        Manager::PreCommit { tool } => {
            install_legacy(dir, tool, force)?;
            Ok(true)
        }
        Manager::HuskyV4 { .. } => {
            husky4::install(dir, force)?;
            Ok(true)
        }
        Manager::Husky { script, active } => {
            write_clone_shim(force)?;
            install_husky_block(&script)?;
            if !active {
                // husky is in the project but not installed in this clone yet: guard through
                // git's own hooks until it is (then git stops looking there).
                install::install_kind(Kind::PrePush, dir, force)?;
            }
            eprintln!("pushguard: husky runs pushguard from {}", script.display());
            Ok(true)
        }
        Manager::Lefthook { local, active } => {
            let shared = lefthook_main_running(root.as_deref());
            if shared.is_none() {
                write_clone_shim(force)?;
                let top = root.as_deref().unwrap_or(dir);
                lefthook::install_local(top, &local, force)?;
            }
            remove_if_ours(&dir.join("pre-push.old"))?;
            if !active {
                install::install_kind(Kind::PrePush, dir, force)?;
            }
            match shared {
                Some(main) => eprintln!(
                    "pushguard: lefthook runs pushguard from {main}, the project's config, for the whole team (pushguard from PATH); nothing to add here"
                ),
                None => eprintln!(
                    "pushguard: lefthook runs pushguard from {} (this clone only, kept out of commits; for the whole team: `pushguard install --print`)",
                    local.display()
                ),
            }
            Ok(true)
        }
    }
}

/// Uninstalls what [`install()`] did for the clone's manager; `false` when none is in charge.
pub fn uninstall(dir: &Path) -> Result<bool> {
    let root = work_tree_root();
    let manager = detect(dir, root.as_deref());
    let handled = match &manager {
        Manager::None => false,
        Manager::PreCommit { tool } => {
            uninstall_legacy(dir, tool)?;
            true
        }
        Manager::HuskyV4 { .. } => {
            husky4::uninstall(dir)?;
            true
        }
        Manager::Husky { script, active } => {
            remove_husky_block(script)?;
            // Installed before husky, pushguard's hook is still in git's own hooks directory,
            // which git no longer reads: it goes too.
            let own = if *active {
                crate::git::common_dir_via_git()?.join("hooks")
            } else {
                dir.to_path_buf()
            };
            if matches!(
                install::hook_state(&own)?,
                install::HookState::Current | install::HookState::Outdated
            ) {
                install::uninstall_kind(Kind::PrePush, &own)?;
            }
            true
        }
        Manager::Lefthook { local, active } => {
            let top = root.as_deref().unwrap_or(dir);
            lefthook::remove_local(top, local)?;
            remove_if_ours(&dir.join("pre-push.old"))?;
            if !active {
                install::uninstall_kind(Kind::PrePush, dir)?;
            }
            if let Some(main) = lefthook_main_running(root.as_deref()) {
                eprintln!(
                    "pushguard: note: {main} still runs pushguard for the whole team (pushguard from PATH), so this clone is still gated; remove its `pushguard` command there to stop that"
                );
            }
            true
        }
    };
    if handled {
        let shim = clone_shim()?;
        if shim.exists() {
            fs::remove_file(&shim)
                .with_context(|| format!("failed to remove `{}`", shim.display()))?;
        }
    }
    Ok(handled)
}

/// The project's lefthook config file (a committed one, not the local one) that runs
/// pushguard for the team (`pushguard install --print`'s snippet), if one does.
fn lefthook_main_running(root: Option<&Path>) -> Option<&'static str> {
    let root = root?;
    LEFTHOOK_CONFIGS
        .iter()
        .copied()
        .find(|c| read_text(&root.join(c)).is_some_and(|t| t.contains("pushguard hook pre-push")))
}

/// Undoes an earlier install that chained a manager's script behind pushguard's hook: the
/// script goes back to `pre-push`, and pushguard then joins that manager its own way.
fn restore_chained_manager(dir: &Path) -> Result<()> {
    let hook = dir.join("pre-push");
    let chained = dir.join(super::CHAINED_HOOK);
    let owner = read_text(&chained).as_deref().and_then(script_owner);
    if read_text(&hook).is_some_and(|t| install::is_ours(&t)) && owner.is_some() {
        fs::rename(&chained, &hook)
            .with_context(|| format!("failed to restore `{}`", chained.display()))?;
        eprintln!(
            "pushguard: put {}'s script back as {} (pushguard now joins it the way it expects)",
            owner.unwrap_or_default(),
            hook.display()
        );
    }
    Ok(())
}

/// Writes the per-clone shim that husky's block and lefthook's command run.
fn write_clone_shim(force: bool) -> Result<()> {
    let shim = clone_shim()?;
    let text = install::kind_text(Kind::PrePush, &install::current_binary()?);
    if !force && read_text(&shim).as_deref() == Some(text.as_str()) {
        return Ok(());
    }
    let dir = shim.parent().expect("the shim path has a directory");
    fs::create_dir_all(dir).with_context(|| format!("failed to create `{}`", dir.display()))?;
    install::write_executable(&shim, &text)
}

/// Removes `path` if it is a pushguard shim (a stale copy a manager moved aside).
fn remove_if_ours(path: &Path) -> Result<()> {
    if read_text(path).is_some_and(|t| install::is_ours(&t)) {
        fs::remove_file(path).with_context(|| format!("failed to remove `{}`", path.display()))?;
        eprintln!(
            "pushguard: removed the stale pushguard hook {}",
            path.display()
        );
    }
    Ok(())
}

/// Splits a husky user script around pushguard's block: (before, block, after).
fn split_block(text: &str) -> Option<(String, String, String)> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let start = lines.iter().position(|l| l.starts_with(BLOCK_START))?;
    let end = start
        + lines[start..]
            .iter()
            .position(|l| l.trim_end() == BLOCK_END)?;
    Some((
        lines[..start].concat(),
        lines[start..=end].concat(),
        lines[end + 1..].concat(),
    ))
}

fn install_husky_block(script: &Path) -> Result<()> {
    let existing = read_text(script);
    let text = match existing.as_deref() {
        None => format!("#!/usr/bin/env sh\n{}", husky_block(true)),
        Some(text) => match split_block(text) {
            Some((before, block, after)) => {
                let created = block.starts_with(BLOCK_START_CREATED);
                format!("{before}{}{after}", husky_block(created))
            }
            None => {
                // First, so that it runs before anything that reads stdin or exits early.
                let (head, rest) = match text.split_once('\n') {
                    Some((first, rest)) if first.starts_with("#!") => (format!("{first}\n"), rest),
                    _ => (String::new(), text),
                };
                format!("{head}{}{rest}", husky_block(false))
            }
        },
    };
    if existing.as_deref() == Some(text.as_str()) {
        eprintln!("pushguard: {} already runs pushguard", script.display());
        return Ok(());
    }
    if let Some(dir) = script.parent() {
        fs::create_dir_all(dir).with_context(|| format!("failed to create `{}`", dir.display()))?;
    }
    write_keeping_mode(script, &text)
        .hint("husky's user script must be writable: pushguard adds its lines there")
}

/// Writes a user's file, keeping its permissions (a committed mode must not change); a new
/// file is executable.
fn write_keeping_mode(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = fs::metadata(path).ok().map(|m| m.permissions().mode());
    install::write_executable(path, text)?;
    if let Some(mode) = mode {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .with_context(|| format!("failed to restore the mode of `{}`", path.display()))?;
    }
    Ok(())
}

fn remove_husky_block(script: &Path) -> Result<()> {
    let Some(text) = read_text(script) else {
        eprintln!(
            "pushguard: {} does not exist; nothing to do",
            script.display()
        );
        return Ok(());
    };
    let Some((before, block, after)) = split_block(&text) else {
        eprintln!(
            "pushguard: {} has no pushguard lines; nothing to do",
            script.display()
        );
        return Ok(());
    };
    let rest = format!("{before}{after}");
    let only_shebang = rest
        .lines()
        .all(|l| l.trim().is_empty() || l.starts_with("#!"));
    if block.starts_with(BLOCK_START_CREATED) && only_shebang {
        fs::remove_file(script)
            .with_context(|| format!("failed to remove `{}`", script.display()))?;
        eprintln!(
            "pushguard: removed {} (pushguard had created it)",
            script.display()
        );
    } else {
        write_keeping_mode(script, &rest)?;
        eprintln!(
            "pushguard: removed pushguard's lines from {}",
            script.display()
        );
    }
    if committed_with_block(script) {
        let shown = script.display();
        eprintln!(
            "pushguard: note: {shown} is committed with pushguard's block, so this changed the team's file, in your work tree only (`git diff -- {shown}` shows it): commit it to stop running pushguard for the whole team, or `git checkout -- {shown}` to keep the team's block (this clone stays ungated either way: its shim is gone)"
        );
    }
    Ok(())
}

/// Tells whether the committed version (`HEAD`) of `path` holds pushguard's husky block.
fn committed_with_block(path: &Path) -> bool {
    let Some(root) = work_tree_root() else {
        return false;
    };
    let rel = path.strip_prefix(&root).unwrap_or(path);
    Command::new("git")
        .current_dir(&root)
        .arg("show")
        .arg(format!("HEAD:{}", rel.to_string_lossy()))
        .output()
        .is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains(BLOCK_START)
        })
}

/// pre-commit/prek: pushguard as their legacy hook, a legacy hook that was there chained.
fn install_legacy(dir: &Path, tool: &str, force: bool) -> Result<()> {
    let legacy = dir.join(LEGACY_HOOK);
    let chained = dir.join(super::CHAINED_HOOK);
    // An earlier install chained the manager's own script; with pushguard as its legacy hook
    // that copy would run in migration mode and fail every push. The manager runs its hooks
    // itself, so the copy goes.
    if read_text(&chained)
        .as_deref()
        .and_then(script_owner)
        .is_some_and(|o| o != "lefthook")
    {
        fs::remove_file(&chained)
            .with_context(|| format!("failed to remove `{}`", chained.display()))?;
        eprintln!(
            "pushguard: removed {} (a copy of {tool}'s script, which runs by itself)",
            chained.display()
        );
    }
    match read_text(&legacy) {
        Some(text) if install::is_ours(&text) => {}
        Some(_) => {
            if chained.exists() {
                bail!(
                    "`{}` is another tool's hook, and `{}` already holds a chained hook; pushguard will not choose between them",
                    legacy.display(),
                    chained.display()
                );
            }
            fs::rename(&legacy, &chained)
                .with_context(|| format!("failed to move `{}` aside", legacy.display()))?;
            eprintln!(
                "pushguard: kept the existing legacy hook as {}; it runs after pushguard allows a push",
                chained.display()
            );
        }
        None => {}
    }
    let text = install::kind_text(Kind::PrePush, &install::current_binary()?);
    if !force && read_text(&legacy).as_deref() == Some(text.as_str()) {
        eprintln!(
            "pushguard: already installed as {tool}'s legacy hook and current: {}",
            legacy.display()
        );
        return Ok(());
    }
    install::write_executable(&legacy, &text)?;
    eprintln!(
        "pushguard: installed as {tool}'s legacy hook, which {tool}'s pre-push runs first: {}",
        legacy.display()
    );
    Ok(())
}

fn uninstall_legacy(dir: &Path, tool: &str) -> Result<()> {
    let legacy = dir.join(LEGACY_HOOK);
    let chained = dir.join(super::CHAINED_HOOK);
    if !read_text(&legacy).is_some_and(|t| install::is_ours(&t)) {
        eprintln!("pushguard: pushguard is not {tool}'s legacy hook here; nothing to do");
        return Ok(());
    }
    if chained.exists() {
        fs::rename(&chained, &legacy)
            .with_context(|| format!("failed to restore `{}`", chained.display()))?;
        eprintln!(
            "pushguard: removed pushguard and restored the legacy hook it had chained: {}",
            legacy.display()
        );
    } else {
        fs::remove_file(&legacy)
            .with_context(|| format!("failed to remove `{}`", legacy.display()))?;
        eprintln!(
            "pushguard: removed pushguard, {tool}'s legacy hook: {}",
            legacy.display()
        );
    }
    Ok(())
}

/// Tells whether a chained hook must not run: pre-commit's or prek's script while pushguard
/// runs as their legacy hook (it would refuse, "installed in migration mode", and the
/// manager runs its hooks itself after pushguard).
pub fn skip_chained(path: &Path) -> bool {
    running_as_legacy().is_some()
        && read_text(path)
            .as_deref()
            .and_then(script_owner)
            .is_some_and(|o| o != "lefthook")
}

/// Which manager runs pushguard as its legacy hook, from the variable each sets for it.
pub fn running_as_legacy() -> Option<&'static str> {
    if std::env::var_os("PREK_RUNNING_LEGACY").is_some() {
        Some("prek")
    } else if std::env::var_os("PRE_COMMIT_RUNNING_LEGACY").is_some() {
        Some("pre-commit")
    } else {
        None
    }
}

/// Stops pre-commit or prek (`tool`), which ran pushguard as its legacy hook, before it runs
/// its own pre-push hooks: they run whatever the legacy hook answered, so a push pushguard
/// blocked (or that was interrupted) would still run the project's pre-push commands (issue
/// 22, item 9). Only the parent process is signalled, and only when its command line is that
/// manager's hook runner for `pre-push`. Returns whether it was stopped.
pub fn stop_manager(tool: &str) -> bool {
    let parent = std::os::unix::process::parent_id();
    let Some(command) = command_line(parent) else {
        return false;
    };
    let runner = if tool == "prek" {
        command.contains("prek")
    } else {
        command.contains("pre_commit") || command.contains("pre-commit")
    };
    if !(runner && command.contains("hook-impl") && command.contains("pre-push")) {
        return false;
    }
    eprintln!(
        "pushguard: stopped {tool} before its own pre-push hooks, since this push does not go ahead (git reports its hook as killed)"
    );
    let Ok(pid) = libc::pid_t::try_from(parent) else {
        return false;
    };
    // SAFETY: kill only sends a signal to the process checked above; an error is ignored.
    unsafe { libc::kill(pid, libc::SIGTERM) == 0 }
}

/// A process's command line, its arguments joined by spaces.
fn command_line(pid: u32) -> Option<String> {
    if let Ok(raw) = fs::read(format!("/proc/{pid}/cmdline")) {
        let args: Vec<String> = raw
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        return Some(args.join(" "));
    }
    let out = Command::new("ps")
        .args(["-o", "args=", "-p", &pid.to_string()])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The variables pre-commit and prek set for a pre-push stage hook.
pub const STAGE_VARS: &[&str] = &[
    "PRE_COMMIT_FROM_REF",
    "PRE_COMMIT_TO_REF",
    "PRE_COMMIT_REMOTE_BRANCH",
    "PRE_COMMIT_LOCAL_BRANCH",
    "PRE_COMMIT_REMOTE_NAME",
    "PRE_COMMIT_REMOTE_URL",
];

/// Tells whether pushguard runs as a pre-commit/prek *stage* hook: their variables are set
/// and git's ref lines are not on stdin (they keep them; their legacy hook gets them).
pub fn is_stage_hook(input: &[u8]) -> bool {
    input.iter().all(u8::is_ascii_whitespace)
        && STAGE_VARS.iter().any(|v| std::env::var_os(v).is_some())
}

/// Explains why pushguard refuses to run as a pre-commit/prek stage hook.
pub fn write_stage_refusal(err: &mut impl std::io::Write) -> std::io::Result<()> {
    writeln!(
        err,
        "pushguard: refusing to run as a pre-commit/prek `pre-push` stage hook: that stage shows a hook only the first ref of a push and skips deletions, so environment pushes would pass ungated"
    )?;
    writeln!(
        err,
        "hint: remove pushguard from .pre-commit-config.yaml and run `pushguard install`: it installs itself as pre-commit's legacy hook, which sees every ref"
    )
}

/// Whether the guard is in the path, as far as cheap checks can tell (no push).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// git's pre-push reaches pushguard.
    Gated,
    /// Environment pushes pass unchecked.
    NotGated,
    /// Every push fails before pushguard decides anything (a committed per-clone config that
    /// names another clone's path).
    Broken,
}

/// What [`diagnose`] found: the state, how, and the fix when it is not the usual
/// `pushguard install`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    pub gate: Gate,
    pub how: String,
    pub fix: Option<String>,
}

impl Diagnosis {
    fn new(gated: bool, how: String) -> Diagnosis {
        Diagnosis {
            gate: if gated { Gate::Gated } else { Gate::NotGated },
            how,
            fix: None,
        }
    }

    /// The fix to print on a `hint:` line.
    pub fn fix(&self) -> &str {
        self.fix
            .as_deref()
            .unwrap_or("run `pushguard install`, then `pushguard doctor` again")
    }

    /// The one line `pushguard status` shows on its `path:` line.
    pub fn line(&self) -> String {
        match self.gate {
            Gate::Gated => format!("{} (prove it with `pushguard doctor`)", self.how),
            Gate::NotGated => format!(
                "NOT GATED: {}; environment pushes pass unchecked ({})",
                self.how,
                self.fix
                    .as_deref()
                    .unwrap_or("run `pushguard install`, then `pushguard doctor`")
            ),
            Gate::Broken => format!("BROKEN: {} ({})", self.how, self.fix()),
        }
    }
}

/// One line for `pushguard status`: whether the guard is in the path (cheap checks only,
/// no push), and the fix when it is not.
pub fn summary(dir: &Path) -> Result<String> {
    Ok(diagnose(dir)?.line())
}

/// Whether the guard is in the path of this clone's pre-push hook, through its manager.
pub fn diagnose(dir: &Path) -> Result<Diagnosis> {
    let root = work_tree_root();
    let manager = detect(dir, root.as_deref());
    let shim_ok = || clone_shim().is_ok_and(|s| s.is_file());
    let own_hook = || -> Result<bool> {
        Ok(matches!(
            install::hook_state(dir)?,
            install::HookState::Current | install::HookState::Outdated
        ))
    };
    Ok(match &manager {
        Manager::None => match install::hook_state(dir)? {
            install::HookState::Current | install::HookState::Outdated => {
                Diagnosis::new(true, "git runs pushguard's pre-push hook".to_owned())
            }
            install::HookState::NotInstalled => {
                Diagnosis::new(false, "no pre-push hook runs pushguard".to_owned())
            }
            install::HookState::Foreign => Diagnosis::new(
                false,
                "another tool's pre-push hook, which does not run pushguard".to_owned(),
            ),
        },
        Manager::Husky { script, active } => {
            let block = read_text(script).as_deref().and_then(split_block).is_some();
            match (block, shim_ok(), active) {
                (true, true, true) => {
                    Diagnosis::new(true, format!("husky runs pushguard from {}", script.display()))
                }
                (true, true, false) => Diagnosis::new(
                    own_hook()?,
                    format!(
                        "husky is not installed in this clone yet; {} is ready for it",
                        script.display()
                    ),
                ),
                // The committed block is there; this clone never ran `pushguard install`.
                (true, false, _) => Diagnosis::new(
                    false,
                    format!(
                        "{} has pushguard's block, but this clone has no pushguard shim for it to run (the block lets pushes through with a note)",
                        script.display()
                    ),
                ),
                (false, _, _) => Diagnosis::new(
                    false,
                    format!("husky's {} does not run pushguard", script.display()),
                ),
            }
        }
        Manager::Lefthook { local, active } => {
            let local_text = read_text(local)
                .filter(|t| t.starts_with(LEFTHOOK_MARK))
                .unwrap_or_default();
            let shared = lefthook_main_running(root.as_deref());
            let name = local.display();
            let state = (!local_text.is_empty()).then(|| lefthook::local_state(&local_text));
            match (state, shared, active) {
                (Some(lefthook::Local::Foreign { shim, exists: false }), _, true) => Diagnosis {
                    gate: Gate::Broken,
                    how: format!(
                        "{name} runs pushguard from `{}`, a path in another clone, which does not exist here: lefthook fails every push (feature branches too) with \"not found\"",
                        shim.display()
                    ),
                    fix: Some(if root
                        .as_deref()
                        .is_some_and(|r| lefthook::is_tracked(r, local))
                    {
                        "it is committed: `git rm --cached` it and commit that, then `pushguard install`; or `pushguard install --force` rewrites it without any path, to commit".to_owned()
                    } else {
                        "run `pushguard install`, which rewrites it without any path".to_owned()
                    }),
                },
                (Some(lefthook::Local::Runs), _, true)
                | (Some(lefthook::Local::Foreign { exists: true, .. }), _, true)
                | (_, Some(_), true) => Diagnosis::new(
                    true,
                    match shared {
                        Some(main) => format!("lefthook runs pushguard from {main}"),
                        None => format!("lefthook runs pushguard from {name}"),
                    },
                ),
                (Some(lefthook::Local::NoShim), None, true) => Diagnosis::new(
                    false,
                    format!(
                        "{name} runs pushguard's per-clone shim, which this clone does not have (it lets pushes through with a note)"
                    ),
                ),
                (Some(_), _, false) | (_, Some(_), false) => Diagnosis::new(
                    own_hook()?,
                    "lefthook is not installed in this clone yet; pushguard's hook guards until it is".to_owned(),
                ),
                (None, None, _) => {
                    Diagnosis::new(false, "lefthook's config does not run pushguard".to_owned())
                }
            }
        }
        Manager::HuskyV4 { .. } => {
            let (ok, how) = husky4::summary(dir)?;
            Diagnosis::new(ok, how)
        }
        Manager::PreCommit { tool } => {
            if read_text(&dir.join(LEGACY_HOOK)).is_some_and(|t| install::is_ours(&t)) {
                Diagnosis::new(true, format!("{tool} runs pushguard as its legacy hook"))
            } else {
                Diagnosis::new(false, format!("{tool}'s pre-push does not run pushguard"))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn husky_block_round_trips_and_keeps_the_users_lines() {
        let user = "#!/usr/bin/env sh\nnpm test\n";
        let (head, rest) = user.split_once('\n').unwrap();
        let with = format!("{head}\n{}{rest}", husky_block(false));
        let (before, block, after) = split_block(&with).unwrap();
        assert_eq!(before, "#!/usr/bin/env sh\n");
        assert!(block.starts_with(BLOCK_START));
        assert_eq!(after, "npm test\n");
        assert_eq!(format!("{before}{after}"), user);
        assert!(split_block(user).is_none());
    }

    #[test]
    fn script_owners_are_told_apart() {
        assert_eq!(
            script_owner("# ID: 138fd403232d2ddd5efb44317e38bf03"),
            Some("pre-commit")
        );
        assert_eq!(
            script_owner("# ID: 182c10f181da4464a3eec51b83331688"),
            Some("prek")
        );
        assert_eq!(
            script_owner("call_lefthook run \"pre-push\" \"$@\""),
            Some("lefthook")
        );
        assert_eq!(script_owner("#!/bin/sh\nnpm test\n"), None);
    }
}
