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
use crate::gate::{self, Answers, Decision};
use crate::git::Repo;
use crate::push::{self, RefUpdate};
use crate::report::{self, Styles};
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

/// Loads the configuration, or explains that every push is blocked until it is fixed.
pub fn load_config_for_hook() -> Result<Config> {
    let root = work_tree_root();
    Config::load(root.as_deref())
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
        return sha256_gate(&mut err, &st, &gated, remote_arg);
    }
    let repo = Repo::open_from_env()?;
    let remote = repo.remote_name(remote_arg, url);
    let shown_remote = remote.as_deref().unwrap_or(url);

    let mut all_allowed = true;
    let mut team_records = Vec::new();
    for (update, environment) in &gated {
        let ctx = Context {
            repo: &repo,
            config: &config,
            environment,
            update,
            remote: remote.as_deref(),
            url,
            mode: Mode::Hook,
        };
        report::write_heading(&mut err, &st, &environment.name, update, shown_remote)?;
        let verdict = gate::evaluate(&ctx);
        report::write_results(&mut err, &st, &verdict.results)?;
        let answers = Answers::default();
        let decision = gate::decide(&verdict, false, false, environment.bypass, &answers);
        let failed: Vec<_> = verdict.failed().cloned().collect();
        report::write_decision(&mut err, &st, &environment.name, decision, &failed)?;
        all_allowed &= decision != Decision::Blocked;
        // TEAM LAYER (issue 5): keep the record for the shared audit notes.
        team_records.push(crate::notes::placeholder_record(
            &ctx,
            shown_remote,
            &verdict,
            decision,
        ));
    }
    // TEAM LAYER (issue 5): attach the records to their tips in refs/notes/pushguard-audit and
    // share them when the push is allowed (bounded; a failure is remembered and retried).
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

/// Refuses gated pushes in a SHA-256 repository, which released libgit2 cannot open.
fn sha256_gate(
    err: &mut impl Write,
    st: &Styles,
    gated: &[(&RefUpdate, &Environment)],
    remote: &str,
) -> Result<Exit> {
    for (update, environment) in gated {
        report::write_heading(err, st, &environment.name, update, remote)?;
        writeln!(
            err,
            "  this repository uses SHA-256 object names, which pushguard's git library (libgit2) cannot read yet,\n  so the checks for {} cannot run",
            environment.name
        )?;
        report::write_decision(err, st, &environment.name, Decision::Blocked, &[])?;
    }
    writeln!(
        err,
        "hint: to push anyway, set PUSHGUARD_BYPASS=\"<why this push is needed>\" (it is recorded)"
    )?;
    Ok(Exit::Blocked)
}

/// Runs a foreign hook kept at install, with the same arguments and stdin; its status wins.
fn run_chained(hook_dir: Option<&Path>, remote: &str, url: &str, input: &[u8]) -> Result<Exit> {
    let Some(dir) = hook_dir else {
        return Ok(Exit::Success);
    };
    let path = dir.join(CHAINED_HOOK);
    if !path.is_file() {
        return Ok(Exit::Success);
    }
    let mut child = Command::new(&path)
        .args([remote, url])
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
                "pushguard: the chained pre-push hook `{}` exited with status {code}",
                path.display()
            );
            Ok(Exit::Code(u8::try_from(code).unwrap_or(1).max(1)))
        }
        None => {
            eprintln!(
                "pushguard: the chained pre-push hook `{}` was killed by a signal",
                path.display()
            );
            Ok(Exit::Blocked)
        }
    }
}
