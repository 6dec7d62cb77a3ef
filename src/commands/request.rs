//! `pushguard request <rev> --env E [--remote R]`: asks for the approvals a commit still
//! needs for an environment. It judges the environment's rules as the gate would for your
//! push, records a request note (who asks, the commit, its tree, the environment, the unmet
//! rules) in the approvals notes ref, shares it, prints who may approve and the exact
//! `pushguard approve` line to send them, then runs `[team] notify` if set.
//!
//! The notify command is split into words as a shell would and its placeholders are filled
//! inside each word; it runs without a shell, bounded in time, and its failure is reported,
//! never blocking: the request is shared already.

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::config::{self, Location};
use crate::git::Repo;
use crate::notes::{self, requests::Request};
use crate::outcome::{Exit, WithHint};
use crate::remote::default_remote;
use crate::text::{escape, short};

/// How long the notify command may run before it is stopped.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(30);

pub fn run(rev: &str, env: &str, remote: Option<&str>) -> Result<Exit> {
    let repo = Repo::open_from_env()?;
    let config = config::load(&Location::of_repo(&repo))?;
    let environment = config.require_environment(env)?;
    let commit = repo
        .rev_commit(rev)
        .hint("name a commit this clone has (run `git fetch` if it is on the remote)")?;
    let who = repo.identity();
    if who.email.is_empty() {
        return Err(anyhow::anyhow!(
            "your git identity has no email, so the request cannot name you"
        ))
        .hint("run `git config user.email you@example.com` (and `user.name`)");
    }
    if environment.rules().is_empty() {
        bail!(
            "environment `{}` needs no approvals (no `approval_rules`, `approvals = 0`): there is nothing to ask for",
            environment.name
        );
    }
    let remote = match remote {
        Some(r) => Some(r.to_owned()),
        None => default_remote(&repo)?,
    };
    let Some(remote) = remote else {
        return Err(crate::remote::no_remote(
            "request",
            "the approvals to share the request through",
        ));
    };
    let id = commit.id();
    let subject = escape(commit.summary().unwrap_or_default(), 80);
    let assessment =
        crate::commands::pending::assess(&repo, &config, environment, &remote, id, &who)?;
    let unmet = assessment.unmet();
    let shown_id = short(&id.to_string()).to_owned();
    eprintln!(
        "pushguard: {shown_id} ({subject}) for {}, as it stands for a push by you:",
        environment.name
    );
    for line in assessment.rule_lines() {
        eprintln!("  approvals  {line}");
    }
    if let Some(s) = &assessment.soak {
        eprintln!("  soak       {}", s.detail);
    }
    if let Some(f) = assessment
        .freeze
        .as_ref()
        .filter(|f| f.outcome == crate::checks::Outcome::Fail)
    {
        eprintln!("  freeze     {}", f.detail);
    }
    if unmet.is_empty() {
        eprintln!(
            "pushguard: every approval rule of {} is met: nothing to ask for",
            environment.name
        );
        return Ok(Exit::Success);
    }
    let approvers: Vec<String> = unmet
        .iter()
        .flat_map(|r| {
            if r.approvers.is_empty() {
                vec!["anyone but you".to_owned()]
            } else {
                r.approvers.clone()
            }
        })
        .collect();
    let request = Request {
        name: who.name.clone(),
        email: who.email.clone(),
        time: crate::audit::now(),
        environment: environment.name.clone(),
        commit: id.to_string(),
        tree: commit.tree_id().to_string(),
        unmet: unmet
            .iter()
            .map(|r| {
                format!(
                    "{}: {} of {} — ask {}",
                    r.name,
                    r.filled.len(),
                    r.count,
                    r.ask()
                )
            })
            .collect(),
    };
    if let Err(e) = notes::fetch(&repo, &remote, notes::APPROVALS, notes::FETCH_TIMEOUT) {
        eprintln!("pushguard: warning: {e:#}");
    }
    let added = notes::requests::add(&repo, &request)?;
    let line = format!("pushguard approve {shown_id} --env {}", environment.name);
    eprintln!(
        "pushguard: {} approval of {shown_id} for {} as {} <{}>",
        if added {
            "requested"
        } else {
            "already requested"
        },
        environment.name,
        escape(&who.name, 80),
        escape(&who.email, 80)
    );
    for r in &unmet {
        eprintln!("  {}: ask {}", r.name, r.ask());
    }
    eprintln!("  send them: {line}");
    notes::push(&repo, &remote, notes::APPROVALS, notes::PUSH_TIMEOUT).hint(format!(
        "the request is recorded in this clone; share it with `pushguard request {shown_id} --env {} --remote {remote}` once the remote is reachable",
        environment.name
    ))?;
    eprintln!(
        "pushguard: shared with {} ({})",
        escape(&remote, 80),
        notes::APPROVALS.full()
    );
    if let Some(template) = &config.team.notify {
        let words = notify_words(template, &environment.name, &id.to_string(), &approvers);
        let root = repo.work_tree().unwrap_or(repo.common_dir());
        match notify(&words, root, NOTIFY_TIMEOUT) {
            Ok(()) => eprintln!("pushguard: notified: `{}` succeeded", escape(&words[0], 80)),
            Err(why) => eprintln!(
                "pushguard: warning: the notify command `{}` failed: {why} (the request is shared all the same)",
                escape(template, 120)
            ),
        }
    }
    Ok(Exit::Success)
}

/// The notify command's words: the template split as a shell would, each placeholder
/// replaced inside its own word, so that no value is ever read by a shell. Pure.
pub fn notify_words(template: &str, env: &str, commit: &str, approvers: &[String]) -> Vec<String> {
    let joined = approvers.join(",");
    shlex::split(template)
        .unwrap_or_default()
        .into_iter()
        .map(|w| {
            w.replace("{env}", env)
                .replace("{commit}", commit)
                .replace("{approvers}", &joined)
        })
        .collect()
}

/// Runs the notify command in `dir`, stopped after `timeout`; why it failed, if it did.
fn notify(words: &[String], dir: &std::path::Path, timeout: Duration) -> Result<(), String> {
    let Some((program, args)) = words.split_first() else {
        return Err("the command is empty".into());
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    crate::git::scrub_env(&mut cmd);
    // Its own process group, so that a timeout stops whatever it started too.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().map_err(|e| format!("cannot start it: {e}"))?;
    let mut pipe = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(p) = pipe.as_mut() {
            let _ = p.take(64 * 1024).read_to_string(&mut text);
        }
        text
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() >= timeout => {
                if let Ok(group) = i32::try_from(child.id()) {
                    // SAFETY: kill(2) with a negative pid signals the group this child leads.
                    unsafe {
                        libc::kill(-group, libc::SIGKILL);
                    }
                }
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "it did not finish within {}s and was stopped",
                    timeout.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("cannot wait for it: {e}")),
        }
    };
    let stderr = reader.join().unwrap_or_default();
    if status.success() {
        return Ok(());
    }
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    Err(format!(
        "{}{}",
        match status.code() {
            Some(c) => format!("exit {c}"),
            None => "killed by a signal".to_owned(),
        },
        if last.is_empty() {
            String::new()
        } else {
            format!(": {}", escape(last, 200))
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regression_issue_18_notify_values_stay_inside_their_words() {
        let words = notify_words(
            "notify-approvers --env {env} 'commit {commit}' {approvers}",
            "production",
            "abc; rm -rf /",
            &["qa-*".into(), "*@leads.example".into()],
        );
        assert_eq!(
            words,
            [
                "notify-approvers",
                "--env",
                "production",
                "commit abc; rm -rf /",
                "qa-*,*@leads.example"
            ]
        );
    }
}
