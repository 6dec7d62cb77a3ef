//! Server mode, the entry points: `pushguard hook pre-receive` and `pushguard hook update` in
//! the receiving (usually bare) repository of a self-hosted git server.
//!
//! They read git's ref lines, protect the trail (its notes refs only grow: never deleted,
//! rewound or emptied, and they take only audit records or approvals within bounded sizes,
//! [`trail::judge_update`]), resolve symbolic refs to the branch they move, and hand the environment
//! branches to the gate pipeline with the server as its site ([`crate::sites::server`]):
//! the objective checks against the server's own branches, the attestation from push
//! options, records in `<repository>/pushguard/audit.jsonl`. The report goes to stderr,
//! which git relays to the pusher as `remote:` lines.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::config::{self, Location};
use crate::git::{GitDir, Reader, Repo};
use crate::notes::trail;
use crate::outcome::Exit;
use crate::pipeline;
use crate::push::{ParseError, RefUpdate};
use crate::sites::server::{Hook, Server};
use crate::sites::ChainedHook;
use crate::terminal::Interaction;
use crate::text::{escape, short};

pub use crate::install::CHAINED_PRE_RECEIVE as CHAINED_HOOK;

/// What the reports and hints call the pusher's remote, whose name the server cannot know.
pub const REMOTE_PLACEHOLDER: &str = "<remote>";

/// Parses git's pre-receive input: lines `<old> SP <new> SP <refname>`.
pub fn parse(input: &[u8]) -> Result<Vec<RefUpdate>, ParseError> {
    crate::push::parse_lines(input, |text| {
        let mut fields = text.splitn(3, ' ');
        let (Some(old), Some(new), Some(refname)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err("expected `<old oid> <new oid> <ref name>`");
        };
        ref_update(refname, old, new)
    })
}

/// A ref update as the server receives it; the client's own ref name is unknown here.
pub fn ref_update(refname: &str, old: &str, new: &str) -> Result<RefUpdate, &'static str> {
    if !crate::push::is_object_name(old) || !crate::push::is_object_name(new) {
        return Err("object names must be 40 or 64 hexadecimal digits");
    }
    if old.len() != new.len() {
        return Err("object names of different lengths");
    }
    if !refname.starts_with("refs/") {
        return Err("the ref must be a full ref name (refs/…)");
    }
    Ok(RefUpdate {
        local_ref: refname.to_owned(),
        local_oid: new.to_ascii_lowercase(),
        remote_ref: refname.to_owned(),
        remote_oid: old.to_ascii_lowercase(),
    })
}

/// Runs the pre-receive hook: gates every ref update, then the chained hook.
pub fn pre_receive(hook_dir: Option<&Path>) -> Result<Exit> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .context("failed to read the pre-receive input from stdin")?;
    let updates = parse(&input)?;
    let chained = hook_dir.map(|dir| ChainedHook {
        path: dir.join(CHAINED_HOOK),
        hook: "pre-receive",
        args: Vec::new(),
        input: input.clone(),
    });
    gate(Hook::PreReceive, &updates, chained)
}

/// Runs the update hook for one ref.
pub fn update(refname: &str, old: &str, new: &str) -> Result<Exit> {
    let update = ref_update(refname, old, new).map_err(|reason| ParseError {
        line_number: 1,
        line: escape(&format!("{refname} {old} {new}"), 200),
        reason,
    })?;
    gate(Hook::Update, std::slice::from_ref(&update), None)
}

/// Guards the trail, then gates every environment ref update; `Exit::Success` when all are
/// allowed.
fn gate(hook: Hook, updates: &[RefUpdate], chained: Option<ChainedHook>) -> Result<Exit> {
    let received = updates;
    if updates.is_empty() {
        return ChainedHook::run_alone(chained.as_ref());
    }
    let dir = std::env::var_os("GIT_DIR").map(PathBuf::from);
    // Everything below sees the refs an update really moves: an alias of an environment
    // branch or of the trail is gated and guarded as what it points to.
    let aliased = resolve_symbolic(dir.as_deref(), updates);
    let updates = aliased.as_deref().unwrap_or(updates);
    let touches_trail = updates.iter().any(|u| trail::is_trail_ref(&u.remote_ref));
    let config = config::load(&Location::for_server())?;
    let lines = pipeline::classify(&config, updates)?;
    if lines.is_empty() && !touches_trail {
        return ChainedHook::run_alone(chained.as_ref());
    }
    if updates.iter().any(|u| u.local_oid.len() == 64) {
        // SHA-256 object names: libgit2 cannot open the repository, git answers (issue 21).
        let git = GitDir::open_from_env()?;
        return gate_in(
            Reader::Git(&git),
            hook,
            received,
            updates,
            &lines,
            &config,
            chained,
        );
    }
    let repo = Repo::open_from_env()?;
    gate_in(
        Reader::Lib(&repo),
        hook,
        received,
        updates,
        &lines,
        &config,
        chained,
    )
}

/// [`gate`] once the repository is open: `received` are git's lines as given, `updates` the
/// same with symbolic refs resolved.
fn gate_in(
    reader: Reader,
    hook: Hook,
    received: &[RefUpdate],
    updates: &[RefUpdate],
    lines: &[pipeline::Line],
    config: &crate::config::Config,
    chained: Option<ChainedHook>,
) -> Result<Exit> {
    if let Some((refusal, hint)) = trail_refusal(reader, updates) {
        let mut err = std::io::stderr().lock();
        writeln!(err, "pushguard: {refusal}")?;
        writeln!(err, "hint: {hint}")?;
        return Ok(Exit::Blocked);
    }
    if lines.is_empty() {
        return ChainedHook::run_alone(chained.as_ref());
    }
    let site = Server::reading(reader, config, hook, received, updates, chained);
    let mut interaction = Interaction::nobody();
    pipeline::run(&site, config, lines, &mut interaction)
}

/// The way forward after a rewind of the trail was refused.
const REWIND_HINT: &str = "the trail is append-only: fetch it, merge, and push again (`pushguard log --remote` does this)";
/// The way forward after a deletion of the trail was refused (issue 24, item 5).
const DELETE_HINT: &str = "the trail is append-only and no push deletes it: leave the ref on the server (an administrator who must remove it does so in the repository itself, where `pushguard audit` then lists the branches it covered as unrecorded)";
/// The way forward after a push that would drop, forge or flood the trail was refused.
const CONTENT_HINT: &str = "the trail only grows, by pushguard's own notes: push the trail with pushguard (`pushguard log --remote` shares what this clone has), never by hand";

/// Why a push that would take anything from the trail, or put junk in it, is refused, if it
/// is (each update of a trail ref is judged by [`trail::judge_update`]), with the way forward.
pub fn trail_refusal(reader: Reader, updates: &[RefUpdate]) -> Option<(String, &'static str)> {
    use trail::Refusal;
    for u in updates {
        if !trail::is_trail_ref(&u.remote_ref) {
            continue;
        }
        let name = escape(&u.remote_ref, 200);
        let judged = match reader {
            Reader::Lib(repo) => trail::judge_update(repo, &u.remote_ref, u.old_oid(), u.new_oid()),
            Reader::Git(git) => {
                trail::judge_update_via_git(git, &u.remote_ref, u.old_oid(), u.new_oid())
            }
        };
        let Some(refusal) = judged else {
            continue;
        };
        let hint = match refusal {
            Refusal::Delete => DELETE_HINT,
            Refusal::Rewind => REWIND_HINT,
            _ => CONTENT_HINT,
        };
        let refusal = match refusal {
            Refusal::Delete => format!("refused: deleting {name} would erase the team's trail"),
            Refusal::Rewind => format!(
                "refused: this push rewinds {name} (not a fast-forward), which would drop records from the team's trail"
            ),
            Refusal::ServerOnly => format!(
                "refused: {name} holds this server's own records, written by its post-receive hook only"
            ),
            Refusal::BadName => format!(
                "refused: {name} is not a trail ref pushguard writes (each clone writes {}<its 16-hex-digit id>)",
                trail::NAMESPACE
            ),
            Refusal::Dropped { object } => format!(
                "refused: this push drops records from {name} (the note on {}): the trail only grows",
                short(&object)
            ),
            Refusal::NotRecords { object, why } => format!(
                "refused: the note on {} in {name} is not {}: {}",
                short(&object),
                if trail::is_audit_ref(&u.remote_ref) {
                    "audit records of that commit"
                } else {
                    "approvals, reviews or waivers of that commit"
                },
                escape(&why, 200)
            ),
            Refusal::TooLarge { object, bytes } => format!(
                "refused: the note on {} in {name} is {bytes} bytes (at most {} are accepted)",
                short(&object),
                trail::MAX_NOTE_BYTES
            ),
            Refusal::TooMany => format!(
                "refused: this push adds more than {} notes (or {} MiB of notes) to {name} at once",
                trail::MAX_NOTES_PER_PUSH,
                trail::MAX_BYTES_PER_PUSH / (1024 * 1024)
            ),
            Refusal::Unreadable(why) => format!(
                "refused: the update of {name} cannot be checked: {}",
                escape(&why, 200)
            ),
        };
        return Some((refusal, hint));
    }
    None
}

/// Resolves updates of symbolic refs (`refs/heads/live` → `refs/heads/production`) to the
/// branch they move, so that an alias is gated as its target; the alias stays in
/// `local_ref`, so the record names both. `None` when no update goes through an alias.
///
/// Reads the ref files directly: a symbolic ref is a loose file starting with `ref: `
/// (packed refs cannot be symbolic), so no repository needs opening for ordinary pushes.
pub fn resolve_symbolic(git_dir: Option<&Path>, updates: &[RefUpdate]) -> Option<Vec<RefUpdate>> {
    let dir = git_dir?;
    let target = |refname: &str| -> Option<String> {
        let mut name = refname.to_owned();
        // Follow a chain of symbolic refs, bounded as git bounds it.
        for _ in 0..5 {
            let text = std::fs::read_to_string(dir.join(&name)).ok()?;
            let next = text.strip_prefix("ref: ")?.trim().to_owned();
            if !next.starts_with("refs/") {
                return None;
            }
            name = next;
            if !std::fs::read_to_string(dir.join(&name)).is_ok_and(|t| t.starts_with("ref: ")) {
                return Some(name);
            }
        }
        None
    };
    let mut any = false;
    let resolved = updates
        .iter()
        .map(|u| match target(&u.remote_ref) {
            Some(to) if to != u.remote_ref => {
                any = true;
                RefUpdate {
                    local_ref: u.remote_ref.clone(),
                    remote_ref: to,
                    ..u.clone()
                }
            }
            _ => u.clone(),
        })
        .collect();
    any.then_some(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const Z: &str = "0000000000000000000000000000000000000000";

    #[test]
    fn parses_receive_lines() {
        let input = format!("{Z} {A} refs/heads/production\n{A} {Z} refs/heads/old\n");
        let u = parse(input.as_bytes()).unwrap();
        assert_eq!(u.len(), 2);
        assert_eq!(u[0].change(), crate::push::Change::Create);
        assert_eq!(u[0].branch(), Some("production"));
        assert_eq!(u[1].change(), crate::push::Change::Delete);
        assert!(parse(b"nonsense\n").is_err());
        assert!(parse(format!("{A} {A} production\n").as_bytes()).is_err());
    }

    #[test]
    fn symbolic_refs_resolve_to_their_branch() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("refs/heads")).unwrap();
        std::fs::write(
            dir.path().join("refs/heads/live"),
            "ref: refs/heads/production\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("refs/heads/production"), format!("{A}\n")).unwrap();
        let updates =
            parse(format!("{A} {A} refs/heads/live\n{A} {A} refs/heads/feature\n").as_bytes())
                .unwrap();
        let resolved = resolve_symbolic(Some(dir.path()), &updates).unwrap();
        assert_eq!(resolved[0].remote_ref, "refs/heads/production");
        assert_eq!(resolved[0].local_ref, "refs/heads/live");
        assert_eq!(resolved[1], updates[1]);
        assert_eq!(resolve_symbolic(Some(dir.path()), &updates[1..]), None);
    }
}
