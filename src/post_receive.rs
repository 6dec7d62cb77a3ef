//! Server mode, after the push: `pushguard hook post-receive` attaches the server's audit
//! records to the pushed tips in the bare repository's own trail ref,
//! `refs/notes/pushguard-audit.d/server`, so that a client's `pushguard audit` counts the
//! pushes the server gated. Only this hook writes that ref (a push to it is refused), and it
//! writes under the pending file's lock, so concurrent receives never contend on a notes ref
//! with each other or with clients.
//!
//! The pre-receive hook cannot write that ref itself: while it runs, the pushed objects are
//! quarantined, and a ref written then could point at objects git throws away if the push
//! is refused. So when every gated ref of a push is allowed, pre-receive also writes the
//! record lines it appended to `<repository>/pushguard/post-receive-pending.jsonl`. Git runs
//! post-receive once the refs are updated; it takes from that file the records whose ref,
//! old and new tip match a line it receives, merges each into the note on its tip
//! ([`notes::trail::attach`]), and removes them from the file, all under the file's lock.
//! The records of this push whose ref did not move (the host refused it after pre-receive:
//! gitolite's `update` access check, a chained hook) did not land: they are dropped from the
//! file, said so in `remote:` lines, and never shared (issue 24); so are those of an earlier
//! push that is over and whose ref never moved (no post-receive ran for it: nothing moved).
//! The server's own log keeps every record; `pushguard log` there shows which landed.
//!
//! Git ignores post-receive's exit status, so this hook never fails: what goes wrong is
//! reported on stderr, which git relays to the pusher as `remote:` lines.

use std::io::Read;
use std::path::Path;

use anyhow::Result;

use crate::audit::Record;
use crate::git::{GitDir, Repo};
use crate::notes;
use crate::outcome::Exit;
use crate::pending::{open_locked, pending_path, take_locked};
use crate::push::RefUpdate;
use crate::sites::ChainedHook;

pub use crate::install::CHAINED_POST_RECEIVE as CHAINED_HOOK;

/// Attaches each record to its tip in the server's own trail ref; returns what failed.
fn attach(repo: &Repo, records: &[Record]) -> Vec<String> {
    let own = notes::trail::writer_ref(notes::trail::SERVER_WRITER);
    records
        .iter()
        .filter_map(|r| notes::trail::attach(repo, &own, r).err())
        .map(|e| format!("{e:#}"))
        .collect()
}

/// The receive's work: take this push's pending records, attach those that landed as notes,
/// and say which did not land.
fn attach_pushed(updates: &[RefUpdate]) -> Result<Vec<String>> {
    // SHA-256 object names: libgit2 cannot open the repository, git writes the notes.
    let (repo, git) = if updates.iter().any(|u| u.local_oid.len() == 64) {
        (None, GitDir::open_from_env()?)
    } else {
        let repo = Repo::open_from_env()?;
        let git = repo.git().clone();
        (Some(repo), git)
    };
    let state_dir = git.state_dir();
    let path = pending_path(&state_dir);
    if !path.exists() {
        return Ok(Vec::new());
    }
    // The lock is held while the notes are written (until `file` is closed), so two
    // receives never race on the notes ref.
    let mut file = open_locked(&state_dir)?;
    let push = crate::pending::push_id();
    let taken = take_locked(&mut file, &path, updates, push.as_deref())?;
    for r in &taken.not_landed {
        let (_, hash) = r.to_line();
        eprintln!(
            "pushguard: {} did not move (refused after the pre-receive hook allowed it: the host's `update` hook or git): its record {} stays in the server's log as {}, did not land, and is not shared",
            crate::text::escape(&r.remote_ref, 120),
            crate::text::short(&hash),
            r.decision,
        );
    }
    Ok(match &repo {
        Some(repo) => attach(repo, &taken.landed),
        None => taken
            .landed
            .iter()
            .filter_map(|r| {
                let own = notes::trail::writer_ref(notes::trail::SERVER_WRITER);
                notes::trail::attach_via_git(&git, &own, r).err()
            })
            .map(|e| format!("{e:#}"))
            .collect(),
    })
}

/// Runs the post-receive hook: attaches the server's records of this push to the notes ref,
/// then runs the chained hook with the same input. Never fails the push.
pub fn post_receive(hook_dir: Option<&Path>) -> Result<Exit> {
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut input) {
        eprintln!("pushguard: warning: failed to read the post-receive input from stdin: {e}");
    }
    match crate::server::parse(&input) {
        Ok(updates) => {
            // Records name the branch an alias moved (see `server::resolve_symbolic`).
            let dir = std::env::var_os("GIT_DIR").map(std::path::PathBuf::from);
            let updates =
                crate::server::resolve_symbolic(dir.as_deref(), &updates).unwrap_or(updates);
            let problems = match attach_pushed(&updates) {
                Ok(problems) => problems,
                Err(e) => vec![format!("{e:#}")],
            };
            for problem in problems {
                eprintln!(
                    "pushguard: warning: the server's audit record was not attached to {}: {problem}",
                    notes::trail::writer_ref(notes::trail::SERVER_WRITER)
                );
                eprintln!("  hint: the record is in the server's audit log (`pushguard log` in the repository); `pushguard audit` on a client will list this update as unrecorded");
            }
        }
        Err(e) => eprintln!("pushguard: warning: {e:#}"),
    }
    let Some(dir) = hook_dir else {
        return Ok(Exit::Success);
    };
    let chained = ChainedHook {
        path: dir.join(CHAINED_HOOK),
        hook: "post-receive",
        args: Vec::new(),
        input,
    };
    match ChainedHook::run_alone(Some(&chained)) {
        Ok(exit) => Ok(exit),
        Err(e) => {
            eprintln!("pushguard: warning: {e:#}");
            Ok(Exit::Success)
        }
    }
}
