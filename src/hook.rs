//! The pre-push hook: read git's input, classify each ref update, and hand the environment
//! branches to the gate pipeline with the client as its site; a chained hook runs after
//! pushguard's allowing decision.
//!
//! A push that touches no environment branch never opens the repository with libgit2: it
//! costs a parse of stdin and of the config, so that it is indistinguishable from a plain
//! shell hook.

use std::io::Read;
use std::path::Path;

use anyhow::{Context as _, Result};

use crate::config::{self, Location};
use crate::git::{GitDir, Reader, Repo};
use crate::outcome::Exit;
use crate::sites::{ChainedHook, Client};
use crate::terminal::Interaction;
use crate::{pipeline, push};

pub use crate::install::CHAINED_HOOK;

/// Runs the pre-push hook as git or a hook manager started it. A hook manager running the
/// hook through its legacy path is stopped after a refusal, so that it does not go on to run
/// its own hooks for a push that will not happen; the refusal is said before that, so that it
/// reads in order.
pub fn pre_push_as_installed(remote: &str, url: &str, hook_dir: Option<&Path>) -> Result<Exit> {
    let result = pre_push(remote, url, hook_dir);
    let allowed = matches!(result, Ok(Exit::Success | Exit::Code(0)));
    match crate::install::managers::running_as_legacy() {
        Some(tool) if !allowed => {
            let result = result.or_else(|e| {
                crate::report::error(&e);
                Ok(Exit::Code(2))
            });
            crate::install::managers::stop_manager(tool);
            result
        }
        _ => result,
    }
}

/// Runs the pre-push hook: `remote` and `url` are git's `$1` and `$2`; `hook_dir` is where
/// the installed shim lives (and a chained hook beside it).
pub fn pre_push(remote: &str, url: &str, hook_dir: Option<&Path>) -> Result<Exit> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .context("failed to read the pre-push input from stdin")?;
    // A probe of `pushguard doctor`, or pushguard run as a pre-commit stage hook.
    if let Some(exit) = crate::commands::doctor::intercept(&input, remote, url, hook_dir)? {
        return Ok(exit);
    }
    let updates = push::parse(&input)?;
    // pre-commit's or prek's own script, run as their legacy hook, is not run again.
    let chained = hook_dir
        .map(|dir| ChainedHook {
            path: dir.join(CHAINED_HOOK),
            hook: "pre-push",
            args: vec![remote.to_owned(), url.to_owned()],
            input: input.clone(),
        })
        .filter(|c| !crate::install::managers::skip_chained(&c.path));
    if updates.is_empty() {
        return ChainedHook::run_alone(chained.as_ref());
    }
    let config = config::load(&Location::for_hook())?;
    let lines = pipeline::classify(&config, &updates)?;
    if lines.is_empty() {
        return ChainedHook::run_alone(chained.as_ref());
    }
    let mut interaction = Interaction::for_person();
    if lines.iter().any(|l| l.update.local_oid.len() == 64) {
        // SHA-256 object names: libgit2 cannot open the repository, git answers (issue 21).
        let git = GitDir::open_from_env()?;
        let site = Client::reading(Reader::Git(&git), &config, remote, url, chained);
        return pipeline::run(&site, &config, &lines, &mut interaction);
    }
    let repo = Repo::open_from_env()?;
    let site = Client::new(&repo, &config, remote, url, chained);
    pipeline::run(&site, &config, &lines, &mut interaction)
}
