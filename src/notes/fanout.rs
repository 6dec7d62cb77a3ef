//! The notes tree, written with git's fan-out layout: a note on object `abcdef…` lives at
//! `abcdef…`, `ab/cdef…` or `ab/cd/ef…`, and a level is split into two-hex-digit
//! directories once it holds more than [`SPLIT_AT`] notes, so adding a note rewrites one
//! small tree per level, O(log n), where a flat tree of every note was rewritten whole
//! (issue 14). Any layout is read and followed: the flat trees earlier versions wrote (and
//! libgit2 writes), and the fan-outs `git notes` writes.
//!
//! Two notes trees are compared and merged **by tree** (issue 23): subtrees with the same id
//! are skipped, so the cost follows what differs, not how many notes either side holds — a
//! remote's trail stuffed with junk notes costs a merge nothing it does not touch.

use anyhow::{Context as _, Result};
use git2::{FileMode, ObjectType, Oid, Repository, Signature, Tree};

/// How many notes one tree level holds before it is split (git's own notes code fans out
/// when a level's 256 buckets are all in use, which is about this many notes).
pub const SPLIT_AT: usize = 256;

/// Writes (replaces) the note on `annotated` in `notes_ref` as a new notes commit whose
/// parent is the ref's current commit; the ref update fails if another writer moved it.
pub fn write_note(
    git: &Repository,
    notes_ref: &str,
    annotated: Oid,
    text: &str,
    sig: &Signature<'_>,
) -> Result<()> {
    let what = || format!("failed to write the note on {annotated} in `{notes_ref}`");
    let parent = match git.refname_to_id(notes_ref) {
        Ok(id) => Some(git.find_commit(id).with_context(what)?),
        Err(e) if e.code() == git2::ErrorCode::NotFound => None,
        Err(e) => return Err(e).with_context(what),
    };
    let tree = parent
        .as_ref()
        .map(|c| c.tree())
        .transpose()
        .with_context(what)?;
    let blob = git.blob(text.as_bytes()).with_context(what)?;
    let root = put(git, tree.as_ref(), &annotated.to_string(), blob).with_context(what)?;
    let root = git.find_tree(root).with_context(what)?;
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    git.commit(
        Some(notes_ref),
        sig,
        sig,
        "Notes added by pushguard",
        &root,
        &parents,
    )
    .with_context(what)?;
    Ok(())
}

/// A note in a notes tree: the annotated object's name (hex, as the path spells it, fan-out
/// slashes removed) and the blob holding the note.
pub type Note = (String, Oid);

/// Whether `name` (the path of a blob, slashes removed) is a note's full object name.
pub(super) fn is_object_name(name: &str) -> bool {
    matches!(name.len(), 40 | 64) && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The notes of `tree` that `other` does not hold identically at the same place, at most
/// `limit` of them (`None` past it). Subtrees with the same id on both sides are skipped, so
/// the cost follows the difference; a note that only moved (a level split into fan-out
/// directories) is listed too, and callers compare by object name.
pub fn changed_notes(
    git: &Repository,
    tree: &Tree<'_>,
    other: Option<&Tree<'_>>,
    limit: usize,
) -> Result<Option<Vec<Note>>> {
    let mut out = Vec::new();
    let mut prefix = String::new();
    let within = walk_changed(git, tree, other, &mut prefix, &mut out, limit)
        .context("failed to compare two notes trees")?;
    Ok(within.then_some(out))
}

fn walk_changed(
    git: &Repository,
    tree: &Tree<'_>,
    other: Option<&Tree<'_>>,
    prefix: &mut String,
    out: &mut Vec<Note>,
    limit: usize,
) -> std::result::Result<bool, git2::Error> {
    for entry in tree.iter() {
        let Some(name) = entry.name() else { continue };
        let kind = entry.kind();
        let theirs = other.and_then(|o| o.get_name(name));
        if theirs
            .as_ref()
            .is_some_and(|t| t.id() == entry.id() && t.kind() == kind)
        {
            continue;
        }
        if kind == Some(ObjectType::Blob) {
            let full = format!("{prefix}{name}");
            if is_object_name(&full) {
                out.push((full.to_ascii_lowercase(), entry.id()));
                if out.len() > limit {
                    return Ok(false);
                }
            }
        } else if is_fanout(name, kind) {
            let sub = git.find_tree(entry.id())?;
            let theirs = theirs
                .filter(|t| t.kind() == Some(ObjectType::Tree))
                .map(|t| git.find_tree(t.id()))
                .transpose()?;
            prefix.push_str(name);
            let within = walk_changed(git, &sub, theirs.as_ref(), prefix, out, limit)?;
            prefix.truncate(prefix.len() - name.len());
            if !within {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// The blob of the note on `object` (hex) in `tree`, following fan-out directories.
pub fn find_note(git: &Repository, tree: &Tree<'_>, object: &str) -> Result<Option<Oid>> {
    let mut tree = tree.clone();
    let mut rest = object;
    loop {
        if let Some(e) = tree.get_name(rest) {
            if e.kind() == Some(ObjectType::Blob) {
                return Ok(Some(e.id()));
            }
        }
        if rest.len() <= 2 {
            return Ok(None);
        }
        let Some(sub) = tree
            .get_name(&rest[..2])
            .filter(|e| e.kind() == Some(ObjectType::Tree))
            .map(|e| e.id())
        else {
            return Ok(None);
        };
        tree = git
            .find_tree(sub)
            .with_context(|| format!("failed to read the notes tree for {object}"))?;
        rest = &rest[2..];
    }
}

/// Builds a notes tree holding `notes` (object names need not be sorted), fanned out where a
/// level would hold more than [`SPLIT_AT`]; each tree is written once.
pub fn build(git: &Repository, notes: &[(String, Oid)]) -> Result<Oid> {
    let mut sorted: Vec<(&str, Oid)> = notes.iter().map(|(n, b)| (n.as_str(), *b)).collect();
    sorted.sort_unstable();
    sorted.dedup_by(|a, b| a.0 == b.0);
    build_level(git, &sorted).context("failed to write a notes tree")
}

fn build_level(git: &Repository, notes: &[(&str, Oid)]) -> std::result::Result<Oid, git2::Error> {
    let mut builder = git.treebuilder(None)?;
    if notes.len() <= SPLIT_AT || notes.iter().any(|(n, _)| n.len() <= 2) {
        for (name, blob) in notes {
            builder.insert(name, *blob, FileMode::Blob.into())?;
        }
        return builder.write();
    }
    let mut start = 0;
    while start < notes.len() {
        let head = &notes[start].0[..2];
        let end = start
            + notes[start..]
                .iter()
                .take_while(|(n, _)| &n[..2] == head)
                .count();
        let rest: Vec<(&str, Oid)> = notes[start..end]
            .iter()
            .map(|(n, b)| (&n[2..], *b))
            .collect();
        let sub = build_level(git, &rest)?;
        builder.insert(head, sub, FileMode::Tree.into())?;
        start = end;
    }
    builder.write()
}

/// Merges the notes of `ours` into `theirs`, by tree: starting from `theirs`, each note of
/// ours that theirs does not hold identically is put in (merged with theirs' note on the
/// same object through `merge_text`). `None` when theirs already holds every note of ours.
pub fn merge(
    git: &Repository,
    ours: &Tree<'_>,
    theirs: &Tree<'_>,
    merge_text: &dyn Fn(&str, &str) -> String,
) -> Result<Option<Oid>> {
    let Some(changed) = changed_notes(git, ours, Some(theirs), usize::MAX)? else {
        return Ok(None);
    };
    let mut merged = theirs.id();
    let mut any = false;
    for (object, blob) in changed {
        let what = || format!("failed to merge the note on {object}");
        let put_blob = match find_note(git, theirs, &object)? {
            Some(same) if same == blob => continue,
            Some(their_blob) => {
                let read = |id| {
                    git.find_blob(id)
                        .map(|b| String::from_utf8_lossy(b.content()).into_owned())
                };
                let text = merge_text(
                    &read(blob).with_context(what)?,
                    &read(their_blob).with_context(what)?,
                );
                git.blob(text.as_bytes()).with_context(what)?
            }
            None => blob,
        };
        let tree = git.find_tree(merged).with_context(what)?;
        merged = put(git, Some(&tree), &object, put_blob).with_context(what)?;
        any = true;
    }
    Ok(any.then_some(merged))
}

/// Whether a tree entry named `name` is a note at a level where notes are `len` hex digits.
fn is_note(name: &str, kind: Option<ObjectType>, len: usize) -> bool {
    kind == Some(ObjectType::Blob)
        && name.len() == len
        && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether a tree entry is a fan-out directory.
fn is_fanout(name: &str, kind: Option<ObjectType>) -> bool {
    kind == Some(ObjectType::Tree) && name.len() == 2 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Puts `blob` at `rest` (the hex digits of the annotated object below this level) in
/// `tree`, following existing fan-out directories; returns the new tree.
fn put(git: &Repository, tree: Option<&Tree<'_>>, rest: &str, blob: Oid) -> Result<Oid> {
    let mut builder = git.treebuilder(tree)?;
    let Some(tree) = tree else {
        builder.insert(rest, blob, FileMode::Blob.into())?;
        return Ok(builder.write()?);
    };
    // The note already exists at this level: replace it here.
    if tree
        .get_name(rest)
        .is_some_and(|e| e.kind() == Some(ObjectType::Blob))
    {
        builder.insert(rest, blob, FileMode::Blob.into())?;
        return Ok(builder.write()?);
    }
    if rest.len() > 2 {
        let (head, tail) = rest.split_at(2);
        let sub = tree
            .iter()
            .find(|e| e.name() == Some(head) && is_fanout(head, e.kind()));
        if let Some(sub) = sub {
            let subtree = git.find_tree(sub.id())?;
            let id = put(git, Some(&subtree), tail, blob)?;
            builder.insert(head, id, FileMode::Tree.into())?;
            return Ok(builder.write()?);
        }
        // A level with fan-out directories is fanned out: a new note goes into its
        // directory, made if missing. A flat level is split once it is full.
        let fanned_out = tree
            .iter()
            .any(|e| e.name().is_some_and(|n| is_fanout(n, e.kind())));
        if fanned_out {
            let id = put(git, None, tail, blob)?;
            builder.insert(head, id, FileMode::Tree.into())?;
            return Ok(builder.write()?);
        }
        let notes_here = tree
            .iter()
            .filter(|e| e.name().is_some_and(|n| is_note(n, e.kind(), rest.len())))
            .count();
        if notes_here >= SPLIT_AT {
            let split = split(git, tree, rest.len())?;
            return put(git, Some(&git.find_tree(split)?), rest, blob);
        }
    }
    builder.insert(rest, blob, FileMode::Blob.into())?;
    Ok(builder.write()?)
}

/// Moves every note of this level (`len` hex digits) into its two-digit directory, merged
/// with the directories already there; other entries stay.
fn split(git: &Repository, tree: &Tree<'_>, len: usize) -> Result<Oid> {
    let mut groups: std::collections::BTreeMap<String, Vec<(String, Oid, i32)>> =
        std::collections::BTreeMap::new();
    let mut builder = git.treebuilder(Some(tree))?;
    for entry in tree.iter() {
        let Some(name) = entry.name() else { continue };
        if is_note(name, entry.kind(), len) {
            let (head, tail) = name.split_at(2);
            groups.entry(head.to_ascii_lowercase()).or_default().push((
                tail.to_owned(),
                entry.id(),
                entry.filemode(),
            ));
            builder.remove(name)?;
        }
    }
    for (head, notes) in groups {
        let existing = tree
            .get_name(&head)
            .filter(|e| is_fanout(&head, e.kind()))
            .map(|e| git.find_tree(e.id()))
            .transpose()?;
        let mut sub = git.treebuilder(existing.as_ref())?;
        for (tail, id, mode) in notes {
            // A note already in the directory (written there by someone else) wins over a
            // duplicate at this level only if it is the same; else keep the directory's.
            if sub.get(&tail)?.is_none() {
                sub.insert(&tail, id, mode)?;
            }
        }
        builder.insert(&head, sub.write()?, FileMode::Tree.into())?;
    }
    Ok(builder.write()?)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::path::Path;
    use std::process::Stdio;

    use super::*;

    const REF: &str = "refs/notes/pushguard-audit";

    fn git(dir: &Path, args: &[&str], stdin: Option<&str>) -> String {
        let mut cmd = crate::git::git_command(dir);
        cmd.args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "T")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "T")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut child = cmd.spawn().expect("run git");
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .expect("piped")
                .write_all(text.as_bytes())
                .expect("write to git");
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().expect("wait for git");
        assert!(out.status.success(), "git {args:?}");
        String::from_utf8(out.stdout).expect("utf-8")
    }

    fn repo() -> (tempfile::TempDir, Repository) {
        let tmp = tempfile::tempdir().expect("temp dir");
        git(tmp.path(), &["init", "-q"], None);
        let repo = Repository::open(tmp.path()).expect("open");
        (tmp, repo)
    }

    fn sig() -> Signature<'static> {
        Signature::now("T", "t@example.com").expect("signature")
    }

    /// `n` objects to annotate.
    fn objects(repo: &Repository, n: usize) -> Vec<Oid> {
        (0..n)
            .map(|i| repo.blob(format!("object {i}\n").as_bytes()).expect("blob"))
            .collect()
    }

    /// What git itself reads: `(note blob, annotated object)` pairs.
    fn listed_by_git(dir: &Path) -> Vec<String> {
        git(dir, &["notes", "--ref", REF, "list"], None)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn root_entries(repo: &Repository) -> Vec<String> {
        let tip = repo.refname_to_id(REF).expect("notes ref");
        let tree = repo.find_commit(tip).expect("commit").tree().expect("tree");
        tree.iter()
            .map(|e| e.name().unwrap_or("").to_owned())
            .collect()
    }

    #[test]
    fn many_notes_fan_out_and_git_reads_them_issue_14() {
        let (tmp, repo) = repo();
        let objects = objects(&repo, SPLIT_AT + 60);
        for (i, oid) in objects.iter().enumerate() {
            write_note(&repo, REF, *oid, &format!("note {i}\n"), &sig()).expect("write");
        }
        let root = root_entries(&repo);
        assert!(
            root.iter().all(|n| n.len() == 2),
            "not fanned out: {root:?}"
        );
        assert_eq!(listed_by_git(tmp.path()).len(), SPLIT_AT + 60);
        let shown = git(
            tmp.path(),
            &["notes", "--ref", REF, "show", &objects[300].to_string()],
            None,
        );
        assert_eq!(shown, "note 300\n");
        // Replacing a note keeps one note per object, wherever it lives.
        write_note(&repo, REF, objects[300], "changed\n", &sig()).expect("write");
        assert_eq!(listed_by_git(tmp.path()).len(), SPLIT_AT + 60);
        let note = repo
            .find_note(Some(REF), objects[300])
            .expect("libgit2 reads it");
        assert_eq!(note.message(), Some("changed\n"));
        // Each note commit's parent is the previous one: nothing was overwritten.
        let count = git(tmp.path(), &["rev-list", "--count", REF], None);
        assert_eq!(count.trim(), (SPLIT_AT + 61).to_string());
    }

    #[test]
    fn a_flat_tree_of_an_earlier_version_is_read_and_split_issue_14() {
        let (tmp, repo) = repo();
        let objects = objects(&repo, SPLIT_AT + 1);
        for (i, oid) in objects[..SPLIT_AT].iter().enumerate() {
            // libgit2's own writer, as earlier versions used: a flat tree.
            repo.note(&sig(), &sig(), Some(REF), *oid, &format!("old {i}\n"), true)
                .expect("libgit2 note");
        }
        assert!(root_entries(&repo).iter().all(|n| n.len() == 40));
        // Replacing an old note keeps it where it is.
        write_note(&repo, REF, objects[3], "old 3, again\n", &sig()).expect("write");
        assert!(root_entries(&repo).iter().all(|n| n.len() == 40));
        // One more note than a level holds splits the level.
        write_note(&repo, REF, objects[SPLIT_AT], "new\n", &sig()).expect("write");
        assert!(root_entries(&repo).iter().all(|n| n.len() == 2));
        assert_eq!(listed_by_git(tmp.path()).len(), SPLIT_AT + 1);
        for (i, oid) in objects.iter().enumerate() {
            let text = repo
                .find_note(Some(REF), *oid)
                .expect("note")
                .message()
                .map(str::to_owned);
            let want = match i {
                3 => "old 3, again\n".to_owned(),
                i if i == SPLIT_AT => "new\n".to_owned(),
                i => format!("old {i}\n"),
            };
            assert_eq!(text.as_deref(), Some(want.as_str()));
        }
    }

    #[test]
    fn notes_written_by_git_are_followed_issue_14() {
        let (tmp, repo) = repo();
        // git fast-import writes notes with git's own fan-out.
        let n = 3000;
        let mut script = String::new();
        for i in 1..=n {
            script.push_str(&format!(
                "commit refs/heads/main\nmark :{i}\ncommitter T <t@example.com> {i} +0000\ndata 3\nc{}\n",
                i % 10
            ));
        }
        script.push_str(&format!(
            "commit {REF}\ncommitter T <t@example.com> {n} +0000\ndata 6\nnotes\n"
        ));
        for i in 1..=n {
            script.push_str(&format!("N inline :{i}\ndata 3\nn{}\n", i % 10));
        }
        git(tmp.path(), &["fast-import", "--quiet"], Some(&script));
        let before = root_entries(&repo);
        assert!(before.iter().all(|n| n.len() == 2), "git wrote no fan-out");
        let head = repo.refname_to_id("refs/heads/main").expect("main");
        let first = repo
            .find_commit(head)
            .expect("commit")
            .parent_id(0)
            .expect("parent");
        write_note(&repo, REF, head, "replaced\n", &sig()).expect("write");
        let fresh = repo.blob(b"not annotated yet\n").expect("blob");
        write_note(&repo, REF, fresh, "added\n", &sig()).expect("write");
        assert_eq!(listed_by_git(tmp.path()).len(), n + 1);
        let show = |oid: Oid| {
            git(
                tmp.path(),
                &["notes", "--ref", REF, "show", &oid.to_string()],
                None,
            )
        };
        assert_eq!(show(head), "replaced\n");
        assert_eq!(show(fresh), "added\n");
        assert_eq!(show(first), format!("n{}\n", (n - 1) % 10));
        // The fan-out depth git chose is kept: no note landed at the root.
        assert!(root_entries(&repo).iter().all(|n| n.len() == 2));
    }

    fn tree_of(repo: &Repository) -> Tree<'_> {
        let tip = repo.refname_to_id(REF).expect("notes ref");
        repo.find_commit(tip).expect("commit").tree().expect("tree")
    }

    #[test]
    fn a_built_tree_is_what_git_reads_and_notes_are_found_in_it_issue_23() {
        let (tmp, repo) = repo();
        let objects = objects(&repo, 3 * SPLIT_AT);
        let notes: Vec<(String, Oid)> = objects
            .iter()
            .enumerate()
            .map(|(i, o)| {
                (
                    o.to_string(),
                    repo.blob(format!("n{i}\n").as_bytes()).unwrap(),
                )
            })
            .collect();
        let tree = repo
            .find_tree(build(&repo, &notes).expect("build"))
            .unwrap();
        assert!(tree.iter().all(|e| e.name().unwrap().len() == 2));
        repo.commit(Some(REF), &sig(), &sig(), "built", &tree, &[])
            .expect("commit");
        assert_eq!(listed_by_git(tmp.path()).len(), 3 * SPLIT_AT);
        let tree = tree_of(&repo);
        for (name, blob) in &notes {
            assert_eq!(find_note(&repo, &tree, name).unwrap(), Some(*blob));
        }
        let absent = repo.blob(b"absent").unwrap().to_string();
        assert_eq!(find_note(&repo, &tree, &absent).unwrap(), None);
    }

    #[test]
    fn changed_notes_skip_what_both_trees_share_issue_23() {
        let (_tmp, repo) = repo();
        let objects = objects(&repo, SPLIT_AT + 10);
        for (i, oid) in objects.iter().enumerate() {
            write_note(&repo, REF, *oid, &format!("note {i}\n"), &sig()).expect("write");
        }
        let before = tree_of(&repo);
        write_note(&repo, REF, objects[3], "note 3\nmore\n", &sig()).expect("write");
        let fresh = repo.blob(b"fresh").unwrap();
        write_note(&repo, REF, fresh, "new\n", &sig()).expect("write");
        let after = tree_of(&repo);
        // What the old tree had that the new one holds differently: the changed note only.
        let gone = changed_notes(&repo, &before, Some(&after), usize::MAX)
            .unwrap()
            .unwrap();
        assert_eq!(
            gone.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
            [objects[3].to_string()]
        );
        let mut came: Vec<String> = changed_notes(&repo, &after, Some(&before), usize::MAX)
            .unwrap()
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        came.sort();
        let mut want = vec![objects[3].to_string(), fresh.to_string()];
        want.sort();
        assert_eq!(came, want);
        // A limit stops the walk.
        assert!(changed_notes(&repo, &after, None, 5).unwrap().is_none());
    }

    #[test]
    fn merging_by_tree_keeps_every_note_of_both_sides_issue_23() {
        let (tmp, repo) = repo();
        let objects = objects(&repo, 2 * SPLIT_AT);
        // Theirs: many notes, fanned out; ours: a few, flat, one on an object theirs has too.
        let theirs_notes: Vec<(String, Oid)> = objects[..2 * SPLIT_AT - 2]
            .iter()
            .map(|o| (o.to_string(), repo.blob(b"theirs\n").unwrap()))
            .collect();
        let theirs = repo
            .find_tree(build(&repo, &theirs_notes).unwrap())
            .unwrap();
        let ours_notes = vec![
            (objects[0].to_string(), repo.blob(b"ours\n").unwrap()),
            (
                objects[2 * SPLIT_AT - 1].to_string(),
                repo.blob(b"only ours\n").unwrap(),
            ),
        ];
        let ours = repo.find_tree(build(&repo, &ours_notes).unwrap()).unwrap();
        let merged = merge(&repo, &ours, &theirs, &|a, b| format!("{b}{a}"))
            .unwrap()
            .expect("something to merge");
        let merged = repo.find_tree(merged).unwrap();
        repo.commit(Some(REF), &sig(), &sig(), "merged", &merged, &[])
            .expect("commit");
        assert_eq!(listed_by_git(tmp.path()).len(), 2 * SPLIT_AT - 1);
        let text = |o: &Oid| {
            let blob = find_note(&repo, &merged, &o.to_string()).unwrap().unwrap();
            String::from_utf8(repo.find_blob(blob).unwrap().content().to_vec()).unwrap()
        };
        assert_eq!(text(&objects[0]), "theirs\nours\n");
        assert_eq!(text(&objects[1]), "theirs\n");
        assert_eq!(text(&objects[2 * SPLIT_AT - 1]), "only ours\n");
        // Theirs already holding ours: nothing to merge.
        assert_eq!(
            merge(&repo, &theirs, &theirs, &|a, _| a.to_owned()).unwrap(),
            None
        );
    }
}
