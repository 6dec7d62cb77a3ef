//! `no-wip`: no commit in the pushed range has a message matching `[wip].patterns`
//! (work in progress, `fixup!`, `squash!`, "DO NOT MERGE", …), unless a waiver covers it.
//!
//! A WIP commit that is already on the environment this one promotes from cannot be squashed
//! without rewriting that environment, so every later promotion would fail on it: for such a
//! commit the hint names the one recorded way through, `pushguard waive <commit> --check
//! no-wip --env <env>` ([`super::waivers`]), and a waiver that counts lets it pass, named in
//! the report and the record (issue 22, item 4).

use git2::Oid;
use regex::Regex;

use super::range::capped;
use super::waivers::{Counted, Waivers};
use super::{promoted, CheckId, CheckResult, Context};

/// A commit read through libgit2: id, subject, full message.
pub struct Commit {
    pub id: Oid,
    pub subject: String,
    pub message: String,
}

/// How many offending commits are listed; the rest are counted.
pub const SHOWN: usize = 20;
/// How many waived commits the detail names (the record keeps the detail).
const NAMED_WAIVED: usize = 3;

/// What the pushed range's messages showed, gathered as they stream: the number of commits,
/// every offending commit's id (20 bytes each) and the subjects of the first offenders.
/// Bounded in memory by the offenders, not the range (issue 14).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Found {
    pub total: usize,
    /// The offending commits, newest first.
    pub offenders: Vec<Oid>,
    /// The subjects of `offenders[..subjects.len()]`.
    pub subjects: Vec<String>,
}

impl Found {
    /// Adds one pushed commit; `subject` is worked out only for an offending one.
    pub fn add(
        &mut self,
        patterns: &[Regex],
        id: Oid,
        message: &str,
        subject: impl FnOnce() -> String,
    ) {
        self.total += 1;
        if patterns.iter().any(|p| p.is_match(message)) {
            self.offenders.push(id);
            if self.subjects.len() < 2 * SHOWN {
                self.subjects.push(subject());
            }
        }
    }

    /// The subject of the `i`th offender, read from the repository when it was not kept.
    fn subject(&self, i: usize, repo: &crate::git::Repo) -> String {
        self.subjects
            .get(i)
            .cloned()
            .unwrap_or_else(|| repo.subject(self.offenders[i]))
    }
}

/// An offending commit that no waiver covers, as the report lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offender {
    pub short: String,
    pub subject: String,
    /// The source environment's branch that already holds it (`origin/development`).
    pub on_source: Option<String>,
}

/// Everything the judgement needs.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Commits in the pushed range.
    pub total: usize,
    /// Offenders no waiver covers: how many, and the first [`SHOWN`].
    pub unwaived: usize,
    pub shown: Vec<Offender>,
    /// Offenders a waiver covers: how many, and each as `(short id, subject, waiver)`, the
    /// first [`SHOWN`].
    pub waived: usize,
    pub waived_shown: Vec<(String, String, Counted)>,
    /// Waivers that did not count, and why; a failed fetch of the team's waivers.
    pub refused: Vec<String>,
    pub fetch_failed: Option<String>,
    /// The environment pushed to, the one it promotes from, and whether signatures are
    /// required there (a waiver must then come from someone else).
    pub environment: String,
    pub source: Option<String>,
    pub signatures_required: bool,
}

/// Judges what the pushed commits' messages showed, and the waivers.
pub fn judge(f: &Facts) -> CheckResult {
    let id = CheckId::NoWip;
    let mut more = Vec::new();
    for (short, subject, w) in &f.waived_shown {
        more.push(format!(
            "waived: {short} {subject} — by {}: {}",
            w.by,
            crate::text::escape(&w.reason, 200)
        ));
    }
    if f.waived > f.waived_shown.len() {
        more.push(format!(
            "… and {} more waived",
            f.waived - f.waived_shown.len()
        ));
    }
    let waived_note = if f.waived == 0 {
        String::new()
    } else {
        let named: Vec<String> = f
            .waived_shown
            .iter()
            .take(NAMED_WAIVED)
            .map(|(short, _, w)| format!("{short} by {}", w.by))
            .collect();
        let rest = f.waived.saturating_sub(named.len());
        format!(
            "; {} waived ({}{})",
            plural(f.waived),
            named.join(", "),
            if rest > 0 {
                format!(", and {rest} more")
            } else {
                String::new()
            }
        )
    };
    if f.unwaived == 0 {
        return CheckResult::pass(
            id,
            format!(
                "no work-in-progress commits among {} pushed{waived_note}",
                plural(f.total)
            ),
        )
        .with_more(more);
    }
    let mut listed: Vec<String> = f
        .shown
        .iter()
        .map(|o| match &o.on_source {
            Some(branch) => format!(
                "{} {} (already on {}: {branch})",
                o.short,
                o.subject,
                f.source.as_deref().unwrap_or_default()
            ),
            None => format!("{} {}", o.short, o.subject),
        })
        .collect();
    if f.unwaived > listed.len() {
        listed.push(format!("… and {} more", f.unwaived - listed.len()));
    }
    listed.extend(more);
    listed.extend(capped(f.refused.clone(), 10));
    if let Some(why) = &f.fetch_failed {
        listed.push(format!(
            "used local waivers only: fetching the remote's waivers failed ({why})"
        ));
    }
    let n = f.unwaived;
    CheckResult::fail(
        id,
        format!(
            "{} of {} pushed {} work in progress (WIP, fixup!, squash!, …){waived_note}",
            plural(n),
            f.total,
            if n == 1 { "is" } else { "are" }
        ),
    )
    .with_more(listed)
    .with_hint(hint(f))
}

/// What clears the failure: squashing what is not on an environment yet, a waiver for what
/// is (its history is not rewritten).
fn hint(f: &Facts) -> String {
    const SQUASH: &str = "squash or reword them first: `git rebase -i --autosquash <base>`";
    let Some(source) = f.source.as_deref() else {
        return SQUASH.to_owned();
    };
    let on = f.shown.iter().filter(|o| o.on_source.is_some()).count();
    if on == 0 {
        return SQUASH.to_owned();
    }
    let who = if f.signatures_required {
        "ask someone other than you (signatures are required) to run"
    } else {
        "run"
    };
    let command = |id: &str| {
        format!(
            "`pushguard waive {id} --check no-wip --env {} --reason \"<why it may ship as it is>\"`",
            f.environment
        )
    };
    let all_listed_on_source = on == f.shown.len() && f.shown.len() == f.unwaived;
    match (all_listed_on_source, f.shown.as_slice()) {
        (true, [only]) => format!(
            "{} is already on {source}, whose history is not rewritten: to let it through to {} (recorded), {who} {}, then push again",
            only.short,
            f.environment,
            command(&only.short)
        ),
        (true, _) => format!(
            "these commits are already on {source}, whose history is not rewritten: to let them through to {} (recorded), {who} {} for each, then push again",
            f.environment,
            command("<id>")
        ),
        (false, _) => format!(
            "squash or reword the commits not yet on {source} (`git rebase -i --autosquash <base>`); for those already on {source}, {who} {}",
            command("<id>")
        ),
    }
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
    let streamed = ctx.repo.messages(oids, &mut |hex, message| {
        if let Ok(oid) = Oid::from_str(hex) {
            found.add(patterns, oid, &String::from_utf8_lossy(message), || {
                String::from_utf8_lossy(&crate::git::summary(message)).into_owned()
            });
        }
    });
    if !matches!(streamed, Ok(true)) {
        found = Found::default();
        for c in libgit2_commits(ctx.repo.git2(), oids) {
            found.add(patterns, c.id, &c.message, || c.subject.clone());
        }
    }
    judge(&facts(ctx, &found))
}

/// Sorts the offenders into waived and not, and finds which are already on the source
/// environment. The team's waivers are fetched only when there are offenders.
fn facts(ctx: &Context, found: &Found) -> Facts {
    let source = ctx
        .environment
        .promote_from
        .as_deref()
        .and_then(|name| ctx.config.environment(name));
    let mut f = Facts {
        total: found.total,
        environment: ctx.environment.name.clone(),
        source: source.map(|s| s.name.clone()),
        signatures_required: crate::signing::required(ctx.config, ctx.environment),
        ..Facts::default()
    };
    if found.offenders.is_empty() {
        return f;
    }
    let waivers = Waivers::load(ctx, CheckId::NoWip);
    for (i, oid) in found.offenders.iter().enumerate() {
        let short = crate::text::short(&oid.to_string()).to_owned();
        match waivers.of(*oid) {
            Some(w) => {
                f.waived += 1;
                if f.waived_shown.len() < SHOWN {
                    f.waived_shown
                        .push((short, found.subject(i, ctx.repo), w.clone()));
                }
            }
            None => {
                f.unwaived += 1;
                if f.shown.len() < SHOWN {
                    let on_source = source.and_then(|s| {
                        promoted::on_source(ctx.repo, ctx.refs, s, *oid)
                            .ok()
                            .flatten()
                    });
                    f.shown.push(Offender {
                        short,
                        subject: found.subject(i, ctx.repo),
                        on_source,
                    });
                }
            }
        }
    }
    f.refused = waivers.refused;
    f.fetch_failed = waivers.fetch_failed;
    f
}

/// The commits through libgit2, when git cannot list them.
fn libgit2_commits(git: &git2::Repository, oids: &[Oid]) -> Vec<Commit> {
    oids.iter()
        .filter_map(|oid| git.find_commit(*oid).ok())
        .map(|c| Commit {
            id: c.id(),
            subject: String::from_utf8_lossy(c.summary_bytes().unwrap_or_default()).into_owned(),
            message: String::from_utf8_lossy(c.message_bytes()).into_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Outcome;

    fn oid(n: u32) -> Oid {
        Oid::from_str(&format!("{n:040x}")).unwrap()
    }

    fn found_of(commits: &[(u32, &str)], patterns: &[Regex]) -> Found {
        let mut found = Found::default();
        for (n, subject) in commits {
            found.add(patterns, oid(*n), &format!("{subject}\n\nbody\n"), || {
                subject.to_string()
            });
        }
        found
    }

    fn offender(short: &str, subject: &str, on: Option<&str>) -> Offender {
        Offender {
            short: short.into(),
            subject: subject.into(),
            on_source: on.map(str::to_owned),
        }
    }

    fn facts(unwaived: Vec<Offender>, total: usize) -> Facts {
        Facts {
            total,
            unwaived: unwaived.len(),
            shown: unwaived,
            environment: "staging".into(),
            source: Some("development".into()),
            ..Facts::default()
        }
    }

    #[test]
    fn many_offenders_keep_ids_and_a_few_subjects() {
        let patterns = vec![Regex::new(r"^WIP").unwrap()];
        let mut found = Found::default();
        for i in 0..1000 {
            found.add(&patterns, oid(i), &format!("WIP {i}"), || {
                format!("WIP {i}")
            });
            found.add(&patterns, oid(i + 5000), "fine", || {
                unreachable!("a subject only for offenders")
            });
        }
        assert_eq!(
            (found.total, found.offenders.len(), found.subjects.len()),
            (2000, 1000, 2 * SHOWN)
        );
        let shown = (0..SHOWN)
            .map(|i| offender("abc1234567", &format!("WIP {i}"), None))
            .collect();
        let mut f = facts(shown, 2000);
        f.unwaived = 1000;
        let r = judge(&f);
        assert!(
            r.detail.starts_with("1000 commits of 2000 pushed are"),
            "{}",
            r.detail
        );
        assert_eq!(r.more.last().map(String::as_str), Some("… and 980 more"));
    }

    #[test]
    fn wip_and_fixup_are_found_with_their_subjects() {
        let patterns = vec![
            Regex::new(r"^(WIP|wip)\b").unwrap(),
            Regex::new(r"^fixup! ").unwrap(),
        ];
        let found = found_of(
            &[(1, "WIP login"), (2, "add"), (3, "fixup! add")],
            &patterns,
        );
        assert_eq!(found.offenders, [oid(1), oid(3)]);
        assert_eq!(found.subjects, ["WIP login", "fixup! add"]);
        let r = judge(&facts(
            vec![
                offender("abc1234567", "WIP login", None),
                offender("def1234567", "fixup! add", None),
            ],
            3,
        ));
        assert_eq!(r.outcome, Outcome::Fail);
        assert_eq!(r.more, ["abc1234567 WIP login", "def1234567 fixup! add"]);
        assert!(
            r.detail.starts_with("2 commits of 3 pushed are"),
            "{}",
            r.detail
        );
        assert_eq!(
            r.hint.as_deref(),
            Some("squash or reword them first: `git rebase -i --autosquash <base>`")
        );
        assert_eq!(judge(&facts(Vec::new(), 3)).outcome, Outcome::Pass);
    }

    #[test]
    fn a_wip_commit_already_on_the_source_gets_the_exact_waive_command_issue_22() {
        let r = judge(&facts(
            vec![offender(
                "abc1234567",
                "WIP login",
                Some("origin/development"),
            )],
            2,
        ));
        assert_eq!(
            r.more,
            ["abc1234567 WIP login (already on development: origin/development)"]
        );
        assert_eq!(
            r.hint.as_deref(),
            Some("abc1234567 is already on development, whose history is not rewritten: to let it through to staging (recorded), run `pushguard waive abc1234567 --check no-wip --env staging --reason \"<why it may ship as it is>\"`, then push again")
        );
        let mut mixed = facts(
            vec![
                offender("abc1234567", "WIP login", Some("origin/development")),
                offender("def1234567", "WIP new", None),
            ],
            3,
        );
        mixed.signatures_required = true;
        let hint = judge(&mixed).hint.unwrap_or_default();
        assert!(
            hint.starts_with("squash or reword the commits not yet on development"),
            "{hint}"
        );
        assert!(
            hint.contains(
                "ask someone other than you (signatures are required) to run `pushguard waive <id>"
            ),
            "{hint}"
        );
    }

    #[test]
    fn waived_commits_pass_and_are_named_in_the_detail_issue_22() {
        let mut f = facts(Vec::new(), 2);
        f.waived = 1;
        f.waived_shown = vec![(
            "abc1234567".into(),
            "WIP login".into(),
            Counted {
                by: "Ada Lead <ada@example.com>".into(),
                reason: "on development since May".into(),
            },
        )];
        let r = judge(&f);
        assert_eq!(r.outcome, Outcome::Pass);
        assert_eq!(
            r.detail,
            "no work-in-progress commits among 2 commits pushed; 1 commit waived (abc1234567 by Ada Lead <ada@example.com>)"
        );
        assert_eq!(
            r.more,
            ["waived: abc1234567 WIP login — by Ada Lead <ada@example.com>: on development since May"]
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
                    Oid::from_str(oid).expect("git names a commit by its id"),
                    String::from_utf8_lossy(&crate::git::summary(message)).into_owned(),
                    String::from_utf8_lossy(message).into_owned(),
                ));
            })
            .expect("git log");
        assert!(answered);
        let by_libgit2: Vec<(Oid, String, String)> = libgit2_commits(repo.git2(), &oids)
            .into_iter()
            .map(|c| (c.id, c.subject, c.message))
            .collect();
        assert_eq!(streamed, by_libgit2);
        assert_eq!(streamed[3].1, "WIP: two line subject");
    }
}
