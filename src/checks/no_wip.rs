//! `no-wip`: no commit in the pushed range has a message matching `[wip].patterns`
//! (work in progress, `fixup!`, `squash!`, "DO NOT MERGE", …).

use regex::Regex;

use super::range::capped;
use super::{CheckId, CheckResult, Context};

/// A commit in the pushed range: short id, subject, full message.
pub struct Commit {
    pub short: String,
    pub subject: String,
    pub message: String,
}

/// Judges the pushed commits' messages against the WIP patterns.
pub fn judge(commits: &[Commit], patterns: &[Regex]) -> CheckResult {
    let id = CheckId::NoWip;
    let offending: Vec<String> = commits
        .iter()
        .filter(|c| patterns.iter().any(|p| p.is_match(&c.message)))
        .map(|c| format!("{} {}", c.short, c.subject))
        .collect();
    if offending.is_empty() {
        return CheckResult::pass(
            id,
            format!(
                "no work-in-progress commits among {} pushed",
                plural(commits.len())
            ),
        );
    }
    let n = offending.len();
    CheckResult::fail(
        id,
        format!(
            "{} of {} pushed {} work in progress (WIP, fixup!, squash!, …)",
            plural(n),
            commits.len(),
            if n == 1 { "is" } else { "are" }
        ),
    )
    .with_more(capped(offending, 20))
    .with_hint("squash or reword them first: `git rebase -i --autosquash <base>`")
}

fn plural(n: usize) -> String {
    format!("{n} commit{}", if n == 1 { "" } else { "s" })
}

pub fn run(ctx: &Context) -> CheckResult {
    let oids = match ctx.pushed_commits() {
        Ok(o) => o,
        Err(e) => return CheckResult::fail(CheckId::NoWip, format!("cannot read history: {e:#}")),
    };
    let git = ctx.repo.git2();
    let commits: Vec<Commit> = oids
        .iter()
        .filter_map(|oid| git.find_commit(*oid).ok())
        .map(|c| Commit {
            short: c.id().to_string()[..10].to_owned(),
            subject: String::from_utf8_lossy(c.summary_bytes().unwrap_or_default()).into_owned(),
            message: String::from_utf8_lossy(c.message_bytes()).into_owned(),
        })
        .collect();
    match ctx.config.wip.regexes() {
        Ok(patterns) => judge(&commits, patterns),
        Err(e) => CheckResult::fail(CheckId::NoWip, format!("{e:#}"))
            .with_hint("fix `[wip].patterns` in the config (`pushguard config --check`)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Outcome;

    fn commit(subject: &str) -> Commit {
        Commit {
            short: "abc1234567".into(),
            subject: subject.into(),
            message: format!("{subject}\n\nbody\n"),
        }
    }

    #[test]
    fn wip_and_fixup_fail_with_their_subjects() {
        let patterns = vec![
            Regex::new(r"^(WIP|wip)\b").unwrap(),
            Regex::new(r"^fixup! ").unwrap(),
        ];
        let ok = judge(&[commit("add login")], &patterns);
        assert_eq!(ok.outcome, Outcome::Pass);
        let r = judge(
            &[commit("WIP login"), commit("add"), commit("fixup! add")],
            &patterns,
        );
        assert_eq!(r.outcome, Outcome::Fail);
        assert_eq!(
            r.more,
            vec!["abc1234567 WIP login", "abc1234567 fixup! add"]
        );
        assert!(
            r.detail.starts_with("2 commits of 3 pushed are"),
            "{}",
            r.detail
        );
    }
}
