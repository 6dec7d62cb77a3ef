//! `approvals`: at least `approvals` distinct people other than the pusher approved the
//! pushed tip (or a commit with the same tree) for this environment, through
//! `pushguard approve` notes or `Approved-by:` trailers on the pushed tip; only the
//! `approvers` (emails or globs) count when that list is set.

pub mod signed;

use git2::Oid;

use super::{CheckId, CheckResult, Context, Refs};
use crate::config::email_glob;
use crate::git::GitDir;
use crate::notes::{self, Fetched};

/// Where an approval was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A `pushguard approve` note.
    Note,
    /// An `Approved-by:` trailer on the pushed tip.
    Trailer,
}

/// One approval that applies to the pushed commit and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub name: String,
    /// The approver's identity: the email as written, or with signatures required the
    /// verified principal.
    pub email: String,
    pub source: Source,
    /// The principal whose signature verified (shown; with signatures required, `email`).
    pub signer: Option<String>,
}

/// How the remote's approvals were brought in before checking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotesFetch {
    /// Fetched (or the remote has none yet, or this is the server): the notes are the team's.
    Fetched,
    /// Not attempted (`[team].fetch_notes = false`).
    NotAttempted,
    /// Failed: only this clone's notes were used.
    Failed(String),
}

/// Judges the approvals found against what the environment requires.
pub fn judge(
    required: u32,
    pusher_emails: &[String],
    approvers: &[String],
    found: &[Found],
    fetch: &NotesFetch,
    commit: &str,
    environment: &str,
) -> CheckResult {
    let id = CheckId::Approvals;
    if required == 0 {
        return CheckResult::pass(id, "none required (approvals = 0)");
    }
    let matchers: Vec<_> = approvers
        .iter()
        .filter_map(|p| email_glob(p).ok())
        .collect();
    let mut counted: Vec<&Found> = Vec::new();
    let mut more = Vec::new();
    let mut own = false;
    for f in found {
        if counted
            .iter()
            .any(|c| c.email.eq_ignore_ascii_case(&f.email))
        {
            continue;
        }
        if pusher_emails
            .iter()
            .any(|p| !p.is_empty() && f.email.eq_ignore_ascii_case(p))
        {
            own = true;
            continue;
        }
        if !matchers.is_empty() && !matchers.iter().any(|m| m.is_match(&f.email)) {
            let line = format!(
                "not counted: {} <{}> is not in `approvers`",
                f.name, f.email
            );
            if !more.contains(&line) {
                more.push(line);
            }
            continue;
        }
        counted.push(f);
    }
    if own {
        more.push(
            "not counted: your own approval (the pusher cannot approve their own push)".into(),
        );
    }
    match fetch {
        NotesFetch::Failed(why) => more.push(format!(
            "used local notes only: fetching the remote's approvals failed ({why})"
        )),
        NotesFetch::NotAttempted => {
            more.push("used local notes only (the remote's approvals were not fetched)".into())
        }
        NotesFetch::Fetched => {}
    }
    let names: Vec<String> = counted
        .iter()
        .map(|f| {
            let signed = f
                .signer
                .as_ref()
                .map(|p| format!(" (signed: {p})"))
                .unwrap_or_default();
            match f.source {
                Source::Note => format!("{} <{}>{signed}", f.name, f.email),
                Source::Trailer => format!("{} <{}> (trailer){signed}", f.name, f.email),
            }
        })
        .collect();
    let have = counted.len();
    let summary = format!(
        "{have} of {required} approval{}{}{}",
        if required == 1 { "" } else { "s" },
        if names.is_empty() { "" } else { ": " },
        names.join(", ")
    );
    if have as u64 >= u64::from(required) {
        CheckResult::pass(id, summary).with_more(more)
    } else {
        CheckResult::fail(
            id,
            format!("{summary} (approvals by others than the pusher needed)"),
        )
        .with_more(more)
        .with_hint(format!(
            "ask an approver to run `pushguard approve {} --env {environment}`, then push again",
            crate::text::short(commit)
        ))
    }
}

pub fn run(ctx: &Context) -> CheckResult {
    let env = ctx.environment;
    let new = ctx
        .update
        .new_oid()
        .expect("deletes are skipped before the check runs");
    if env.approvals == 0 {
        return judge(0, &[], &[], &[], &NotesFetch::Fetched, new, &env.name);
    }
    let fetch = fetch_notes(ctx);
    let mut result = counted(ctx, new, &fetch);
    // An entry that is not pushguard's (an approval written by hand) is dropped, and said so
    // (issue 24, item 5): a count of "0 of 1" with nothing named hides it.
    if let Ok(Some(commit)) = ctx.repo.peel_commit(new) {
        let n = notes::unreadable_approvals(ctx.repo, commit);
        if n > 0 {
            result.more.push(format!(
                "not counted: {n} {} in the approvals note on {} that pushguard cannot read (not written by `pushguard approve`)",
                if n == 1 { "entry" } else { "entries" },
                crate::text::short(new)
            ));
        }
    }
    result
}

/// The approvals check proper: signed or not, as the environment requires.
fn counted(ctx: &Context, new: &str, fetch: &NotesFetch) -> CheckResult {
    let env = ctx.environment;
    if crate::signing::required(ctx.config, env) {
        // Only a key tells the pusher apart here (a signed push on a server).
        return signed::run(ctx, new, fetch);
    }
    let Some(pusher) = ctx.pusher.emails() else {
        return unknown_pusher(ctx.pusher);
    };
    match found(ctx, new).map(|f| signed::shown_signers(ctx, f)) {
        Ok(found) => judge(
            env.approvals,
            &pusher,
            &env.approvers,
            &found,
            fetch,
            new,
            &env.name,
        ),
        Err(e) => CheckResult::fail(CheckId::Approvals, format!("cannot read approvals: {e:#}")),
    }
}

/// Fails closed when the pusher cannot be told apart from the approvers: counting an
/// approval that may be the pusher's own would let anyone approve their own push.
fn unknown_pusher(pusher: &super::Pusher) -> CheckResult {
    let why = match pusher {
        super::Pusher::Named { identity, by, .. } => format!(
            "the pusher is known only as the user `{}` (from {by}), and approvals name email addresses, so an approval may be the pusher's own",
            identity.name
        ),
        super::Pusher::Unknown { why } => why.clone(),
        super::Pusher::Configured(_) | super::Pusher::Certified { .. } => {
            "the pusher is unknown".to_owned()
        }
    };
    CheckResult::fail(
        CheckId::Approvals,
        "cannot count approvals: the pusher cannot be told apart from the approvers",
    )
    .with_more(vec![why])
    .with_hint("map the server's user names to their email addresses in the server's pushguard.toml (`[server] users`), or name pushers by email (GITEA_PUSHER_EMAIL)")
}

/// Brings in the remote's approvals before checking (`[team].fetch_notes`). A dry run
/// fetches too, so that `pushguard check` predicts what the hook will decide.
pub(crate) fn fetch_notes(ctx: &Context) -> NotesFetch {
    fetch_team_notes(ctx, notes::APPROVALS)
}

/// Brings in the remote's notes of `which` (approvals, waivers) before a check reads them,
/// as `[team].fetch_notes` says.
pub(crate) fn fetch_team_notes(ctx: &Context, which: notes::NotesRef) -> NotesFetch {
    let Refs::Remote { .. } = ctx.refs else {
        // The receiving repository's own notes are the ones everybody fetches.
        return NotesFetch::Fetched;
    };
    if !ctx.config.team.fetch_notes {
        return NotesFetch::NotAttempted;
    }
    let remote = ctx.refs.shown();
    match notes::fetch(ctx.repo, remote, which, notes::FETCH_TIMEOUT) {
        Ok(Fetched::Updated | Fetched::Missing) => NotesFetch::Fetched,
        Err(e) => NotesFetch::Failed(format!("{e:#}")),
    }
}

/// Runs the check through git alone (a SHA-256 repository): `pushguard approve` notes read
/// with `git notes` (this clone's and, on a client, the remote's as fetched now) and the
/// pushed commit's trailers. Signed approvals cannot be checked there yet: with signatures
/// required the check fails and says so.
pub fn run_via_git(
    git: &GitDir,
    config: &crate::config::Config,
    env: &crate::config::Environment,
    refs: Refs,
    pusher: &super::Pusher,
    new: &str,
) -> CheckResult {
    if env.approvals == 0 {
        return judge(0, &[], &[], &[], &NotesFetch::Fetched, new, &env.name);
    }
    if crate::signing::required(config, env) {
        return CheckResult::fail(
            CheckId::Approvals,
            "cannot run: signed approvals are verified through libgit2, which cannot read this repository's SHA-256 object names yet",
        )
        .with_hint("bypass with a justification (it is recorded), or push from a SHA-1 repository");
    }
    let Some(pusher_emails) = pusher.emails() else {
        return unknown_pusher(pusher);
    };
    let mut notes_refs = vec![notes::APPROVALS.full()];
    let fetch = match refs {
        Refs::Own => NotesFetch::Fetched,
        Refs::Remote { .. } if !config.team.fetch_notes => NotesFetch::NotAttempted,
        Refs::Remote { .. } => {
            let remote = refs.shown();
            let tracking = notes::APPROVALS.tracking(remote);
            let refspec = format!("+{}:{tracking}", notes::APPROVALS.full());
            let args = [
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-write-fetch-head",
                remote,
                &refspec,
            ];
            match git.run_bounded(&args, notes::FETCH_TIMEOUT) {
                Ok(out) if out.success => {
                    notes_refs.push(tracking);
                    NotesFetch::Fetched
                }
                Ok(out) if out.stderr.contains("couldn't find remote ref") => NotesFetch::Fetched,
                Ok(out) => NotesFetch::Failed(out.stderr_summary()),
                Err(e) => NotesFetch::Failed(format!("{e:#}")),
            }
        }
    };
    let found = (|| -> anyhow::Result<Vec<Found>> {
        let commit = git
            .peel_commit(new)
            .ok_or_else(|| anyhow::anyhow!("the pushed object {new} is not in this repository"))?;
        let tree = git.tree_of(&commit)?;
        let mut out = Vec::new();
        for notes_ref in &notes_refs {
            for (annotated, text) in git.notes(notes_ref)? {
                for a in notes::parse_approvals(&text) {
                    // The tree the approval names: its own commit's, as `approve` wrote it.
                    if a.environment == env.name && (annotated == commit || a.tree == tree) {
                        out.push(Found {
                            name: a.name,
                            email: a.email,
                            source: Source::Note,
                            signer: None,
                        });
                    }
                }
            }
        }
        let mut message = String::new();
        git.messages(&[&commit], &mut |_, m| {
            message = String::from_utf8_lossy(m).into_owned();
        })?;
        out.extend(trailers(&message));
        Ok(out)
    })();
    match found {
        Ok(found) => judge(
            env.approvals,
            &pusher_emails,
            &env.approvers,
            &found,
            &fetch,
            new,
            &env.name,
        ),
        Err(e) => CheckResult::fail(CheckId::Approvals, format!("cannot read approvals: {e:#}")),
    }
}

/// The approvals of the pushed commit (or its tree) for this environment, and the trailers.
fn found(ctx: &Context, new: &str) -> anyhow::Result<Vec<Found>> {
    let git = ctx.repo.git2();
    let commit = ctx
        .repo
        .peel_commit(new)?
        .ok_or_else(|| anyhow::anyhow!("the pushed object {new} is not in this repository"))?;
    let commit = git.find_commit(commit)?;
    let tree = commit.tree_id();
    let mut out = Vec::new();
    for (annotated, a) in notes::all_approvals(ctx.repo)? {
        if a.environment != ctx.environment.name {
            continue;
        }
        // The note's own commit decides its tree when we have it; the recorded tree otherwise.
        let approved_tree = git
            .find_commit(annotated)
            .map(|c| c.tree_id())
            .ok()
            .or_else(|| Oid::from_str(&a.tree).ok());
        if annotated == commit.id() || approved_tree == Some(tree) {
            out.push(Found {
                name: a.name,
                email: a.email,
                source: Source::Note,
                signer: None,
            });
        }
    }
    out.extend(trailers(commit.message().unwrap_or_default()));
    Ok(out)
}

/// `Approved-by: Name <email>` trailers of a commit message.
pub fn trailers(message: &str) -> Vec<Found> {
    let Ok(trailers) = git2::message_trailers_strs(message) else {
        return Vec::new();
    };
    trailers
        .iter()
        .filter(|(key, _)| key.eq_ignore_ascii_case("approved-by"))
        .filter_map(|(_, value)| {
            let (name, rest) = value.split_once('<')?;
            let email = rest.strip_suffix('>')?.trim();
            (!email.is_empty()).then(|| Found {
                name: name.trim().to_owned(),
                email: email.to_owned(),
                source: Source::Trailer,
                signer: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Outcome;

    fn f(email: &str) -> Found {
        Found {
            name: "N".into(),
            email: email.into(),
            source: Source::Note,
            signer: None,
        }
    }

    fn j(required: u32, approvers: &[&str], found: &[Found]) -> CheckResult {
        let approvers: Vec<String> = approvers.iter().map(|s| s.to_string()).collect();
        judge(
            required,
            &["pat@example.com".to_owned()],
            &approvers,
            found,
            &NotesFetch::Fetched,
            &"a".repeat(40),
            "production",
        )
    }

    #[test]
    fn counts_distinct_others() {
        assert_eq!(j(0, &[], &[]).outcome, Outcome::Pass);
        assert!(j(0, &[], &[]).detail.contains("none required"));
        assert_eq!(j(1, &[], &[f("ada@example.com")]).outcome, Outcome::Pass);
        let twice = j(2, &[], &[f("ada@example.com"), f("ADA@example.com")]);
        assert_eq!(twice.outcome, Outcome::Fail);
        assert!(
            twice.detail.starts_with("1 of 2 approvals"),
            "{}",
            twice.detail
        );
    }

    #[test]
    fn own_approval_is_ignored_and_said() {
        let r = j(1, &[], &[f("Pat@Example.com")]);
        assert_eq!(r.outcome, Outcome::Fail);
        assert!(r.more.iter().any(|m| m.contains("your own approval")));
        assert_eq!(
            r.hint.as_deref(),
            Some("ask an approver to run `pushguard approve aaaaaaaaaa --env production`, then push again")
        );
    }

    #[test]
    fn approvers_restrict_who_counts() {
        let r = j(1, &["*@leads.example"], &[f("bob@example.com")]);
        assert_eq!(r.outcome, Outcome::Fail);
        assert!(r.more[0].contains("not in `approvers`"));
        assert_eq!(
            j(1, &["*@leads.example"], &[f("ada@leads.example")]).outcome,
            Outcome::Pass
        );
    }

    #[test]
    fn failed_fetch_is_reported() {
        let approvers: Vec<String> = Vec::new();
        let r = judge(
            1,
            &["pat@example.com".to_owned()],
            &approvers,
            &[f("ada@example.com")],
            &NotesFetch::Failed("timeout".into()),
            "abc",
            "production",
        );
        assert_eq!(r.outcome, Outcome::Pass);
        assert!(r.more[0].starts_with("used local notes only"));
    }

    #[test]
    fn trailers_are_parsed() {
        let found = trailers(
            "Ship it\n\nBody.\n\nApproved-by: Ada Lead <ada@example.com>\nSigned-off-by: P <p@x>\n",
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].email, "ada@example.com");
        assert_eq!(found[0].source, Source::Trailer);
    }
}
