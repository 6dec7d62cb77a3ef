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
use crate::sites::{ChainedHook, Client};
use crate::terminal::Interaction;
use crate::{pipeline, push, Exit};

pub use crate::install::CHAINED_HOOK;

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
    let chained = hook_dir.map(|dir| ChainedHook {
        path: dir.join(CHAINED_HOOK),
        hook: "pre-push",
        args: vec![remote.to_owned(), url.to_owned()],
        input: input.clone(),
    });
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
