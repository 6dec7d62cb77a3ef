//! Where a hosted bare repository runs its hooks, and pushguard's place there (issue 20).
//!
//! A server's repository is rarely a bare directory with nothing else in `hooks/`: gitolite
//! links its own drivers there and rewrites them at every compile, GitLab's Gitaly ignores
//! `hooks/` and runs `custom_hooks/<hook>.d/*`, Gitea and Forgejo write a `hooks/<hook>`
//! driver that runs `hooks/<hook>.d/*`. [`detect`] tells them apart from the repository's
//! files; `install` puts pushguard where that host runs hooks without touching the host's
//! own, `uninstall` takes it out again, and [`status_lines`] says for each hook whether the
//! host reaches pushguard. gitolite is never fought: pushguard writes the hooks gitolite
//! links from its `LOCAL_CODE` and prints the steps only the administrator can take
//! (`repo-specific-hooks`, `option hook.<hook>`, `GIT_CONFIG_KEYS`).

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _, Result};

use super::{current_binary, is_ours, kind_text, write_executable, Kind};

/// The hosts `pushguard install --host` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Host {
    /// gitolite: hooks through `LOCAL_CODE`, `repo-specific-hooks` and `option hook.<hook>`.
    Gitolite,
    /// GitLab (Gitaly): `custom_hooks/<hook>.d/` in the repository.
    Gitlab,
    /// Gitea or Forgejo: `hooks/<hook>.d/`, run by the host's own `hooks/<hook>`.
    Gitea,
    /// A plain bare repository: `hooks/<hook>`, a hook that was there chained.
    Plain,
}

impl Host {
    /// The host's name as `status` prints it.
    pub fn label(self) -> &'static str {
        match self {
            Host::Gitolite => "gitolite",
            Host::Gitlab => "GitLab",
            Host::Gitea => "Gitea/Forgejo",
            Host::Plain => "plain bare repository",
        }
    }
}

/// A host told from the repository's files, and what told it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    pub host: Host,
    pub why: String,
}

/// The file name pushguard's hook takes in a host's `<hook>.d/` directory.
pub const DROP_IN: &str = "pushguard";

/// The names of the hooks pushguard asks gitolite to link (`option hook.<hook> = <name>`).
pub const GITOLITE_CODES: [(Kind, &str); 2] = [
    (Kind::PreReceive, "pushguard-pre-receive"),
    (Kind::PostReceive, "pushguard-post-receive"),
];

/// The git config keys a gitolite repository needs set through `gitolite.conf`: push options,
/// and signed pushes.
pub const GITOLITE_CONFIG_KEYS: &str = r"receive\.advertisePushOptions receive\.certNonceSeed receive\.certNonceSlop gpg\.ssh\.allowedSignersFile";

fn read_text(path: &Path) -> Option<String> {
    fs::read(path)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Tells the host of the bare repository `git_dir` (hooks in `hooks`) from its files.
pub fn detect(git_dir: &Path, hooks: &Path) -> Detected {
    let update = read_text(&hooks.join("update")).unwrap_or_default();
    if update.to_ascii_lowercase().contains("gitolite") {
        return Detected {
            host: Host::Gitolite,
            why: "its update hook is gitolite's".into(),
        };
    }
    if is_gitolite_driver(&hooks.join("pre-receive")) {
        return Detected {
            host: Host::Gitolite,
            why: "its pre-receive hook is gitolite's multi-hook driver".into(),
        };
    }
    let config = read_text(&git_dir.join("config")).unwrap_or_default();
    if config.lines().any(|l| l.trim() == "[gitlab]") {
        return Detected {
            host: Host::Gitlab,
            why: "its config has GitLab's `gitlab.fullpath`".into(),
        };
    }
    if git_dir.components().any(|c| c.as_os_str() == "@hashed") {
        return Detected {
            host: Host::Gitlab,
            why: "it is in GitLab's hashed storage (@hashed/)".into(),
        };
    }
    if git_dir.join("custom_hooks").is_dir() {
        return Detected {
            host: Host::Gitlab,
            why: "it has GitLab's custom_hooks/".into(),
        };
    }
    if runs_drop_ins(&hooks.join("pre-receive"), "pre-receive") {
        return Detected {
            host: Host::Gitea,
            why: "its pre-receive hook runs hooks/pre-receive.d/* (Gitea's or Forgejo's)".into(),
        };
    }
    if hooks.join("pre-receive.d").is_dir() {
        return Detected {
            host: Host::Gitea,
            why: "it has hooks/pre-receive.d/ (Gitea's or Forgejo's layout)".into(),
        };
    }
    Detected {
        host: Host::Plain,
        why: "no hosting software's files found".into(),
    }
}

/// Tells whether `path` is gitolite's multi-hook driver (`repo-specific-hooks`).
fn is_gitolite_driver(path: &Path) -> bool {
    if fs::read_link(path).is_ok_and(|t| t.ends_with("multi-hook-driver")) {
        return true;
    }
    read_text(path).is_some_and(|t| t.contains("for h in $0.*"))
}

/// Tells whether the hook at `path` runs the executables in `<hook>.d/` (Gitea's and
/// Forgejo's generated hook does).
fn runs_drop_ins(path: &Path, hook: &str) -> bool {
    read_text(path)
        .is_some_and(|t| t.contains("${hookname}.d") || t.contains(&format!("{hook}.d/")))
}

/// Where a `.d`-layout host runs pushguard's hook of `kind`.
fn drop_in(host: Host, git_dir: &Path, hooks: &Path, kind: Kind) -> PathBuf {
    let base = match host {
        Host::Gitlab => git_dir.join("custom_hooks"),
        _ => hooks.to_path_buf(),
    };
    base.join(format!("{}.d", kind.name())).join(DROP_IN)
}

/// The state of one of pushguard's hook files at `path` (not a host's driver).
fn file_state(kind: Kind, path: &Path, bin: &Path) -> super::HookState {
    match read_text(path) {
        None => super::HookState::NotInstalled,
        Some(text) if !is_ours(&text) => super::HookState::Foreign,
        Some(text) if text == kind_text(kind, bin) => super::HookState::Current,
        Some(_) => super::HookState::Outdated,
    }
}

fn executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Installs pushguard's server hooks where `host` runs hooks.
pub fn install(host: Host, git_dir: &Path, hooks: &Path, force: bool) -> Result<()> {
    match host {
        Host::Plain => {
            fs::create_dir_all(hooks).with_context(|| {
                format!("failed to create the hooks directory `{}`", hooks.display())
            })?;
            for kind in [Kind::PreReceive, Kind::PostReceive] {
                super::install_kind(kind, hooks, force)?;
            }
            Ok(())
        }
        Host::Gitlab | Host::Gitea => {
            for kind in [Kind::PreReceive, Kind::PostReceive] {
                install_drop_in(host, git_dir, hooks, kind, force)?;
            }
            if host == Host::Gitea && !runs_drop_ins(&hooks.join("pre-receive"), "pre-receive") {
                eprintln!("pushguard: warning: {} does not run hooks/pre-receive.d/*, so nothing reaches pushguard yet", hooks.join("pre-receive").display());
                eprintln!("hint: let Gitea or Forgejo write its hooks again (Site Administration → Resynchronize git hooks of all repositories)");
            }
            if host == Host::Gitlab {
                eprintln!("pushguard: GitLab's Gitaly runs custom_hooks/<hook>.d/* of this repository at every push; this repository's hooks/ is left to GitLab");
            }
            Ok(())
        }
        Host::Gitolite => gitolite::install(git_dir, force),
    }
}

fn install_drop_in(
    host: Host,
    git_dir: &Path,
    hooks: &Path,
    kind: Kind,
    force: bool,
) -> Result<()> {
    let path = drop_in(host, git_dir, hooks, kind);
    let bin = current_binary()?;
    let dir = path.parent().expect("a drop-in has a directory");
    match file_state(kind, &path, &bin) {
        super::HookState::Foreign => bail!(
            "`{}` is another tool's hook; pushguard will not overwrite it",
            path.display()
        ),
        super::HookState::Current if !force => {
            eprintln!(
                "pushguard: the {} hook is already installed and current: {}",
                kind.name(),
                path.display()
            );
            return Ok(());
        }
        _ => {}
    }
    fs::create_dir_all(dir).with_context(|| format!("failed to create `{}`", dir.display()))?;
    write_executable(&path, &kind_text(kind, &bin))?;
    eprintln!(
        "pushguard: installed the {} hook for {}: {}",
        kind.name(),
        host.label(),
        path.display()
    );
    Ok(())
}

/// Removes pushguard's hooks from every place a host runs them; a host's own hooks stay.
/// Returns how many were removed.
pub fn uninstall_drop_ins(git_dir: &Path, hooks: &Path) -> Result<usize> {
    let mut removed = 0;
    for host in [Host::Gitea, Host::Gitlab] {
        for kind in [Kind::PreReceive, Kind::PostReceive] {
            let path = drop_in(host, git_dir, hooks, kind);
            if read_text(&path).is_some_and(|t| is_ours(&t)) {
                fs::remove_file(&path)
                    .with_context(|| format!("failed to remove `{}`", path.display()))?;
                eprintln!(
                    "pushguard: removed the {} hook: {}",
                    kind.name(),
                    path.display()
                );
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// One `hook:` line per server hook: where the host runs it, whether pushguard is reached, and
/// whether what runs is current.
pub fn status_lines(git_dir: &Path, hooks: &Path) -> Result<Vec<String>> {
    let detected = detect(git_dir, hooks);
    let bin = current_binary()?;
    let mut lines = vec![format!(
        "host:    {} ({})",
        detected.host.label(),
        detected.why
    )];
    for kind in [Kind::PreReceive, Kind::PostReceive] {
        let name = kind.name();
        let hook = hooks.join(name);
        let line = match detected.host {
            Host::Gitolite if is_gitolite_driver(&hook) => {
                match gitolite::linked(hooks, kind, &bin) {
                    Some((link, state)) => format!(
                        "{} — gitolite's driver runs pushguard ({} → {}): {}",
                        hook.display(),
                        link.file_name().unwrap_or_default().to_string_lossy(),
                        fs::canonicalize(&link).unwrap_or(link.clone()).display(),
                        state_words(&state)
                    ),
                    None => format!(
                        "{} — gitolite's driver, NOT REACHED: it runs no pushguard {name} hook (add `option hook.{name} = {}` for this repository in gitolite.conf; `pushguard install` prints the steps)",
                        hook.display(),
                        gitolite::code(kind)
                    ),
                }
            }
            Host::Gitolite | Host::Plain => {
                let state = file_state(kind, &hook, &bin);
                match state {
                    super::HookState::Foreign => format!(
                        "{} — another tool's hook, NOT REACHED: pushguard does not run here{}",
                        hook.display(),
                        if detected.host == Host::Gitolite {
                            " (`pushguard install` prints gitolite's steps)"
                        } else {
                            " (`pushguard install` chains it)"
                        }
                    ),
                    super::HookState::NotInstalled => format!(
                        "{} — not installed, NOT REACHED (run `pushguard install` in this repository)",
                        hook.display()
                    ),
                    _ if !executable(&hook) => format!(
                        "{} — pushguard's, NOT REACHED: not executable (run `pushguard install --force`)",
                        hook.display()
                    ),
                    _ => format!("{} — {}", hook.display(), state_words(&state)),
                }
            }
            Host::Gitea | Host::Gitlab => {
                let path = drop_in(detected.host, git_dir, hooks, kind);
                let state = file_state(kind, &path, &bin);
                let reached = match detected.host {
                    Host::Gitea if runs_drop_ins(&hook, name) => {
                        format!("run by the host's {}", hook.display())
                    }
                    Host::Gitea => format!(
                        "NOT REACHED: {} does not run {name}.d/* (resynchronise the host's git hooks)",
                        hook.display()
                    ),
                    _ => format!("run by GitLab's Gitaly (custom_hooks/{name}.d/*)"),
                };
                match state {
                    super::HookState::NotInstalled => format!(
                        "{} — not installed, NOT REACHED (run `pushguard install` in this repository)",
                        path.display()
                    ),
                    super::HookState::Foreign => format!(
                        "{} — another tool's file, NOT REACHED",
                        path.display()
                    ),
                    _ if !executable(&path) => format!(
                        "{} — pushguard's, NOT REACHED: not executable (run `pushguard install --force`)",
                        path.display()
                    ),
                    _ => format!("{} — {}; {reached}", path.display(), state_words(&state)),
                }
            }
        };
        lines.push(format!("hook:    {line}"));
    }
    Ok(lines)
}

fn state_words(state: &super::HookState) -> &'static str {
    match state {
        super::HookState::Current => "installed, current",
        super::HookState::Outdated => {
            "installed by another pushguard binary (run `pushguard install --force`)"
        }
        super::HookState::NotInstalled => "not installed",
        super::HookState::Foreign => "another tool's hook",
    }
}

/// gitolite: its hooks are its own; pushguard's come in through `repo-specific-hooks`.
pub mod gitolite {
    use super::*;

    /// The name gitolite's `option hook.<hook>` gives pushguard's hook of `kind`.
    pub fn code(kind: Kind) -> &'static str {
        GITOLITE_CODES
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, c)| *c)
            .expect("pre-receive and post-receive have gitolite names")
    }

    /// The hook gitolite's driver runs for `kind` that is pushguard's (`hooks/<hook>.h00-…`,
    /// a link to `LOCAL_CODE/hooks/repo-specific/…`), with its state.
    pub fn linked(
        hooks: &Path,
        kind: Kind,
        bin: &Path,
    ) -> Option<(PathBuf, super::super::HookState)> {
        let prefix = format!("{}.", kind.name());
        let mut entries: Vec<PathBuf> = fs::read_dir(hooks)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix) && !n.ends_with(".sample"))
            })
            .collect();
        entries.sort();
        entries.into_iter().find_map(|p| {
            let state = file_state(kind, &p, bin);
            matches!(
                state,
                super::super::HookState::Current | super::super::HookState::Outdated
            )
            .then_some((p, state))
            .filter(|(p, _)| executable(p))
        })
    }

    /// Asks gitolite for one of its rc values (`gitolite query-rc NAME`); `None` when unset or
    /// when gitolite cannot be asked.
    fn query_rc(name: &str) -> Option<String> {
        let out = Command::new("gitolite")
            .args(["query-rc", name])
            .output()
            .ok()?;
        let value = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        (out.status.success() && !value.is_empty()).then_some(value)
    }

    /// What gitolite's rc says, as far as pushguard needs it.
    struct Rc {
        local_code: Option<PathBuf>,
        admin_base: Option<PathBuf>,
        repo_base: Option<PathBuf>,
        enabled: bool,
        config_keys: String,
    }

    impl Rc {
        fn read() -> Option<Rc> {
            // `GL_ADMIN_BASE` is always set when gitolite can be asked at all.
            let admin_base = query_rc("GL_ADMIN_BASE").map(PathBuf::from);
            admin_base.as_ref()?;
            Some(Rc {
                local_code: query_rc("LOCAL_CODE").map(PathBuf::from),
                admin_base,
                repo_base: query_rc("GL_REPO_BASE").map(PathBuf::from),
                enabled: query_rc("ENABLE")
                    .is_some_and(|e| e.lines().any(|l| l.trim() == "repo-specific-hooks")),
                config_keys: query_rc("GIT_CONFIG_KEYS").unwrap_or_default(),
            })
        }
    }

    /// Tells whether gitolite's `GIT_CONFIG_KEYS` (space-separated regexes) lets `key` through.
    fn allows(keys: &str, key: &str) -> bool {
        keys.split_whitespace().any(|pattern| {
            regex::Regex::new(&format!("^(?:{pattern})$")).is_ok_and(|re| re.is_match(key))
        })
    }

    /// `pushguard install` in a gitolite repository: writes pushguard's hooks into
    /// `LOCAL_CODE/hooks/repo-specific/` when gitolite has one outside gitolite-admin, and
    /// prints the administrator's steps. Nothing in the repository's `hooks/` is touched.
    pub fn install(git_dir: &Path, force: bool) -> Result<()> {
        let bin = current_binary()?;
        eprintln!("pushguard: this repository is hosted by gitolite, which manages its hooks: pushguard writes nothing into its hooks/ (gitolite's next compile would remove it, and a driver moved aside runs none of the repository's gitolite hooks)");
        let rc = Rc::read();
        let repo = repo_name(git_dir, rc.as_ref().and_then(|r| r.repo_base.as_deref()));
        let mut wrote = false;
        match rc
            .as_ref()
            .and_then(|r| r.local_code.as_ref().map(|l| (l, r)))
        {
            Some((local, rc))
                if !rc
                    .admin_base
                    .as_ref()
                    .is_some_and(|admin| local.starts_with(admin)) =>
            {
                let dir = local.join("hooks/repo-specific");
                fs::create_dir_all(&dir)
                    .with_context(|| format!("failed to create `{}`", dir.display()))?;
                for (kind, code) in GITOLITE_CODES {
                    let path = dir.join(code);
                    match file_state(kind, &path, &bin) {
                        super::super::HookState::Foreign => bail!(
                            "`{}` is another tool's hook; pushguard will not overwrite it",
                            path.display()
                        ),
                        super::super::HookState::Current if !force => eprintln!(
                            "pushguard: gitolite's copy of the {} hook is already current: {}",
                            kind.name(),
                            path.display()
                        ),
                        _ => {
                            write_executable(&path, &kind_text(kind, &bin))?;
                            eprintln!(
                                "pushguard: wrote the {} hook for gitolite to link: {}",
                                kind.name(),
                                path.display()
                            );
                        }
                    }
                }
                wrote = true;
            }
            Some((local, _)) => {
                eprintln!(
                    "pushguard: LOCAL_CODE ({}) is inside gitolite-admin: add the hooks there in your clone of gitolite-admin, as local/hooks/repo-specific/{} and {} (executable), with the text of `hooks/pre-receive` and `hooks/post-receive` that `pushguard install --host plain` writes in a scratch bare repository",
                    local.display(),
                    GITOLITE_CODES[0].1,
                    GITOLITE_CODES[1].1
                );
            }
            None => {}
        }
        let mark = |done: bool| if done { "✓" } else { "✗" };
        let mut steps = String::new();
        steps += &format!(
            "pushguard: to gate `{repo}` through gitolite, as the account gitolite runs as:\n"
        );
        if rc.is_none() {
            steps += "  (`gitolite query-rc` could not be run here: run `pushguard install` as the account gitolite runs as, with gitolite on its PATH)\n";
        }
        let rc_has_local = rc.as_ref().is_some_and(|r| r.local_code.is_some());
        let enabled = rc.as_ref().is_some_and(|r| r.enabled);
        let keys = rc.as_ref().map(|r| r.config_keys.as_str()).unwrap_or("");
        let keys_ok = GITOLITE_CONFIG_KEYS
            .split_whitespace()
            .all(|k| allows(keys, &k.replace('\\', "")));
        steps += "  1. in ~/.gitolite.rc:\n";
        steps += &format!(
            "       {} LOCAL_CODE => \"$ENV{{HOME}}/local\",{}\n",
            mark(rc_has_local),
            if rc_has_local {
                ""
            } else {
                "        (then run `pushguard install` here again: it writes pushguard's hooks there)"
            }
        );
        steps += &format!(
            "       {} 'repo-specific-hooks',                 (in the ENABLE list)\n",
            mark(enabled)
        );
        steps += &format!(
            "       {} GIT_CONFIG_KEYS => '{GITOLITE_CONFIG_KEYS}',   (push options; signed pushes)\n",
            mark(keys_ok)
        );
        steps += "  2. in conf/gitolite.conf of gitolite-admin, then push gitolite-admin:\n";
        steps += &format!("       repo {repo}\n");
        let hooks = git_dir.join("hooks");
        for (kind, code) in GITOLITE_CODES {
            let linked = is_gitolite_driver(&hooks.join(kind.name()))
                && linked(&hooks, kind, &bin).is_some();
            steps += &format!(
                "       {}   option hook.{} = {code}\n",
                mark(linked),
                kind.name()
            );
        }
        let options = Command::new("git")
            .args(["config", "--type=bool", "receive.advertisePushOptions"])
            .current_dir(git_dir)
            .output()
            .is_ok_and(|o| {
                o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "true"
            });
        steps += &format!(
            "       {}   config receive.advertisePushOptions = true\n",
            mark(options)
        );
        steps += "  3. `pushguard status` in this repository then says that gitolite's driver runs pushguard\n";
        if !wrote && rc_has_local {
            steps += "  (pushguard's hooks are not in LOCAL_CODE yet: see above)\n";
        }
        eprint!("{steps}");
        Ok(())
    }

    /// gitolite's name of the repository at `git_dir` (`app` for `~/repositories/app.git`).
    fn repo_name(git_dir: &Path, repo_base: Option<&Path>) -> String {
        let dir = fs::canonicalize(git_dir).unwrap_or_else(|_| git_dir.to_path_buf());
        let base = repo_base.and_then(|b| fs::canonicalize(b).ok());
        let relative = base
            .as_deref()
            .and_then(|b| dir.strip_prefix(b).ok())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| dir.file_name().map(PathBuf::from).unwrap_or_default());
        let name = relative.to_string_lossy().into_owned();
        name.strip_suffix(".git").unwrap_or(&name).to_owned()
    }

    /// What `uninstall` says in a gitolite repository: the steps that undo it.
    pub fn uninstall_steps(git_dir: &Path) {
        let repo = repo_name(git_dir, query_rc("GL_REPO_BASE").as_deref().map(Path::new));
        eprintln!("pushguard: this repository is hosted by gitolite: remove pushguard through gitolite, in conf/gitolite.conf of gitolite-admin, then push it:");
        eprintln!("       repo {repo}");
        for (kind, code) in GITOLITE_CODES {
            eprintln!(
                "           option hook.{} = {code}      (delete this line)",
                kind.name()
            );
        }
        eprintln!("  pushguard's hooks in LOCAL_CODE/hooks/repo-specific/ serve every repository that names them: delete them once none does");
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn config_keys_are_regexes() {
            assert!(allows(GITOLITE_CONFIG_KEYS, "receive.advertisePushOptions"));
            assert!(allows(r"receive\..*", "receive.advertisePushOptions"));
            assert!(!allows("", "receive.advertisePushOptions"));
            assert!(!allows(
                r"receive\.certNonceSeed",
                "receive.advertisePushOptions"
            ));
        }
    }
}
