//! The refs under a prefix, read from the files git writes (`packed-refs` and the loose refs
//! under `refs/`), for listings of many refs: libgit2 loads every packed ref into a sorted
//! cache, one allocation and string comparison at a time, which cost `promoted` 2.8× git's
//! own `for-each-ref --contains` at 10,000 remote-tracking refs (issue 21).
//!
//! The format (git's `gitrepository-layout` and `refs/packed-backend.c`): `packed-refs` is
//! an optional `# pack-refs with: …` line, then one `<object name> <refname>` line per ref,
//! each optionally followed by a `^<object name>` line, the annotated tag's peeled target. A
//! loose ref is the file `<git dir>/<refname>` holding `<object name>\n` or `ref: <target>\n`,
//! and it overrides a packed ref of the same name; `*.lock` files are writes under way.
//!
//! Anything this reader does not know — a reftable repository, a line that does not parse,
//! an object name of another length — answers `None`, and the caller lists through libgit2
//! as before: a listing here is exact or not given.

use std::io::BufRead;
use std::path::Path;

/// What one ref holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefValue {
    /// An object name (raw, 20 bytes), and for an annotated tag in `packed-refs` the object
    /// it peels to.
    Direct {
        target: [u8; 20],
        peeled: Option<[u8; 20]>,
    },
    /// A symbolic ref (`ref: refs/remotes/origin/main`): resolved by the caller.
    Symbolic,
}

/// The refs whose full names start with `prefix` (which ends in `/`), sorted by full name:
/// `(full name, value)`. `None` when the repository's refs cannot be read from these files
/// exactly (see the module's doc).
pub fn under(common_dir: &Path, prefix: &str) -> Option<Vec<(String, RefValue)>> {
    if !prefix.starts_with("refs/") || !prefix.ends_with('/') {
        return None;
    }
    // A reftable repository keeps `refs/` only as a stub; its refs are in `reftable/`.
    if common_dir.join("reftable").exists() {
        return None;
    }
    // Read through a small buffer: 700 KB of `packed-refs` read whole into a fresh heap
    // buffer cost more in page faults than parsing it (10,000 refs).
    let mut refs = match std::fs::File::open(common_dir.join("packed-refs")) {
        Ok(file) => packed(std::io::BufReader::with_capacity(1 << 16, file), prefix)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(_) => return None,
    };
    loose(common_dir, prefix, &mut refs)?;
    // git writes `packed-refs` sorted, so this stable sort merges two sorted runs; of a name
    // listed twice, the loose ref (after the packed one) is kept.
    refs.sort_by(|a, b| a.0.cmp(&b.0));
    refs.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            std::mem::swap(later, kept);
        }
        same
    });
    Some(refs)
}

/// The packed refs under `prefix`, from the lines of `packed-refs`.
fn packed(mut lines: impl BufRead, prefix: &str) -> Option<Vec<(String, RefValue)>> {
    let mut out = Vec::new();
    // Whether the last ref read is under the prefix (the last of `out`), for a `^` line that
    // peels it.
    let mut last = false;
    // With the `sorted` trait, the refs under the prefix are one run: reading stops after it.
    let mut sorted = false;
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        if lines.read_until(b'\n', &mut line).ok()? == 0 {
            break;
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        match text.first() {
            None => continue,
            Some(b'#') => {
                sorted |= text.starts_with(b"# pack-refs with:")
                    && text.split(|&b| b == b' ').any(|t| t == b"sorted");
            }
            Some(b'^') => {
                let peeled = hex20(&text[1..])?;
                if std::mem::take(&mut last) {
                    if let Some((_, RefValue::Direct { peeled: p, .. })) = out.last_mut() {
                        *p = Some(peeled);
                    }
                }
            }
            Some(_) => {
                let (hex, name) = (text.get(..40)?, text.get(41..)?);
                if text[40] != b' ' {
                    return None;
                }
                last = name.starts_with(prefix.as_bytes());
                if !last {
                    if sorted && name > prefix.as_bytes() {
                        break;
                    }
                    continue;
                }
                let value = RefValue::Direct {
                    target: hex20(hex)?,
                    peeled: None,
                };
                out.push((String::from_utf8(name.to_vec()).ok()?, value));
            }
        }
    }
    Some(out)
}

/// Appends the loose refs under `prefix` to `refs`.
fn loose(common_dir: &Path, prefix: &str, refs: &mut Vec<(String, RefValue)>) -> Option<()> {
    let mut dirs = vec![prefix.trim_end_matches('/').to_owned()];
    while let Some(dir) = dirs.pop() {
        let entries = match std::fs::read_dir(common_dir.join(&dir)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(_) => return None,
        };
        for entry in entries {
            let entry = entry.ok()?;
            let Ok(file) = entry.file_name().into_string() else {
                continue;
            };
            let name = format!("{dir}/{file}");
            let kind = entry.file_type().ok()?;
            if kind.is_dir() {
                dirs.push(name);
                continue;
            }
            if file.ends_with(".lock") || !git2::Reference::is_valid_name(&name) {
                continue;
            }
            let bytes = match std::fs::read(entry.path()) {
                Ok(bytes) => bytes,
                // Deleted (or packed) since the directory was read.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(_) => return None,
            };
            let text = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
            let value = if text.starts_with(b"ref:") {
                RefValue::Symbolic
            } else {
                RefValue::Direct {
                    target: hex20(text)?,
                    peeled: None,
                }
            };
            refs.push((name, value));
        }
    }
    Some(())
}

/// A 40-digit hex object name, raw.
fn hex20(hex: &[u8]) -> Option<[u8; 20]> {
    let mut out = [0u8; 20];
    super::commit_graph::decode_into(hex, &mut out)?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::test_git;

    /// The listing as libgit2 gives it: `(full name, peeled commit)`.
    fn via_libgit2(dir: &Path, prefix: &str) -> Vec<(String, String)> {
        let repo = git2::Repository::open(dir).expect("open");
        let mut out: Vec<(String, String)> = repo
            .references_glob(&format!("{prefix}*"))
            .expect("glob")
            .map(|r| {
                let r = r.expect("ref");
                let commit = r.peel_to_commit().expect("commit").id().to_string();
                (r.name().expect("name").to_owned(), commit)
            })
            .collect();
        out.sort();
        out
    }

    /// The listing read here, with symbolic refs and tags resolved through libgit2.
    fn via_files(dir: &Path, prefix: &str) -> Vec<(String, String)> {
        let repo = git2::Repository::open(dir).expect("open");
        under(dir, prefix)
            .expect("readable")
            .into_iter()
            .map(|(name, value)| {
                let commit = match value {
                    RefValue::Direct {
                        peeled: Some(p), ..
                    } => git2::Oid::from_bytes(&p).expect("oid").to_string(),
                    RefValue::Direct { target, .. } => {
                        let id = git2::Oid::from_bytes(&target).expect("oid");
                        repo.find_object(id, None)
                            .and_then(|o| o.peel_to_commit())
                            .expect("commit")
                            .id()
                            .to_string()
                    }
                    RefValue::Symbolic => repo
                        .find_reference(&name)
                        .and_then(|r| r.peel_to_commit())
                        .expect("symbolic")
                        .id()
                        .to_string(),
                };
                (name, commit)
            })
            .collect()
    }

    fn repo_with_refs() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path();
        test_git(dir, &["init", "-q", "."]);
        for i in 0..3 {
            test_git(
                dir,
                &["commit", "-q", "--allow-empty", "-m", &format!("c{i}")],
            );
        }
        for (name, rev) in [
            ("refs/remotes/origin/main", "HEAD"),
            ("refs/remotes/origin/topic/a", "HEAD~1"),
            ("refs/remotes/origin/topic/b", "HEAD~2"),
            ("refs/remotes/other/main", "HEAD~2"),
        ] {
            test_git(dir, &["update-ref", name, rev]);
        }
        test_git(dir, &["tag", "-a", "-m", "t", "v1", "HEAD~1"]);
        test_git(dir, &["update-ref", "refs/remotes/origin/tagged", "v1"]);
        test_git(
            dir,
            &[
                "symbolic-ref",
                "refs/remotes/origin/HEAD",
                "refs/remotes/origin/main",
            ],
        );
        tmp
    }

    #[test]
    fn packed_and_loose_refs_list_as_libgit2_lists_them_issue_21() {
        let tmp = repo_with_refs();
        let dir = tmp.path().join(".git");
        // All loose first, then all packed (with peeled tags), then a loose ref that
        // overrides its packed self, a new loose one and a write under way.
        for prefix in ["refs/remotes/origin/", "refs/remotes/", "refs/heads/"] {
            assert_eq!(
                via_files(&dir, prefix),
                via_libgit2(&dir, prefix),
                "{prefix}"
            );
        }
        test_git(tmp.path(), &["pack-refs", "--all"]);
        let packed = std::fs::read_to_string(dir.join("packed-refs")).expect("packed");
        assert!(packed.contains("\n^"), "a peeled line: {packed}");
        test_git(
            tmp.path(),
            &["update-ref", "refs/remotes/origin/topic/a", "HEAD"],
        );
        test_git(
            tmp.path(),
            &["update-ref", "refs/remotes/origin/topic/c", "HEAD~1"],
        );
        std::fs::write(
            dir.join("refs/remotes/origin/topic/d.lock"),
            "0000000000000000000000000000000000000000\n",
        )
        .expect("lock");
        for prefix in [
            "refs/remotes/origin/",
            "refs/remotes/",
            "refs/heads/",
            "refs/tags/",
        ] {
            assert_eq!(
                via_files(&dir, prefix),
                via_libgit2(&dir, prefix),
                "{prefix}"
            );
        }
        let listed = under(&dir, "refs/remotes/origin/").expect("readable");
        assert!(listed.iter().all(|(n, _)| !n.ends_with(".lock")));
        assert!(listed
            .iter()
            .any(|(n, v)| n.ends_with("/HEAD") && *v == RefValue::Symbolic));
    }

    #[test]
    fn an_unsorted_file_is_read_whole_and_a_sorted_one_up_to_the_prefix_issue_21() {
        let a = "1".repeat(40);
        let b = "2".repeat(40);
        let unsorted =
            format!("{b} refs/remotes/o/z\n{a} refs/heads/main\n{a} refs/remotes/o/a\n^{b}\n");
        let listed = packed(unsorted.as_bytes(), "refs/remotes/").expect("parses");
        let names: Vec<&str> = listed.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["refs/remotes/o/z", "refs/remotes/o/a"]);
        assert_eq!(
            listed[1].1,
            RefValue::Direct {
                target: [0x11; 20],
                peeled: Some([0x22; 20])
            }
        );
        let sorted = format!("# pack-refs with: peeled fully-peeled sorted \n{a} refs/remotes/o/a\n{b} refs/tags/v1\ngarbage\n");
        assert_eq!(
            packed(sorted.as_bytes(), "refs/remotes/")
                .expect("parses")
                .len(),
            1
        );
        assert_eq!(packed(sorted.as_bytes(), "refs/tags/"), None);
    }

    #[test]
    fn what_is_not_understood_is_left_to_libgit2_issue_21() {
        let tmp = repo_with_refs();
        let dir = tmp.path().join(".git");
        test_git(tmp.path(), &["pack-refs", "--all"]);
        let packed = dir.join("packed-refs");
        let good = std::fs::read_to_string(&packed).expect("packed");
        // (Lines after the prefix's run in a sorted file are not read, as git does not.)
        let (header, rest) = good.split_once('\n').expect("header");
        std::fs::write(&packed, format!("{header}\nnot a ref line\n{rest}")).expect("write");
        assert_eq!(under(&dir, "refs/remotes/"), None);
        std::fs::write(&packed, good).expect("write");
        std::fs::write(dir.join("refs/remotes/origin/junk"), "zz\n").expect("write");
        assert_eq!(under(&dir, "refs/remotes/"), None);
        std::fs::remove_file(dir.join("refs/remotes/origin/junk")).expect("rm");
        assert!(under(&dir, "refs/remotes/").is_some());
        std::fs::create_dir(dir.join("reftable")).expect("mkdir");
        assert_eq!(under(&dir, "refs/remotes/"), None);
    }
}
