//! The pre-push hook: read git's input, classify each ref update, gate the environment
//! branches, then hand over to a chained hook.
//!
//! A push that touches no environment branch never opens the repository with libgit2: it
//! costs a parse of stdin and of the config, so that it is indistinguishable from a plain
//! shell hook.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result};

use crate::checks::{Context, Mode};
use crate::config::{Config, Environment};
use crate::gate::{self, Decision};
use crate::git::Repo;
use crate::push::{self, RefUpdate};
use crate::report::{self, Styles};
use crate::{audit, prompt};
use crate::{Exit, WithHint};

/// File name, beside the installed hook, of a foreign hook that pushguard chains.
pub const CHAINED_HOOK: &str = "pre-push.pushguard-chained";

/// Runs the pre-push hook: `remote_arg` and `url` are git's `$1` and `$2`.
pub fn pre_push(remote_arg: &str, url: &str, hook_dir: Option<&Path>) -> Result<Exit> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .context("failed to read the pre-push input from stdin")?;
    let updates = push::parse(&input)?;
    let exit = gate_push(remote_arg, url, &updates)?;
    if exit != Exit::Success {
        return Ok(exit);
    }
    run_chained(hook_dir, remote_arg, url, &input)
}

/// The directory whose `.pushguard.toml` applies: git runs hooks at the work-tree root.
fn work_tree_root() -> Option<PathBuf> {
    match std::env::var_os("GIT_WORK_TREE") {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => std::env::current_dir().ok(),
    }
}

/// Loads the configuration for the hook, or explains that every push is blocked until it
/// is fixed.
pub fn load_config_for_hook() -> Result<Config> {
    load_config_at(work_tree_root().as_deref())
}

/// Loads the configuration for a command run anywhere in a clone: the work tree's root is
/// asked from the repository, not taken from the current directory.
pub fn load_config_for_command() -> Result<Config> {
    let root = Repo::open_from_env()
        .ok()
        .and_then(|repo| repo.work_tree().map(Path::to_path_buf))
        .or_else(work_tree_root);
    load_config_at(root.as_deref())
}

/// Loads the configuration with the work tree at `root`, with the hints for a broken one.
fn load_config_at(root: Option<&Path>) -> Result<Config> {
    Config::load(root)
        .context("the pushguard configuration is invalid, so every push is blocked (pushguard cannot tell which branches are environments)")
        .map_err(|e| {
            crate::with_hint(
                crate::with_hint(e, report::BROKEN_CONFIG_HINTS[1]),
                report::BROKEN_CONFIG_HINTS[0],
            )
        })
}

/// Gates every environment ref update of a push; `Exit::Success` when all are allowed.
fn gate_push(remote_arg: &str, url: &str, updates: &[RefUpdate]) -> Result<Exit> {
    if updates.is_empty() {
        return Ok(Exit::Success);
    }
    let config = load_config_for_hook()?;
    let gated = classify(&config, updates)?;
    if gated.is_empty() {
        return Ok(Exit::Success);
    }
    let st = Styles::stderr();
    let mut err = std::io::stderr().lock();

    if gated.iter().any(|(u, _)| u.local_oid.len() == 64) {
        return sha256_gate(&mut err, &st, &gated, remote_arg, url, &config);
    }
    let repo = Repo::open_from_env()?;
    let remote = repo.remote_name(remote_arg, url);
    let shown_remote = remote.as_deref().unwrap_or(url);

    let state_dir = repo.state_dir();
    let mut session = prompt::Session::new(state_dir.clone());
    let mut all_allowed = true;
    let mut team_records = Vec::new();
    for (update, environment) in &gated {
        let ctx = Context::new(
            &repo,
            &config,
            environment,
            update,
            remote.as_deref(),
            url,
            Mode::Hook,
        );
        report::write_heading(&mut err, &st, &environment.name, update, shown_remote)?;
        let verdict = gate::evaluate(&ctx);
        report::write_results(&mut err, &st, &verdict.results)?;
        let range = ctx.pushed_commits().unwrap_or_default();
        let request = prompt::Request {
            config: &config,
            environment,
            remote_ref: &update.remote_ref,
            new: update.new_oid(),
            checks_passed: verdict.passed(),
            summary: prompt::Summary {
                environment: environment.name.clone(),
                branch: update.branch().unwrap_or(&update.remote_ref).to_owned(),
                remote: shown_remote.to_owned(),
                commits: range.len(),
                subjects: range
                    .iter()
                    .take(10)
                    .map(|oid| {
                        (
                            report::short(&oid.to_string()).to_owned(),
                            repo.subject(*oid),
                        )
                    })
                    .collect(),
            },
        };
        let gathered = session.gather(&request);
        let mut decision = gate::decide(
            &verdict,
            environment.confirm,
            !environment.checklist.is_empty(),
            environment.bypass,
            &gathered.answers,
        );
        let mut record = audit_record(
            repo.identity(),
            remote.as_deref().unwrap_or(remote_arg),
            url,
            update,
            &environment.name,
            range.len() as u64,
            decision,
            &verdict.results,
            &gathered,
        );
        if crate::signing::sign_in_hook(&mut err, &repo, &config, environment, &mut record)? {
            (decision, record.decision) = (Decision::Blocked, Decision::Blocked);
        }
        report::write_gathered(&mut err, &st, environment, &config, &gathered, decision)?;
        match audit::append(&state_dir, record, audit::lock_timeout()) {
            Err(e) => {
                decision = Decision::Blocked;
                report::write_unrecorded(&mut err, &e)?;
            }
            Ok(written) => {
                if decision != Decision::Blocked {
                    session.remember(&request, &gathered);
                }
                // The same hash-chained record goes to the team's notes.
                team_records.push(written);
            }
        }
        let failed: Vec<_> = verdict.failed().cloned().collect();
        report::write_decision(&mut err, &st, &environment.name, decision, &failed)?;
        all_allowed &= decision != Decision::Blocked;
    }
    // Attach the records to their tips in refs/notes/pushguard-audit and share them when the
    // push is allowed (bounded in time; a failure is remembered and retried).
    let share_with = all_allowed.then(|| remote.as_deref().unwrap_or(url));
    for warning in crate::notes::share_audit(&repo, &team_records, share_with) {
        writeln!(err, "pushguard: warning: {warning}")?;
    }
    Ok(if all_allowed {
        Exit::Success
    } else {
        Exit::Blocked
    })
}

/// The audit record of one gated ref update from a client.
#[allow(clippy::too_many_arguments)]
fn audit_record(
    user: crate::git::Identity,
    remote: &str,
    url: &str,
    update: &RefUpdate,
    environment: &str,
    commits: u64,
    decision: Decision,
    results: &[crate::checks::CheckResult],
    gathered: &prompt::Gathered,
) -> audit::Record {
    audit::Record {
        user,
        remote: remote.to_owned(),
        url: url.to_owned(),
        commits,
        checklist: gathered.checklist.clone(),
        ..audit::Record::gated(update, environment, decision, results, &gathered.answers)
    }
}

/// Pairs each ref update that targets an environment branch with its environment.
pub fn classify<'c, 'u>(
    config: &'c Config,
    updates: &'u [RefUpdate],
) -> Result<Vec<(&'u RefUpdate, &'c Environment)>> {
    let mut gated = Vec::new();
    for update in updates {
        let Some(branch) = update.branch() else {
            continue;
        };
        if let Some(env) = config
            .environment_for_branch(branch)
            .hint("give each branch to one environment in `.pushguard.toml`")?
        {
            gated.push((update, env));
        }
    }
    Ok(gated)
}

/// Refuses gated pushes in a SHA-256 repository, which released libgit2 cannot open, unless
/// `PUSHGUARD_BYPASS` gives a justification; either way the decision is recorded.
fn sha256_gate(
    err: &mut impl Write,
    st: &Styles,
    gated: &[(&RefUpdate, &Environment)],
    remote: &str,
    url: &str,
    config: &Config,
) -> Result<Exit> {
    let state_dir = crate::git::common_dir_via_git()?.join("pushguard");
    let user = identity_via_git();
    let why = prompt::env_value(prompt::BYPASS_ENV);
    let mut all_allowed = true;
    for (update, environment) in gated {
        report::write_heading(err, st, &environment.name, update, remote)?;
        writeln!(
            err,
            "  this repository uses SHA-256 object names, which pushguard's git library (libgit2) cannot read yet,\n  so the checks for {} cannot run",
            environment.name
        )?;
        let results: Vec<_> = environment
            .checks
            .iter()
            .map(|&id| {
                crate::checks::CheckResult::skip(
                    id,
                    "not run: SHA-256 repository (libgit2 cannot read it)",
                )
            })
            .collect();
        let problem = why
            .as_deref()
            .and_then(|w| prompt::justification_problem(w, config.bypass.min_length));
        let mut decision = match (&why, problem) {
            (Some(_), None) if environment.bypass => Decision::Bypassed,
            _ => Decision::Blocked,
        };
        let gathered = prompt::Gathered {
            answers: gate::Answers {
                justification: why.clone(),
                ..gate::Answers::default()
            },
            checklist: Vec::new(),
            block: None,
            source: prompt::Source::Environment,
        };
        let commits = count_via_git(update, remote);
        let record = audit_record(
            user.clone(),
            remote,
            url,
            update,
            &environment.name,
            commits,
            decision,
            &results,
            &gathered,
        );
        if let Err(e) = audit::append(&state_dir, record, audit::lock_timeout()) {
            decision = Decision::Blocked;
            report::write_unrecorded(err, &e)?;
        }
        report::write_decision(err, st, &environment.name, decision, &[])?;
        all_allowed &= decision != Decision::Blocked;
    }
    if all_allowed {
        return Ok(Exit::Success);
    }
    writeln!(
        err,
        "hint: to push anyway, set PUSHGUARD_BYPASS=\"<why this push is needed>\" (at least {} characters; it is recorded)",
        config.bypass.min_length
    )?;
    Ok(Exit::Blocked)
}

/// The pusher's identity from `git config`, for repositories libgit2 cannot open.
fn identity_via_git() -> crate::git::Identity {
    let get = |key: &str| {
        Command::new("git")
            .args(["config", key])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    crate::git::Identity {
        name: get("user.name"),
        email: get("user.email"),
    }
}

/// The pushed range's size from `git rev-list`, for repositories libgit2 cannot open.
fn count_via_git(update: &RefUpdate, remote: &str) -> u64 {
    let Some(new) = update.new_oid() else {
        return 0;
    };
    let mut cmd = Command::new("git");
    cmd.args(["rev-list", "--count", new, "--not"]);
    match update.old_oid() {
        Some(old) => cmd.arg(old),
        None => cmd.arg(format!("--remotes={remote}")),
    };
    cmd.output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(0)
}

/// Runs a foreign hook kept at install, with the same arguments and stdin; its status wins.
fn run_chained(hook_dir: Option<&Path>, remote: &str, url: &str, input: &[u8]) -> Result<Exit> {
    let Some(dir) = hook_dir else {
        return Ok(Exit::Success);
    };
    run_chained_hook(&dir.join(CHAINED_HOOK), "pre-push", &[remote, url], input)
}

/// Runs the chained `hook` at `path`, if there is one, with `args` and `input` on stdin.
pub fn run_chained_hook(path: &Path, hook: &str, args: &[&str], input: &[u8]) -> Result<Exit> {
    if !path.is_file() {
        return Ok(Exit::Success);
    }
    let mut child = Command::new(path)
        .args(args)
        .stdin(Stdio::piped())
        .spawn()
        .with_context(|| format!("failed to run the chained hook `{}`", path.display()))
        .hint(format!(
            "make it executable (`chmod +x {}`) or remove it",
            path.display()
        ))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let data = input.to_vec();
    // A hook that exits without reading its input is fine: ignore the broken pipe.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let status = child
        .wait()
        .with_context(|| format!("failed to wait for the chained hook `{}`", path.display()))?;
    let _ = writer.join();
    match status.code() {
        Some(0) => Ok(Exit::Success),
        Some(code) => {
            eprintln!(
                "pushguard: the chained {hook} hook `{}` exited with status {code}",
                path.display()
            );
            Ok(Exit::Code(u8::try_from(code).unwrap_or(1).max(1)))
        }
        None => {
            eprintln!(
                "pushguard: the chained {hook} hook `{}` was killed by a signal",
                path.display()
            );
            Ok(Exit::Blocked)
        }
    }
}
