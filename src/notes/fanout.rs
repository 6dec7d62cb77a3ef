//! The notes tree, written with git's fan-out layout: a note on object `abcdef…` lives at
//! `abcdef…`, `ab/cdef…` or `ab/cd/ef…`, and a level is split into two-hex-digit
//! directories once it holds more than [`SPLIT_AT`] notes, so adding a note rewrites one
//! small tree per level, O(log n), where a flat tree of every note was rewritten whole
//! (issue 14). Any layout is read and followed: the flat trees earlier versions wrote (and
//! libgit2 writes), and the fan-outs `git notes` writes.

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
}
