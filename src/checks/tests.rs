//! `tests`: every test command exits 0 on the pushed commit's tree. A pass is cached by tree
//! id and command, so pushing the same tree again, or promoting it, does not run them again.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use anyhow::Result;
use git2::Oid;

use super::range::pushed_commit;
use super::{CheckId, CheckResult, Context};
use crate::config::TestsConfig;
use crate::git::GitDir;
use crate::testrun::{self, Cache, Ended, Place};

/// How one command fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandResult {
    Cached,
    Ran(Ended),
}

/// Judges the results of the commands, in order; `log` holds the failing run's output and
/// `search_path` is the `PATH` the commands ran with.
pub fn judge(
    results: &[(String, CommandResult)],
    place: Option<&Place>,
    log: &Path,
    tail: Vec<String>,
    search_path: &str,
) -> CheckResult {
    let id = CheckId::Tests;
    if results.is_empty() {
        return CheckResult::skip(
            id,
            "no test command configured or detected (set [tests].commands to run some)",
        );
    }
    let mut passed = Vec::new();
    for (command, result) in results {
        let fail = |what: String| {
            CheckResult::fail(id, format!("`{command}` {what}")).with_more(
                std::iter::once(format!(
                    "last lines of the output (full log: {}):",
                    log.display()
                ))
                .chain(tail.iter().map(|l| format!("│ {l}")))
                .collect(),
            )
        };
        match result {
            CommandResult::Cached => {
                passed.push(format!("`{command}` passed before on this tree (cached)"))
            }
            CommandResult::Ran(Ended::Passed(t)) => {
                passed.push(format!("`{command}` passed in {:.1}s", t.as_secs_f64()))
            }
            CommandResult::Ran(Ended::Failed {
                code: Some(NOT_FOUND),
                ..
            }) => {
                // `sh` says "not found" and exits 127: typical of GUI clients, whose hooks run
                // with a minimal PATH. Fixing the tests would not help (issue 13, item 8).
                let program = program_of(command);
                let mut result = fail(format!(
                    "failed with exit 127: `{program}` (or a command it runs) was not found on the hook's PATH"
                ));
                result.more.push(format!("the hook's PATH: {search_path}"));
                return result.with_hint(format!(
                    "give the full path in [tests].commands in .pushguard.toml (`command -v {program}` in your terminal prints it), or start your git client with that directory on its PATH"
                ));
            }
            CommandResult::Ran(Ended::Failed { code, .. }) => {
                let how = code.map_or("was killed by a signal".to_owned(), |c| {
                    format!("failed (exit {c})")
                });
                let r#where = match place {
                    Some(Place::Worktree(d)) => format!(" in {}", d.display()),
                    _ => String::new(),
                };
                return fail(format!("{how}{where}"))
                    .with_hint("fix the failure and commit; `pushguard check <env>` runs the tests again before you push");
            }
            CommandResult::Ran(Ended::TimedOut(t)) => {
                return fail(format!("timed out after {}s and was stopped", t.as_secs()))
                    .with_hint(
                        "make the tests faster, or raise [tests].timeout in .pushguard.toml",
                    );
            }
            CommandResult::Ran(Ended::Interrupted) => {
                return CheckResult::fail(id, format!("`{command}` was interrupted (Ctrl-C); the push is blocked"))
                    .with_hint("run `pushguard check <env>` to run the tests ahead of the push; a pass is cached");
            }
        }
    }
    CheckResult::pass(id, passed.join("; "))
}

/// The exit status of `sh -c` when it cannot find the command.
const NOT_FOUND: i32 = 127;

/// The program a shell command line starts: its first word after any `NAME=value`.
fn program_of(command: &str) -> &str {
    command
        .split_whitespace()
        .find(|w| !w.contains('='))
        .unwrap_or(command)
}

/// What running (or finding cached) the commands gave.
struct Ran {
    results: Vec<(String, CommandResult)>,
    place: Option<Place>,
    log: PathBuf,
    /// The failing command's last output lines.
    tail: Vec<String>,
    /// Held while tests run: one test run at a time per clone.
    lock: Option<std::fs::File>,
}

fn facts(ctx: &Context) -> Result<Ran> {
    let commit: Oid = pushed_commit(ctx)?;
    let tree = testrun::tree_of(ctx.repo, commit)?;
    let commands = testrun::commands(ctx.repo, &ctx.config.tests.commands, &tree);
    let tree = tree.id().to_string();
    run_commands(
        ctx.repo.git(),
        &ctx.config.tests,
        &commit.to_string(),
        &tree,
        commands,
        ctx.interrupted,
    )
}

/// The facts through git alone (a SHA-256 repository): `commit` is the pushed commit.
fn facts_via_git(
    git: &GitDir,
    config: &TestsConfig,
    commit: &str,
    interrupted: &AtomicBool,
) -> Result<Ran> {
    let tree = git.tree_of(commit)?;
    let commands = if config.commands.is_empty() {
        testrun::detect_in(git, &tree)?.into_iter().collect()
    } else {
        config.commands.clone()
    };
    run_commands(git, config, commit, &tree, commands, interrupted)
}

/// Runs `commands` on `commit`, whose tree is `tree` (passes cached by tree and command).
fn run_commands(
    git: &GitDir,
    config: &TestsConfig,
    commit: &str,
    tree: &str,
    commands: Vec<String>,
    interrupted: &AtomicBool,
) -> Result<Ran> {
    let state_dir = git.state_dir();
    let cache = Cache::new(&state_dir);
    let mut ran = Ran {
        results: Vec::new(),
        place: None,
        log: state_dir
            .join("logs")
            .join(format!("tests-{}.log", crate::text::short(commit))),
        tail: Vec::new(),
        lock: None,
    };
    for command in commands {
        if config.cache && cache.passed(tree, &command) {
            ran.results.push((command, CommandResult::Cached));
            continue;
        }
        if ran.lock.is_none() {
            ran.lock = Some(testrun::lock_tests(
                &state_dir,
                config.timeout,
                interrupted,
            )?);
        }
        let place = match &ran.place {
            Some(p) => p,
            None => ran.place.insert(testrun::checkout(git, commit)?),
        };
        let ended = testrun::run(&command, place.dir(), config.timeout, &ran.log, interrupted)?;
        let ok = matches!(ended, Ended::Passed(_));
        if ok && config.cache {
            cache.record(tree, &command)?;
        }
        ran.results.push((command, CommandResult::Ran(ended)));
        if !ok {
            ran.tail = testrun::tail(&ran.log, 20);
            break;
        }
    }
    Ok(ran)
}

/// Judges what running the commands gave (or why they could not run).
fn judged(facts: Result<Ran>) -> CheckResult {
    match facts {
        Ok(ran) => {
            let search_path = std::env::var("PATH").unwrap_or_default();
            judge(
                &ran.results,
                ran.place.as_ref(),
                &ran.log,
                ran.tail,
                &search_path,
            )
        }
        Err(e) => CheckResult::fail(CheckId::Tests, format!("cannot run the tests: {e:#}")),
    }
}

/// Runs the check through git alone (a SHA-256 repository).
pub fn run_via_git(
    git: &GitDir,
    config: &TestsConfig,
    commit: &str,
    interrupted: &AtomicBool,
) -> CheckResult {
    judged(facts_via_git(git, config, commit, interrupted))
}

pub fn run(ctx: &Context) -> CheckResult {
    judged(facts(ctx))
}

#[cfg(test)]
mod unit {
    use super::*;
    use crate::checks::Outcome;
    use std::time::Duration;

    #[test]
    fn outcomes() {
        let log = Path::new("/x.log");
        assert_eq!(judge(&[], None, log, vec![], "/bin").outcome, Outcome::Skip);
        let cached = ("make test".to_owned(), CommandResult::Cached);
        let r = judge(std::slice::from_ref(&cached), None, log, vec![], "/bin");
        assert_eq!(r.outcome, Outcome::Pass);
        assert!(r.detail.contains("cached"));
        let failed = (
            "make test".to_owned(),
            CommandResult::Ran(Ended::Failed {
                code: Some(2),
                elapsed: Duration::ZERO,
            }),
        );
        let r = judge(&[cached, failed], None, log, vec!["boom".into()], "/bin");
        assert_eq!(r.outcome, Outcome::Fail);
        assert_eq!(r.detail, "`make test` failed (exit 2)");
        assert_eq!(
            r.more,
            vec!["last lines of the output (full log: /x.log):", "│ boom"]
        );
        let missing = (
            "CI=1 cargo test".to_owned(),
            CommandResult::Ran(Ended::Failed {
                code: Some(127),
                elapsed: Duration::ZERO,
            }),
        );
        let r = judge(&[missing], None, log, vec![], "/usr/bin:/bin");
        assert_eq!(r.outcome, Outcome::Fail);
        assert!(r
            .detail
            .contains("`cargo` (or a command it runs) was not found"));
        assert!(r
            .more
            .contains(&"the hook's PATH: /usr/bin:/bin".to_owned()));
    }
}
