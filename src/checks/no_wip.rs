//! `no-wip`: no commit in the pushed range has a message matching `[wip].patterns`
//! (work in progress, `fixup!`, `squash!`, "DO NOT MERGE", …).

use regex::Regex;

use super::{CheckId, CheckResult, Context};

/// A commit read through libgit2: short id, subject, full message.
pub struct Commit {
    pub short: String,
    pub subject: String,
    pub message: String,
}

/// How many offending commits are listed; the rest are counted.
const SHOWN: usize = 20;

/// What the pushed range's messages showed, gathered as they stream: the number of commits,
/// and the offending ones (the first `SHOWN` by short id and subject). Bounded in memory
/// whatever the range (issue 14).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Found {
    pub total: usize,
    pub offending: usize,
    pub shown: Vec<String>,
}

impl Found {
    /// Adds one pushed commit; `subject` is worked out only for an offending one.
    pub fn add(
        &mut self,
        patterns: &[Regex],
        short: &str,
        message: &str,
        subject: impl FnOnce() -> String,
    ) {
        self.total += 1;
        if patterns.iter().any(|p| p.is_match(message)) {
            self.offending += 1;
            if self.shown.len() < SHOWN {
                self.shown.push(format!("{short} {}", subject()));
            }
        }
    }
}

/// Judges what the pushed commits' messages showed.
pub fn judge(found: &Found) -> CheckResult {
    let id = CheckId::NoWip;
    if found.offending == 0 {
        return CheckResult::pass(
            id,
            format!(
                "no work-in-progress commits among {} pushed",
                plural(found.total)
            ),
        );
    }
    let n = found.offending;
    let mut more = found.shown.clone();
    if n > more.len() {
        more.push(format!("… and {} more", n - more.len()));
    }
    CheckResult::fail(
        id,
        format!(
            "{} of {} pushed {} work in progress (WIP, fixup!, squash!, …)",
            plural(n),
            found.total,
            if n == 1 { "is" } else { "are" }
        ),
    )
    .with_more(more)
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
    let patterns = match ctx.config.wip.regexes() {
        Ok(p) => p,
        Err(e) => {
            return CheckResult::fail(CheckId::NoWip, format!("{e:#}"))
                .with_hint("fix `[wip].patterns` in the config (`pushguard config --check`)")
        }
    };
    let mut found = Found::default();
    // One streamed `git log` for the whole range (issue 14); libgit2 if git cannot.
    let streamed = ctx.repo.messages(oids, &mut |oid, message| {
        found.add(
            patterns,
            crate::text::short(oid),
            &String::from_utf8_lossy(message),
            || String::from_utf8_lossy(&crate::git::summary(message)).into_owned(),
        );
    });
    if !matches!(streamed, Ok(true)) {
        found = Found::default();
        for c in libgit2_commits(ctx.repo.git2(), oids) {
            found.add(patterns, &c.short, &c.message, || c.subject.clone());
        }
    }
    judge(&found)
}

/// The commits through libgit2, when git cannot list them.
fn libgit2_commits(git: &git2::Repository, oids: &[git2::Oid]) -> Vec<Commit> {
    oids.iter()
        .filter_map(|oid| git.find_commit(*oid).ok())
        .map(|c| Commit {
            short: c.id().to_string()[..10].to_owned(),
            subject: String::from_utf8_lossy(c.summary_bytes().unwrap_or_default()).into_owned(),
            message: String::from_utf8_lossy(c.message_bytes()).into_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Outcome;

    fn judge_all(commits: &[Commit], patterns: &[Regex]) -> CheckResult {
        let mut found = Found::default();
        for c in commits {
            found.add(patterns, &c.short, &c.message, || c.subject.clone());
        }
        judge(&found)
    }

    fn commit(subject: &str) -> Commit {
        Commit {
            short: "abc1234567".into(),
            subject: subject.into(),
            message: format!("{subject}\n\nbody\n"),
        }
    }

    #[test]
    fn many_offenders_are_counted_not_kept() {
        let patterns = vec![Regex::new(r"^WIP").unwrap()];
        let mut found = Found::default();
        for i in 0..1000 {
            found.add(&patterns, "abc1234567", &format!("WIP {i}"), || {
                format!("WIP {i}")
            });
            found.add(&patterns, "abc1234567", "fine", || {
                unreachable!("a subject only for offenders")
            });
        }
        assert_eq!(
            (found.total, found.offending, found.shown.len()),
            (2000, 1000, SHOWN)
        );
        let r = judge(&found);
        assert!(
            r.detail.starts_with("1000 commits of 2000 pushed are"),
            "{}",
            r.detail
        );
        assert_eq!(r.more.last().map(String::as_str), Some("… and 980 more"));
    }

    #[test]
    fn wip_and_fixup_fail_with_their_subjects() {
        let patterns = vec![
            Regex::new(r"^(WIP|wip)\b").unwrap(),
            Regex::new(r"^fixup! ").unwrap(),
        ];
        let ok = judge_all(&[commit("add login")], &patterns);
        assert_eq!(ok.outcome, Outcome::Pass);
        let r = judge_all(
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

#[cfg(test)]
mod streamed_tests {
    use std::path::Path;

    use super::*;
    use crate::git::Repo;

    fn git(dir: &Path, args: &[&str]) -> String {
        crate::git::test_git(dir, args)
    }

    #[test]
    fn git_log_and_libgit2_read_the_same_messages_issue_14() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path();
        git(dir, &["init", "-q"]);
        let messages = [
            "plain subject",
            "WIP: two\nline subject\n\nbody\nmore",
            "fixup! x\n\n\n",
            "  spaced   subject \t\n  continued\n \t \nbody",
            "unicode é subject\r\n\r\nbody",
        ];
        for m in messages {
            git(
                dir,
                &[
                    "commit",
                    "-q",
                    "--allow-empty",
                    "--cleanup=verbatim",
                    "-m",
                    m,
                ],
            );
        }
        let repo = Repo::open(dir).expect("open");
        let oids: Vec<git2::Oid> = git(dir, &["rev-list", "HEAD"])
            .lines()
            .map(|l| git2::Oid::from_str(l).expect("oid"))
            .collect();
        let mut streamed = Vec::new();
        let answered = repo
            .messages(&oids, &mut |oid, message| {
                streamed.push((
                    oid[..10].to_owned(),
                    String::from_utf8_lossy(&crate::git::summary(message)).into_owned(),
                    String::from_utf8_lossy(message).into_owned(),
                ));
            })
            .expect("git log");
        assert!(answered);
        let by_libgit2: Vec<(String, String, String)> = libgit2_commits(repo.git2(), &oids)
            .into_iter()
            .map(|c| (c.short, c.subject, c.message))
            .collect();
        assert_eq!(streamed, by_libgit2);
        assert_eq!(streamed[3].1, "WIP: two line subject");
    }
}
