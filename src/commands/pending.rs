//! `pushguard pending [--env E] [--json] [--remote R]`: per environment, the commits waiting
//! to go there and on what — approvals (which rules), soak (when it is eligible), freeze
//! (until when). A commit waits when someone asked for its approval (`pushguard request`) and
//! it is not on the environment yet, or when it is the tip of the environment it promotes
//! from and ahead of this one.
//!
//! Each commit is judged by the gate's own checks, as if it were pushed now: by the person
//! who asked for it, else by you.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Result;
use git2::Oid;
use serde::Serialize;

use crate::checks::approvals::{self, RuleState};
use crate::checks::{self, CheckId, CheckResult, Context, Outcome, Pusher, Refs};
use crate::config::{self, Config, Environment, Location};
use crate::git::{Identity, Repo};
use crate::notes::{self, requests};
use crate::outcome::Exit;
use crate::push::RefUpdate;
use crate::text::{escape, short};

const ZERO: &str = "0000000000000000000000000000000000000000";

/// How long fetching the remote's branches may take.
const FETCH_BRANCHES_TIMEOUT: Duration = Duration::from_secs(60);

/// What a commit waits for before it may go to an environment.
#[derive(Debug, Clone)]
pub struct Assessment {
    pub approvals: approvals::Evaluation,
    /// The soak check's result, where the environment has a `soak`.
    pub soak: Option<CheckResult>,
    /// The freeze check's result, where a window applies to the environment.
    pub freeze: Option<CheckResult>,
}

impl Assessment {
    /// The rules still short of approvers.
    pub fn unmet(&self) -> Vec<&RuleState> {
        self.approvals
            .rules
            .iter()
            .filter(|r| r.missing() > 0)
            .collect()
    }

    /// The rules' state, one line each, as the check words it.
    pub fn rule_lines(&self) -> Vec<String> {
        self.approvals
            .rules
            .iter()
            .map(|s| {
                let mut line = format!("{}: {} of {}", s.name, s.filled.len(), s.count);
                if !s.filled.is_empty() {
                    line.push_str(&format!(" — {}", s.filled.join(", ")));
                }
                if s.missing() > 0 {
                    line.push_str(&format!(
                        "{} ask {}",
                        if s.filled.is_empty() { " —" } else { ";" },
                        s.ask()
                    ));
                }
                line
            })
            .collect()
    }
}

/// The branch of `env` on `remote` (as fetched, else its first plain pattern) and its tip.
pub fn env_branch(repo: &Repo, remote: &str, env: &Environment) -> (String, Option<Oid>) {
    let fetched: Vec<(String, Oid)> = repo
        .remote_tracking(remote)
        .map(|t| {
            t.iter()
                .filter(|(b, _)| env.matches(b))
                .map(|(b, o)| (b.clone(), *o))
                .collect()
        })
        .unwrap_or_default();
    if let Some((b, o)) = fetched.into_iter().next() {
        return (b, Some(o));
    }
    let plain = env
        .branches
        .iter()
        .find(|b| !b.contains(['*', '?', '[', '{']))
        .cloned()
        .unwrap_or_else(|| env.name.clone());
    (plain, None)
}

/// Judges what `commit` waits for before it may go to `env` on `remote`, as if `pusher`
/// pushed it now. Notes are read as they are here (the caller fetched them).
pub fn assess(
    repo: &Repo,
    config: &Config,
    env: &Environment,
    remote: &str,
    commit: Oid,
    pusher: &Identity,
) -> Result<Assessment> {
    let (branch, tip) = env_branch(repo, remote, env);
    let update = RefUpdate {
        local_ref: commit.to_string(),
        local_oid: commit.to_string(),
        remote_ref: format!("refs/heads/{branch}"),
        remote_oid: tip.map_or_else(|| ZERO.to_owned(), |t| t.to_string()),
    };
    let url = repo
        .git2()
        .find_remote(remote)
        .ok()
        .and_then(|r| r.url().map(str::to_owned))
        .unwrap_or_else(|| remote.to_owned());
    let interrupted = AtomicBool::new(false);
    let pusher = Pusher::Configured(pusher.clone());
    let ctx = Context::new(
        repo,
        config,
        env,
        &update,
        Refs::Remote {
            name: Some(remote),
            url: &url,
        },
        &pusher,
        &interrupted,
    );
    let approvals = if env.rules().is_empty() {
        approvals::Evaluation {
            result: CheckResult::pass(CheckId::Approvals, "none required"),
            rules: Vec::new(),
        }
    } else {
        approvals::evaluate(&ctx)
    };
    let soak = env.soak.is_some().then(|| checks::run(CheckId::Soak, &ctx));
    let freeze = if env.has_check(CheckId::Freeze) {
        let (result, _) = crate::checks::freeze::judge_at(
            config,
            &env.name,
            jiff::Timestamp::now(),
            &crate::checks::freeze::local_zone,
        )?;
        Some(result)
    } else {
        None
    };
    Ok(Assessment {
        approvals,
        soak,
        freeze,
    })
}

/// One commit waiting for one environment, as `--json` prints it.
#[derive(Debug, Serialize)]
struct Waiting {
    environment: String,
    branch: String,
    commit: String,
    subject: String,
    /// Who asked for its approval (`pushguard request`), or where it waits (`origin/staging`).
    requested_by: Option<String>,
    source: Option<String>,
    ready: bool,
    approvals: Vec<RuleJson>,
    soak: Option<CheckJson>,
    freeze: Option<CheckJson>,
}

#[derive(Debug, Serialize)]
struct RuleJson {
    name: String,
    count: u32,
    approved_by: Vec<String>,
    missing: u32,
    approvers: Vec<String>,
}

#[derive(Debug, Serialize)]
struct CheckJson {
    ok: bool,
    detail: String,
}

impl From<&CheckResult> for CheckJson {
    fn from(r: &CheckResult) -> Self {
        CheckJson {
            ok: r.outcome != Outcome::Fail,
            detail: r.detail.clone(),
        }
    }
}

pub fn run(env: Option<&str>, json: bool, remote: Option<&str>) -> Result<Exit> {
    let repo = Repo::open_from_env()?;
    let mut config = config::load(&Location::of_repo(&repo))?;
    if let Some(env) = env {
        config.require_environment(env)?;
    }
    let remote = crate::remote::require(&repo, remote, "pending", "environment branches")?;
    let shown_remote = escape(&remote, 80);
    if let Err(e) = notes::fetch_branches(&repo, &remote, FETCH_BRANCHES_TIMEOUT) {
        eprintln!("pushguard: warning: showing {shown_remote}'s branches as last fetched: {e:#}");
    }
    if config.team.fetch_notes {
        if let Err(e) = notes::fetch(&repo, &remote, notes::APPROVALS, notes::FETCH_TIMEOUT) {
            eprintln!("pushguard: warning: showing this clone's approvals only: {e:#}");
        }
        if let Err(e) = notes::trail::fetch_trail(&repo, &remote, notes::FETCH_TIMEOUT) {
            eprintln!("pushguard: warning: soak is judged by the records last fetched: {e:#}");
        }
        // Fetched once here, not again for every commit judged.
        config.team.fetch_notes = false;
    }
    let me = repo.identity();
    let asked = requests::all(&repo)?;
    let git = repo.git2();
    let mut all: Vec<Waiting> = Vec::new();
    for e in &config.environments {
        if env.is_some_and(|name| name != e.name) {
            continue;
        }
        let (branch, tip) = env_branch(&repo, &remote, e);
        let on_env =
            |c: Oid| tip.is_some_and(|t| t == c || git.graph_descendant_of(t, c).unwrap_or(false));
        // (commit, who asked, where it waits)
        let mut candidates: Vec<(Oid, Option<&requests::Request>, Option<String>)> = Vec::new();
        for r in asked.iter().filter(|r| r.environment == e.name) {
            let Ok(c) = Oid::from_str(&r.commit) else {
                continue;
            };
            if git.find_commit(c).is_err() || on_env(c) {
                continue;
            }
            match candidates.iter_mut().find(|(o, _, _)| *o == c) {
                Some(found) => found.1 = Some(r),
                None => candidates.push((c, Some(r), None)),
            }
        }
        if let Some(source) = e
            .promote_from
            .as_deref()
            .and_then(|s| config.environment(s))
        {
            for (b, t) in repo.remote_tracking(&remote).unwrap_or_default().iter() {
                if source.matches(b) && !on_env(*t) && !candidates.iter().any(|(o, _, _)| o == t) {
                    candidates.push((*t, None, Some(format!("{remote}/{b}"))));
                }
            }
        }
        for (commit, request, source) in candidates {
            let pusher = request.map_or_else(
                || me.clone(),
                |r| Identity {
                    name: r.name.clone(),
                    email: r.email.clone(),
                },
            );
            let a = assess(&repo, &config, e, &remote, commit, &pusher)?;
            let failed =
                |r: &Option<CheckResult>| r.as_ref().is_some_and(|r| r.outcome == Outcome::Fail);
            all.push(Waiting {
                environment: e.name.clone(),
                branch: branch.clone(),
                commit: commit.to_string(),
                subject: repo.subject(commit),
                requested_by: request.map(|r| format!("{} <{}>", r.name, r.email)),
                source,
                ready: a.unmet().is_empty() && !failed(&a.soak) && !failed(&a.freeze),
                approvals: a
                    .approvals
                    .rules
                    .iter()
                    .map(|s| RuleJson {
                        name: s.name.clone(),
                        count: s.count,
                        approved_by: s.filled.clone(),
                        missing: s.missing(),
                        approvers: s.approvers.clone(),
                    })
                    .collect(),
                soak: a.soak.as_ref().map(CheckJson::from),
                freeze: a.freeze.as_ref().map(CheckJson::from),
            });
        }
    }
    if json {
        let mut text = String::new();
        for w in &all {
            text.push_str(&serde_json::to_string(w)?);
            text.push('\n');
        }
        notes::print_listing(text.as_bytes())?;
        return Ok(Exit::Success);
    }
    let mut text = String::new();
    for e in &config.environments {
        if env.is_some_and(|name| name != e.name) {
            continue;
        }
        let waiting: Vec<&Waiting> = all.iter().filter(|w| w.environment == e.name).collect();
        let (branch, _) = env_branch(&repo, &remote, e);
        if waiting.is_empty() {
            text.push_str(&format!(
                "{} ({shown_remote}/{}): nothing waiting\n",
                e.name,
                escape(&branch, 60)
            ));
            continue;
        }
        text.push_str(&format!(
            "{} ({shown_remote}/{}):\n",
            e.name,
            escape(&branch, 60)
        ));
        for w in waiting {
            let from = match (&w.requested_by, &w.source) {
                (Some(who), _) => format!("requested by {}", escape(who, 100)),
                (None, Some(source)) => format!("tip of {}", escape(source, 80)),
                (None, None) => String::new(),
            };
            text.push_str(&format!(
                "  {} {}  {from}: {}\n",
                short(&w.commit),
                escape(&w.subject, 60),
                if w.ready { "ready" } else { "waiting" }
            ));
            for r in &w.approvals {
                let mut line = format!("{}: {} of {}", r.name, r.approved_by.len(), r.count);
                if !r.approved_by.is_empty() {
                    line.push_str(&format!(" — {}", r.approved_by.join(", ")));
                }
                if r.missing > 0 {
                    let state = RuleState {
                        name: r.name.clone(),
                        count: r.count,
                        approvers: r.approvers.clone(),
                        filled: r.approved_by.clone(),
                    };
                    line.push_str(&format!(
                        "{} ask {}",
                        if r.approved_by.is_empty() {
                            " —"
                        } else {
                            ";"
                        },
                        state.ask()
                    ));
                }
                text.push_str(&format!("    approvals  {line}\n"));
            }
            if let Some(s) = &w.soak {
                text.push_str(&format!("    soak       {}\n", s.detail));
            }
            if let Some(f) = w.freeze.as_ref().filter(|f| !f.ok) {
                text.push_str(&format!("    freeze     {}\n", f.detail));
            }
        }
    }
    notes::print_listing(text.as_bytes())?;
    Ok(Exit::Success)
}
