//! `pushguard approve <rev> --env E`: records the approver's approval of a commit (and its
//! tree) for an environment as a git note, merged with the approvals already there, and
//! shares it with the remote; `pushguard approve --list [<rev>]` shows the approvals.

use anyhow::{bail, Result};

use crate::config::{self, Location};
use crate::git::Repo;
use crate::notes::{self, Approval};
use crate::outcome::{Exit, WithHint};
use crate::remote::{default_remote, ADD_REMOTE_HINT};
use crate::text::escape;
use crate::text::short;

pub fn run(rev: Option<&str>, env: Option<&str>, remote: Option<&str>, list: bool) -> Result<Exit> {
    let repo = Repo::open_from_env()?;
    if list {
        return list_approvals(&repo, rev, remote);
    }
    let (Some(rev), Some(env)) = (rev, env) else {
        bail!("`pushguard approve` needs a commit and `--env <environment>`");
    };
    let config = config::load(&Location::of_repo(&repo))?;
    let environment = config.require_environment(env)?;
    let commit = repo
        .rev_commit(rev)
        .hint("name a commit this clone has (run `git fetch` if it is on the remote)")?;
    let who = repo.identity_as_git_reads_it();
    if who.email.is_empty() {
        return Err(anyhow::anyhow!(
            "your git identity has no email, so the approval cannot name you"
        ))
        .hint("run `git config user.email you@example.com` (and `user.name`)");
    }
    let remote = match remote {
        Some(r) => Some(r.to_owned()),
        None => default_remote(&repo)?,
    };
    if let Some(remote) = &remote {
        // Merge the team's approvals first, so that ours is added to theirs.
        if let Err(e) = notes::fetch(&repo, remote, notes::APPROVALS, notes::FETCH_TIMEOUT) {
            eprintln!("pushguard: warning: {e:#}");
        }
    }
    let mut approval = Approval {
        name: who.name.clone(),
        email: who.email.clone(),
        time: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        environment: environment.name.clone(),
        commit: commit.id().to_string(),
        tree: commit.tree_id().to_string(),
        signature: None,
    };
    let signed = crate::signing::sign_approval(&repo, &config, environment, &mut approval)?;
    let added = notes::add_approval(&repo, &approval)?;
    let subject = escape(commit.summary().unwrap_or_default(), 80);
    let id = short(&approval.commit).to_owned();
    if added {
        eprintln!(
            "pushguard: approved {id} ({subject}) for {} as {} <{}>{}",
            environment.name,
            escape(&who.name, 80),
            escape(&who.email, 80),
            signed
                .map(|key| format!(", signed with {}", escape(&key, 120)))
                .unwrap_or_default()
        );
    } else {
        eprintln!(
            "pushguard: you had already approved {id} ({subject}) for {}",
            environment.name
        );
    }
    let Some(remote) = remote else {
        eprintln!("pushguard: this clone has no remote, so the approval is only in this clone");
        eprintln!(
            "hint: {ADD_REMOTE_HINT}; then `pushguard approve {id} --env {}` shares it",
            environment.name
        );
        return Ok(Exit::Success);
    };
    notes::push(&repo, &remote, notes::APPROVALS, notes::PUSH_TIMEOUT)
        .hint(format!(
            "the approval is recorded in this clone; share it with `pushguard approve {id} --env {} --remote {remote}` once the remote is reachable",
            environment.name
        ))?;
    eprintln!(
        "pushguard: shared with {remote} ({})",
        notes::APPROVALS.full()
    );
    Ok(Exit::Success)
}

/// Prints the approvals (of `rev`, or all), one per line, on stdout.
fn list_approvals(repo: &Repo, rev: Option<&str>, remote: Option<&str>) -> Result<Exit> {
    // The team's approvals, not only this clone's: best effort unless a remote was named.
    match remote {
        Some(remote) => {
            notes::fetch(repo, remote, notes::APPROVALS, notes::FETCH_TIMEOUT)?;
        }
        None => {
            if let Ok(Some(remote)) = default_remote(repo) {
                if let Err(e) = notes::fetch(repo, &remote, notes::APPROVALS, notes::FETCH_TIMEOUT)
                {
                    eprintln!("pushguard: warning: showing this clone's approvals only: {e:#}");
                }
            }
        }
    }
    let only = match rev {
        Some(rev) => Some(repo.rev_commit(rev)?),
        None => None,
    };
    let mut all = notes::all_approvals(repo)?;
    all.sort_by(|a, b| a.1.time.cmp(&b.1.time));
    let mut shown = 0;
    let mut listing = String::new();
    for (annotated, a) in &all {
        if let Some(c) = &only {
            let same_tree = a.tree == c.tree_id().to_string();
            if *annotated != c.id() && !same_tree {
                continue;
            }
        }
        listing += &format!(
            "{}  {:<12}  {}  {} <{}>\n",
            short(&annotated.to_string()),
            escape(&a.environment, 40),
            escape(&a.time, 40),
            escape(&a.name, 80),
            escape(&a.email, 80)
        );
        shown += 1;
    }
    notes::print_listing(listing.as_bytes())?;
    if shown == 0 {
        eprintln!(
            "pushguard: no approvals recorded{}",
            match rev {
                Some(r) => format!(" for `{}`", escape(r, 80)),
                None => String::new(),
            }
        );
    }
    Ok(Exit::Success)
}
