//! `pushguard status`: where the hook is installed and whether it is current, which config
//! is in force, every branch of each environment on the remote with its tip, how far each
//! environment is ahead of the next, and whether `HEAD`'s tree has passed its tests.

use std::fmt::Write as _;

use anyhow::{Context as _, Result};
use git2::Oid;

use crate::config::{Config, Environment, Source};
use crate::git::Repo;
use crate::install::{hook_state, hooks_dir, HookState};

/// Which branches `status` shows the environments on.
enum Branches<'a> {
    /// A clone's remote-tracking branches of this remote.
    Remote(&'a str),
    /// A bare repository's own branches.
    Own,
    /// None: the clone has no remote.
    None,
}
use crate::outcome::Exit;
use crate::remote::{default_remote, ADD_REMOTE_HINT};
use crate::testrun::{self, Cache};

pub fn run(remote: Option<&str>) -> Result<Exit> {
    let repo = Repo::open_from_env()?;
    let config = crate::config::load(&crate::config::Location::of_repo(&repo))?;
    let mut out = String::new();
    if repo.git2().is_bare() {
        write_server(&mut out, &repo, &config)?;
        print!("{out}");
        return Ok(Exit::Success);
    }

    let dir = hooks_dir()?;
    let state = match hook_state(&dir)? {
        HookState::NotInstalled => "not installed (run `pushguard install`)",
        HookState::Current => "installed, current",
        HookState::Outdated => {
            "installed by another pushguard binary (run `pushguard install --force`)"
        }
        HookState::Foreign => "another tool's hook, not pushguard's (see `path:` below)",
    };
    writeln!(out, "hook:    {} — {state}", dir.join("pre-push").display())?;
    writeln!(out, "path:    {}", crate::install::managers::summary(&dir)?)?;
    let sources: Vec<String> = config.sources.iter().map(Source::to_string).collect();
    writeln!(out, "config:  {}", sources.join(" + "))?;

    let remote = match remote {
        Some(r) => Ok(Some(r.to_owned())),
        None => default_remote(&repo),
    };
    let remote = match remote {
        Ok(Some(remote)) => {
            writeln!(
                out,
                "remote:  {} (as last fetched)",
                crate::text::escape(&remote, 80)
            )?;
            Some(remote)
        }
        Ok(None) => {
            writeln!(
                out,
                "remote:  none: this clone has no remote, so no environment branch can be shown"
            )?;
            writeln!(out, "         hint: {ADD_REMOTE_HINT}")?;
            None
        }
        Err(e) => {
            writeln!(out, "remote:  none chosen: {e}")?;
            writeln!(
                out,
                "         hint: name one with `pushguard status --remote <name>`"
            )?;
            None
        }
    };
    let branches = match remote.as_deref() {
        Some(r) => Branches::Remote(r),
        None => Branches::None,
    };
    write_environments(&mut out, &repo, &config, branches)?;
    write_freeze(
        &mut out,
        &config,
        crate::checks::freeze::local_zone().as_ref(),
    )?;
    writeln!(out, "tests:   {}", head_tests(&repo, &config)?)?;
    for line in crate::signing::status_lines(&repo, &config) {
        writeln!(out, "{line}")?;
    }
    print!("{out}");
    Ok(Exit::Success)
}

/// The status of a bare repository in server mode: its hooks, its config (the server's
/// `pushguard.toml`), whether it takes push options, and its own environment branches
/// (issue 13, item 9).
fn write_server(out: &mut String, repo: &Repo, config: &Config) -> Result<()> {
    let dir = hooks_dir()?;
    writeln!(
        out,
        "server:  bare repository {} (server mode)",
        repo.common_dir().display()
    )?;
    for line in crate::install::hosts::status_lines(repo.common_dir(), &dir)? {
        writeln!(out, "{line}")?;
    }
    let sources: Vec<String> = config.sources.iter().map(Source::to_string).collect();
    writeln!(out, "config:  {}", sources.join(" + "))?;
    let options = repo
        .git2()
        .config()
        .and_then(|c| c.get_bool("receive.advertisePushOptions"))
        .unwrap_or(false);
    writeln!(
        out,
        "options: {}",
        if options {
            "push options accepted (`git push -o consulted=…`, `-o bypass=…`)"
        } else {
            "push options not advertised: run `git config receive.advertisePushOptions true` here"
        }
    )?;
    for line in crate::sites::push_cert::setup_lines(repo, config) {
        writeln!(out, "{line}")?;
    }
    writeln!(out, "{}", crate::sites::attested::status_line(config))?;
    write_environments(out, repo, config, Branches::Own)?;
    // The server judges with its own clock, in its own zone (the pushers' are unknown here).
    write_freeze(out, config, None)
}

/// How far ahead `status` looks for the next freeze.
const NEXT_FREEZE_WITHIN: jiff::SignedDuration = jiff::SignedDuration::from_hours(14 * 24);

/// Per environment that a `[[freeze]]` window applies to: "frozen until …" (and by what), or
/// the next freeze within 14 days, judged now with this machine's clock (issue 17).
fn write_freeze(
    out: &mut String,
    config: &Config,
    local: Option<&jiff::tz::TimeZone>,
) -> Result<()> {
    use crate::checks::freeze::{self, State};
    if config.freeze.is_empty() {
        return Ok(());
    }
    let windows = match config.freeze_windows() {
        Ok(w) => w,
        Err(e) => {
            writeln!(
                out,
                "freeze:  invalid: {}",
                format!("{e:#}").replace('\n', "\n         ")
            )?;
            return Ok(());
        }
    };
    let now = jiff::Timestamp::now();
    writeln!(
        out,
        "freeze:  judged with this machine's clock, now {}",
        freeze::shown(now, local.unwrap_or(&jiff::tz::TimeZone::UTC))
    )?;
    for env in &config.environments {
        let applying = freeze::windows_for(windows, &env.name);
        if applying.is_empty() {
            continue;
        }
        let name = crate::text::escape(&env.name, 40);
        let line = match freeze::state(&applying, now) {
            State::Frozen { by, until } => {
                let first = by
                    .first()
                    .map(|a| a.window)
                    .expect("a frozen state names its windows");
                let names: Vec<String> = by
                    .iter()
                    .map(|a| format!("`{}`", crate::text::escape(&a.window.name, 60)))
                    .collect();
                format!(
                    "frozen until {} by {}",
                    freeze::shown_until(until, &first.zone, &first.zone_name, local),
                    names.join(", ")
                )
            }
            State::Open => match freeze::next_freeze(&applying, now, NEXT_FREEZE_WITHIN) {
                Some((at, State::Frozen { by, until })) => {
                    let first = by
                        .first()
                        .map(|a| a.window)
                        .expect("a frozen state names its windows");
                    let names: Vec<String> = by
                        .iter()
                        .map(|a| format!("`{}`", crate::text::escape(&a.window.name, 60)))
                        .collect();
                    format!(
                        "open; next freeze {} from {} until {}",
                        names.join(", "),
                        freeze::shown_until(
                            freeze::Until::At(at),
                            &first.zone,
                            &first.zone_name,
                            local
                        ),
                        freeze::shown_until(until, &first.zone, &first.zone_name, None)
                    )
                }
                _ => "open; no freeze in the next 14 days".to_owned(),
            },
        };
        writeln!(out, "  {name:<12} {line}")?;
    }
    Ok(())
}

/// Lists every branch of every environment on `remote` (as last fetched) with its tip, then
/// how far each environment is ahead of the one it promotes to. An environment with several
/// branches on the remote (`main` and `production`) shows each of them (issue 13, item 1).
fn write_environments(
    out: &mut String,
    repo: &Repo,
    config: &Config,
    branches: Branches,
) -> Result<()> {
    // Names from the remote and the config are escaped like everything else printed (issue 10).
    let esc = |text: &str| crate::text::escape(text, 80);
    let own = matches!(branches, Branches::Own);
    let (tracking, remote) = match branches {
        Branches::Remote(r) => (repo.remote_tracking(r).unwrap_or_default(), r),
        Branches::Own => (std::rc::Rc::new(repo.branches().unwrap_or_default()), ""),
        Branches::None => (std::rc::Rc::default(), ""),
    };
    // `origin/main` in a clone; `main` in a bare repository.
    let shown = |branch: &str| {
        if own {
            esc(branch)
        } else {
            format!("{}/{}", esc(remote), esc(branch))
        }
    };
    let branches_of = |env: &Environment| -> Vec<(String, Oid)> {
        tracking
            .iter()
            .filter(|(n, _)| env.matches(n))
            .cloned()
            .collect()
    };
    writeln!(out, "environments:")?;
    for env in &config.environments {
        let branches = branches_of(env);
        if branches.is_empty() {
            let place = if own {
                "no such branch here".to_owned()
            } else if remote.is_empty() {
                "no remote to look at".to_owned()
            } else {
                format!("not on {}", esc(remote))
            };
            writeln!(
                out,
                "  {:<12} {place} ({})",
                esc(&env.name),
                esc(&env.branches.join(", "))
            )?;
        }
        for (i, (branch, tip)) in branches.iter().enumerate() {
            writeln!(
                out,
                "  {:<12} {:<22}  {}  {}",
                if i == 0 {
                    esc(&env.name)
                } else {
                    String::new()
                },
                shown(branch),
                &tip.to_string()[..10],
                crate::text::escape(&repo.subject(*tip), 60)
            )?;
        }
    }
    for env in &config.environments {
        let Some(source) = env
            .promote_from
            .as_deref()
            .and_then(|s| config.environment(s))
        else {
            continue;
        };
        let (froms, tos) = (branches_of(source), branches_of(env));
        // With one branch each, the environments' names say it all; else name the branches.
        let named = froms.len() > 1 || tos.len() > 1;
        for (from_branch, from) in &froms {
            for (to_branch, to) in &tos {
                let n = ahead(repo, *from, *to)?;
                let (a, b) = if named {
                    (
                        format!("{} ({})", esc(&source.name), shown(from_branch)),
                        format!("{} ({})", esc(&env.name), shown(to_branch)),
                    )
                } else {
                    (esc(&source.name), esc(&env.name))
                };
                writeln!(
                    out,
                    "  {a} is {n} commit{} ahead of {b}",
                    if n == 1 { "" } else { "s" },
                )?;
            }
        }
    }
    Ok(())
}

/// Counts the commits reachable from `from` and not from `to`.
fn ahead(repo: &Repo, from: Oid, to: Oid) -> Result<usize> {
    let mut walk = repo.git2().revwalk().context("failed to walk history")?;
    walk.push(from).context("failed to walk history")?;
    walk.hide(to).context("failed to walk history")?;
    Ok(walk.count())
}

/// Whether `HEAD`'s tree passed its test commands, from the cache.
fn head_tests(repo: &Repo, config: &Config) -> Result<String> {
    let Ok(head) = repo.git2().head().and_then(|h| h.peel_to_commit()) else {
        return Ok("no HEAD commit yet".to_owned());
    };
    let tree = testrun::tree_of(repo, head.id())?;
    let commands = testrun::commands(repo, &config.tests.commands, &tree);
    if commands.is_empty() {
        return Ok("no test command configured or detected".to_owned());
    }
    let cache = Cache::new(&repo.state_dir());
    let tree = tree.id().to_string();
    let pending: Vec<&String> = commands
        .iter()
        .filter(|c| !cache.passed(&tree, c))
        .collect();
    Ok(if pending.is_empty() {
        format!("HEAD's tree passed ({})", commands.join("; "))
    } else {
        format!(
            "HEAD's tree has not passed `{}` yet (`pushguard check <env>` runs it)",
            pending
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("`, `")
        )
    })
}
