//! `pushguard install` and `uninstall`: where git looks for hooks, our hook's fingerprint,
//! and chaining a hook that was there before.
//!
//! In a clone the hook is `pre-push`; in a bare repository (a server) they are
//! `pre-receive` and `post-receive` ([`Kind`]). A hook we did not write is never clobbered: it is kept beside ours as
//! `<hook>.pushguard-chained`, run after every allowing decision, and restored by
//! `uninstall`.

pub mod config_hooks;
pub mod gated;
pub mod hosts;
pub mod husky4;
pub mod lefthook;
pub mod managers;

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _, Result};

/// File name, beside the installed pre-push hook, of a foreign hook that pushguard chains.
pub const CHAINED_HOOK: &str = "pre-push.pushguard-chained";
/// The same beside the server's pre-receive hook.
pub const CHAINED_PRE_RECEIVE: &str = "pre-receive.pushguard-chained";
/// The same beside the server's post-receive hook.
pub const CHAINED_POST_RECEIVE: &str = "post-receive.pushguard-chained";
use crate::outcome::{Exit, WithHint};

/// The hook shim, with `@PUSHGUARD_BIN@` standing for the quoted binary path.
pub const HOOK_TEMPLATE: &str = include_str!("../../hooks/pre-push");

/// The server's hook shim, installed in a bare repository.
pub const SERVER_HOOK_TEMPLATE: &str = include_str!("../../hooks/pre-receive");

/// The server's post-receive shim, installed beside the pre-receive one.
pub const POST_RECEIVE_TEMPLATE: &str = include_str!("../../hooks/post-receive");

/// Which hook pushguard installs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A clone's `pre-push` hook.
    PrePush,
    /// A bare repository's `pre-receive` hook (server mode).
    PreReceive,
    /// A bare repository's `post-receive` hook (server mode: attaches the audit notes).
    PostReceive,
}

impl Kind {
    /// The hook's file name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::PrePush => "pre-push",
            Kind::PreReceive => "pre-receive",
            Kind::PostReceive => "post-receive",
        }
    }

    fn template(self) -> &'static str {
        match self {
            Kind::PrePush => HOOK_TEMPLATE,
            Kind::PreReceive => SERVER_HOOK_TEMPLATE,
            Kind::PostReceive => POST_RECEIVE_TEMPLATE,
        }
    }

    fn chained(self) -> &'static str {
        match self {
            Kind::PrePush => CHAINED_HOOK,
            Kind::PreReceive => CHAINED_PRE_RECEIVE,
            Kind::PostReceive => CHAINED_POST_RECEIVE,
        }
    }

    /// The hooks this repository needs: `pre-receive` and `post-receive` when it is bare (it
    /// receives pushes), else `pre-push`.
    pub fn for_repository() -> Result<&'static [Kind]> {
        let out = Command::new("git")
            .args(["rev-parse", "--is-bare-repository"])
            .output()
            .context("failed to run `git rev-parse`; is git installed?")?;
        let bare = out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "true";
        Ok(if bare {
            &[Kind::PreReceive, Kind::PostReceive]
        } else {
            &[Kind::PrePush]
        })
    }
}

/// The line that marks a hook as ours.
pub const FINGERPRINT: &str = "# pushguard-managed-hook";

/// Tells whether a hook file's text is a pushguard shim.
pub fn is_ours(text: &str) -> bool {
    text.lines().take(3).any(|l| l.starts_with(FINGERPRINT))
}

/// Quotes a string for a POSIX shell.
pub(crate) fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Where the per-clone shim lives that husky's block and lefthook's command run.
pub fn clone_shim() -> Result<PathBuf> {
    Ok(crate::git::common_dir_via_git()?
        .join("pushguard")
        .join("hooks")
        .join("pre-push"))
}

/// The shim's text for a binary at `bin`.
pub fn hook_text(bin: &Path) -> String {
    kind_text(Kind::PrePush, bin)
}

pub(crate) fn kind_text(kind: Kind, bin: &Path) -> String {
    kind.template()
        .replace("@PUSHGUARD_BIN@", &sh_quote(&bin.to_string_lossy()))
}

/// Finds the hooks directory exactly as git does (`core.hooksPath`, relative to the
/// work-tree top, else the common dir's `hooks/`, which linked worktrees share), by asking
/// git. This also works where libgit2 cannot open the repository (SHA-256).
pub fn hooks_dir() -> Result<PathBuf> {
    let out = Command::new("git")
        .args(["rev-parse", "--path-format=absolute", "--git-path", "hooks"])
        .output()
        .context("failed to run `git rev-parse`; is git installed?")?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        if said.contains("not a git repository") {
            return Err(crate::git::not_in_a_clone());
        }
        return Err(anyhow::anyhow!("{}", said.trim()))
            .context("failed to find the git repository");
    }
    let path = String::from_utf8(out.stdout).context("the hooks path is not UTF-8")?;
    Ok(PathBuf::from(path.trim_end_matches('\n')))
}

/// The state of the pre-push hook in a clone, for `install` and `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookState {
    NotInstalled,
    /// Ours, and byte-identical to what this binary would install.
    Current,
    /// Ours, written by another binary path or version.
    Outdated,
    /// Someone else's hook.
    Foreign,
}

/// Reads the state of the pre-push hook in `dir`.
pub fn hook_state(dir: &Path) -> Result<HookState> {
    kind_state(Kind::PrePush, dir)
}

/// Reads the state of a bare repository's server hooks in `dir`: pre-receive, post-receive.
pub fn server_hook_states(dir: &Path) -> Result<[(&'static str, HookState); 2]> {
    Ok([
        (Kind::PreReceive.name(), kind_state(Kind::PreReceive, dir)?),
        (
            Kind::PostReceive.name(),
            kind_state(Kind::PostReceive, dir)?,
        ),
    ])
}

fn kind_state(kind: Kind, dir: &Path) -> Result<HookState> {
    let path = dir.join(kind.name());
    let text = match fs::read(&path) {
        Ok(t) => String::from_utf8_lossy(&t).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HookState::NotInstalled),
        Err(e) => return Err(e).with_context(|| format!("failed to read `{}`", path.display())),
    };
    if !is_ours(&text) {
        return Ok(HookState::Foreign);
    }
    let bin = current_binary()?;
    Ok(if text == kind_text(kind, &bin) {
        HookState::Current
    } else {
        HookState::Outdated
    })
}

pub(crate) fn current_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("failed to find the pushguard binary's path")?;
    Ok(exe.canonicalize().unwrap_or(exe))
}

/// Writes `text` to `path` atomically (temp file and rename), executable.
pub(crate) fn write_executable(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().expect("a hook path has a directory");
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{}.pushguard-tmp", name.unwrap_or_default()));
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.set_permissions(fs::Permissions::from_mode(0o755))?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        anyhow::Error::new(e).context(format!("failed to write the hook `{}`", path.display()))
    })
}

/// `pushguard install`; `host` chooses where a bare repository's hooks go (else detected).
pub fn install(force: bool, host: Option<hosts::Host>) -> Result<Exit> {
    let kinds = Kind::for_repository()?;
    let dir = hooks_dir()?;
    if kinds.contains(&Kind::PreReceive) {
        return install_server(&dir, force, host);
    }
    if host.is_some() {
        bail!("`--host` chooses where a bare repository (a server's) runs pushguard's hooks, and this is a clone: run `pushguard install` here without it");
    }
    fs::create_dir_all(&dir)
        .with_context(|| format!("failed to create the hooks directory `{}`", dir.display()))?;
    // A hook manager in charge of pre-push gets pushguard its own way.
    if !crate::install::managers::install(&dir, force)? {
        install_kind(Kind::PrePush, &dir, force)?;
    }
    eprint!("{}", gated::note());
    Ok(Exit::Success)
}

/// `pushguard install` in a bare repository: the server's hooks, where its host runs them.
fn install_server(hooks: &Path, force: bool, host: Option<hosts::Host>) -> Result<Exit> {
    let git_dir = crate::git::common_dir_via_git()?;
    let host = match host {
        Some(host) => host,
        None => {
            let detected = hosts::detect(&git_dir, hooks);
            if detected.host != hosts::Host::Plain {
                eprintln!(
                    "pushguard: installing for {} ({}; choose with `--host`)",
                    detected.host.label(),
                    detected.why
                );
            }
            detected.host
        }
    };
    hosts::install(host, &git_dir, hooks, force)?;
    if host == hosts::Host::Gitolite {
        // gitolite sets the repository's git config from gitolite.conf: the steps say how.
        return Ok(Exit::Success);
    }
    if !advertises_push_options() {
        eprintln!("pushguard: note: pushers attest with `git push -o consulted=\"Name\"` and `-o bypass=\"why\"`; for git to accept them here, run:");
        eprintln!("    git config receive.advertisePushOptions true");
    }
    signed_push_note();
    Ok(Exit::Success)
}

/// Installs one hook in `dir`, chaining a foreign hook that is there.
pub(crate) fn install_kind(kind: Kind, dir: &Path, force: bool) -> Result<()> {
    let name = kind.name();
    let hook = dir.join(name);
    let chained = dir.join(kind.chained());
    let text = kind_text(kind, &current_binary()?);

    match kind_state(kind, dir)? {
        HookState::Current if !force => {
            eprintln!(
                "pushguard: the {name} hook is already installed and current: {}",
                hook.display()
            );
        }
        HookState::Current | HookState::Outdated => {
            write_executable(&hook, &text)?;
            eprintln!("pushguard: updated the {name} hook: {}", hook.display());
        }
        HookState::NotInstalled => {
            write_executable(&hook, &text)?;
            eprintln!("pushguard: installed the {name} hook: {}", hook.display());
        }
        HookState::Foreign => {
            if chained.exists() {
                // Two foreign hooks: keep both, never lose one.
                if !force {
                    bail!(
                        "`{}` is another tool's hook, and `{}` already holds a chained hook; pushguard will not choose between them",
                        hook.display(),
                        chained.display()
                    );
                }
                let older = dir.join(format!("{}.old", kind.chained()));
                fs::rename(&chained, &older)
                    .with_context(|| format!("failed to move `{}` aside", chained.display()))?;
                eprintln!(
                    "pushguard: moved the previously chained hook to {}",
                    older.display()
                );
            }
            fs::rename(&hook, &chained)
                .with_context(|| format!("failed to move `{}` aside", hook.display()))
                .hint(format!(
                    "check that `{}` is writable, then run `pushguard install` again",
                    dir.display()
                ))?;
            if let Err(e) = write_executable(&hook, &text) {
                // Put the user's hook back where it was.
                let _ = fs::rename(&chained, &hook);
                return Err(e);
            }
            eprintln!("pushguard: installed the {name} hook: {}", hook.display());
            eprintln!(
                "pushguard: kept the existing hook as {}; it runs after pushguard allows a push",
                chained.display()
            );
        }
    }
    Ok(())
}

/// Explains, in a bare repository, how to accept signed pushes (issue 11) when they are not
/// set up yet.
fn signed_push_note() {
    let Ok(repo) = crate::git::Repo::open_from_env() else {
        return;
    };
    let (nonce, signers) = crate::sites::push_cert::server_ready(&repo);
    if nonce && signers {
        return;
    }
    eprintln!("pushguard: note: signed pushes (`git push --signed`) name the pusher by their SSH key, and `[server] require_signed_push = true` requires them; to accept them here, run:");
    if !nonce {
        eprintln!("    {}", crate::sites::push_cert::SERVER_SETUP[0]);
    }
    if !signers {
        eprintln!("    {}", crate::sites::push_cert::SERVER_SETUP[1]);
    }
    if !nonce {
        eprintln!("    {}", crate::sites::push_cert::HTTP_SETUP);
    }
}

/// Tells whether this repository accepts push options (`receive.advertisePushOptions`).
fn advertises_push_options() -> bool {
    Command::new("git")
        .args(["config", "--type=bool", "receive.advertisePushOptions"])
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "true")
}

/// `pushguard uninstall`.
pub fn uninstall() -> Result<Exit> {
    let dir = hooks_dir()?;
    crate::install::config_hooks::uninstall()?;
    let kinds = Kind::for_repository()?;
    if kinds.contains(&Kind::PreReceive) {
        let git_dir = crate::git::common_dir_via_git()?;
        let removed = hosts::uninstall_drop_ins(&git_dir, &dir)?;
        if hosts::detect(&git_dir, &dir).host == hosts::Host::Gitolite {
            hosts::gitolite::uninstall_steps(&git_dir);
        }
        for &kind in kinds {
            let ours = matches!(
                kind_state(kind, &dir)?,
                HookState::Current | HookState::Outdated
            );
            // Say "nothing to do" only when nothing was removed anywhere.
            if ours || removed == 0 {
                uninstall_kind(kind, &dir)?;
            }
        }
        return Ok(Exit::Success);
    }
    if !crate::install::managers::uninstall(&dir)? {
        uninstall_kind(Kind::PrePush, &dir)?;
    }
    Ok(Exit::Success)
}

/// Removes one hook from `dir`, restoring the hook it had chained.
pub(crate) fn uninstall_kind(kind: Kind, dir: &Path) -> Result<()> {
    let name = kind.name();
    let hook = dir.join(name);
    let chained = dir.join(kind.chained());
    match kind_state(kind, dir)? {
        HookState::NotInstalled | HookState::Foreign => {
            eprintln!(
                "pushguard: no pushguard {name} hook is installed in {}; nothing to do",
                dir.display()
            );
        }
        HookState::Current | HookState::Outdated => {
            if chained.exists() {
                fs::rename(&chained, &hook)
                    .with_context(|| format!("failed to restore `{}`", chained.display()))?;
                eprintln!(
                    "pushguard: removed the {name} hook and restored the hook it had chained: {}",
                    hook.display()
                );
            } else {
                fs::remove_file(&hook)
                    .with_context(|| format!("failed to remove `{}`", hook.display()))?;
                eprintln!("pushguard: removed the {name} hook: {}", hook.display());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_carries_the_fingerprint_and_quotes_the_path() {
        let text = hook_text(Path::new("/opt/it's here/pushguard"));
        assert!(is_ours(&text));
        assert!(text.contains(r"pushguard_bin='/opt/it'\''s here/pushguard'"));
        assert!(!is_ours("#!/bin/sh\nexec husky\n"));
        let server = kind_text(Kind::PreReceive, Path::new("/opt/pushguard"));
        assert!(is_ours(&server));
        assert!(server.contains("hook pre-receive"));
        let post = kind_text(Kind::PostReceive, Path::new("/opt/pushguard"));
        assert!(is_ours(&post));
        assert!(post.contains("hook post-receive --hook-dir"));
    }
}
