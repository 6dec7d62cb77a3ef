//! What an install in a clone now gates: which branches of the clone's remote are
//! environments, and how to change that. The built-in map (`main` is production) surprises a
//! trunk-based team, and `./install.sh` run in a clone (pushguard's own source, say) gates its
//! `main` from then on (issue 22, item 8): the install says so instead of leaving it to the
//! first blocked push.

use std::fmt::Write as _;

use crate::config::{self, Config, Location, Source};
use crate::git::Repo;
use crate::remote::default_remote;
use crate::text::escape;

/// The lines `pushguard install` prints after installing the pre-push hook in a clone.
pub fn note() -> String {
    let Ok(repo) = Repo::open_from_env() else {
        return String::new();
    };
    match config::load(&Location::of_repo(&repo)) {
        Ok(config) => {
            let remote = default_remote(&repo).ok().flatten();
            let tracking = remote
                .as_deref()
                .and_then(|r| repo.remote_tracking(r).ok())
                .unwrap_or_default();
            render(&config, remote.as_deref(), &tracking)
        }
        Err(e) => format!(
            "pushguard: note: the configuration is invalid, so every push is blocked until it is fixed: {e:#}\nhint: `pushguard config --check` shows the error\n"
        ),
    }
}

/// The note for `config` on `remote`, whose branches (as last fetched) are `tracking`.
pub fn render(config: &Config, remote: Option<&str>, tracking: &[(String, git2::Oid)]) -> String {
    let esc = |t: &str| escape(t, 80);
    let mut out = String::new();
    let patterns = |e: &config::Environment| esc(&e.branches.join(", "));
    let Some(remote) = remote else {
        let all: Vec<String> = config
            .environments
            .iter()
            .map(|e| format!("{} ({})", esc(&e.name), patterns(e)))
            .collect();
        let _ = writeln!(
            out,
            "pushguard: this clone has no remote yet; pushes to these branches will go through the gate: {}",
            all.join(", ")
        );
        let _ = writeln!(out, "{}", change_hint(config, None));
        return out;
    };
    let mut gated = Vec::new();
    let mut absent = Vec::new();
    for env in &config.environments {
        let branches: Vec<String> = tracking
            .iter()
            .filter(|(name, _)| env.matches(name))
            .map(|(name, _)| esc(name))
            .collect();
        if branches.is_empty() {
            absent.push(format!("{} ({})", esc(&env.name), patterns(env)));
        } else {
            gated.push((esc(&env.name), branches.join(", ")));
        }
    }
    let remote = esc(remote);
    if gated.is_empty() {
        let _ = writeln!(
            out,
            "pushguard: none of {remote}'s branches (as last fetched) is an environment yet: only pushes that create one go through the gate"
        );
    } else {
        let _ = writeln!(
            out,
            "pushguard: on {remote}, pushes to these branches now go through the gate (as last fetched):"
        );
        for (env, branches) in &gated {
            let _ = writeln!(out, "    {env:<12} {branches}");
        }
    }
    if !absent.is_empty() {
        let _ = writeln!(
            out,
            "  environments with no branch on {remote}: {}",
            absent.join(", ")
        );
    }
    let _ = writeln!(out, "{}", change_hint(config, Some(&remote)));
    out
}

/// How to change which branches are environments, for the config in force.
fn change_hint(config: &Config, remote: Option<&str>) -> String {
    let repository = config.sources.iter().find_map(|s| match s {
        Source::Repository(p) | Source::Env(p) | Source::Policy(p) => Some(p.display().to_string()),
        Source::Embedded | Source::User(_) => None,
    });
    match repository {
        Some(file) => format!(
            "hint: to change which branches are environments, edit `{file}` (`[environments]`), then `pushguard config --check`"
        ),
        None => format!(
            "hint: these are the built-in defaults; to change which branches are environments, run `pushguard init` (writes .pushguard.toml mapped to {}) and edit it; `pushguard config` shows what is in force",
            match remote {
                Some(r) => format!("{r}'s branches"),
                None => "the remote's branches".to_owned(),
            }
        ),
    }
}
