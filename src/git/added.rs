//! The lines a pushed range adds in the end (its net change, old → new), streamed from one
//! `git diff` of the two commits: the lines each commit added and a later one removed are
//! not in it (issue 22, item 4), and git reads only what differs between the two trees.
//! The output is read line by line, so memory stays bounded whatever the change (issue 14).

use std::io::BufRead;
use std::process::Stdio;

use anyhow::{Context as _, Result};
use git2::Oid;

use super::{GitDir, Repo};

/// One line the change adds, with the file and the line number in the pushed version.
pub struct AddedLine<'a> {
    pub path: &'a [u8],
    pub line: u32,
    /// Without its newline.
    pub content: &'a [u8],
}

/// Where the parser is in `git diff` output.
enum State {
    /// Diff headers: anything but hunk lines.
    Header,
    /// Inside a hunk, with the removed and added lines still to come, and the next added
    /// line's number.
    Hunk { old: u32, new: u32, next: u32 },
}

impl Repo {
    /// [`GitDir::added_lines`] over object ids; `Ok(false)` when git could not answer: the
    /// caller falls back to libgit2.
    pub fn added_lines(
        &self,
        base: Option<Oid>,
        new: Oid,
        each: &mut dyn FnMut(AddedLine<'_>),
    ) -> Result<bool> {
        let base = base.map(|b| b.to_string());
        self.git()
            .added_lines(base.as_deref(), &new.to_string(), each)
    }
}

/// The empty tree's name for object names as long as `like` (SHA-1 or SHA-256): git knows
/// it without it being stored.
fn empty_tree(like: &str) -> &'static str {
    if like.len() == 64 {
        "6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321"
    } else {
        "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
    }
}

impl GitDir {
    /// Calls `each` for every line that `new`'s tree has and `base`'s does not (`None`: the
    /// empty tree, so every line of `new`), both hex object names. `Ok(false)` when git could
    /// not answer (git missing or failing).
    pub fn added_lines(
        &self,
        base: Option<&str>,
        new: &str,
        each: &mut dyn FnMut(AddedLine<'_>),
    ) -> Result<bool> {
        let from = base.unwrap_or_else(|| empty_tree(new));
        let mut cmd = self.command();
        cmd.args(["-c", "core.quotePath=false", "diff"])
            .args([
                "--patch",
                "--unified=0",
                "--no-color",
                "--no-ext-diff",
                "--no-textconv",
                "--no-renames",
                "--src-prefix=a/",
                "--dst-prefix=b/",
            ])
            .arg(from)
            .arg(new)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let Ok(mut child) = cmd.spawn() else {
            return Ok(false);
        };
        let stdout = child.stdout.take().expect("stdout is piped");
        let parsed = parse(std::io::BufReader::with_capacity(256 * 1024, stdout), each).is_ok();
        let status = child.wait().context("failed to wait for `git diff`")?;
        Ok(parsed && status.success())
    }
}

/// Parses `git diff -U0` output.
fn parse(mut out: impl BufRead, each: &mut dyn FnMut(AddedLine<'_>)) -> std::io::Result<()> {
    let mut line = Vec::with_capacity(4096);
    let mut path: Option<Vec<u8>> = None;
    let mut state = State::Header;
    loop {
        line.clear();
        if out.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if let State::Hunk { old, new, next } = &mut state {
            match line.first() {
                Some(b'+') if *new > 0 => {
                    if let Some(p) = &path {
                        each(AddedLine {
                            path: p,
                            line: *next,
                            content: &line[1..],
                        });
                    }
                    *new -= 1;
                    *next += 1;
                }
                Some(b'-') if *old > 0 => *old -= 1,
                Some(b'\\') => {}
                _ => state = State::Header,
            }
            if let State::Hunk { old: 0, new: 0, .. } = state {
                state = State::Header;
            }
            if matches!(state, State::Hunk { .. }) || line.first() == Some(&b'\\') {
                continue;
            }
            if matches!(line.first(), Some(b'+' | b'-')) {
                continue;
            }
        }
        if line.starts_with(b"diff --git ") {
            path = None;
        } else if let Some(p) = line.strip_prefix(b"+++ ") {
            // git ends a name holding a space with a tab, for patch(1).
            let p = p.strip_suffix(b"\t").unwrap_or(p);
            path = if p == b"/dev/null" {
                None
            } else {
                let p = unquote(p);
                Some(p.strip_prefix(b"b/").map(<[u8]>::to_vec).unwrap_or(p))
            };
        } else if let Some(h) = line.strip_prefix(b"@@ -") {
            if let Some((old, new, next)) = hunk_header(h) {
                state = if old == 0 && new == 0 {
                    State::Header
                } else {
                    State::Hunk { old, new, next }
                };
            }
        }
    }
}

/// Parses `a[,b] +c[,d] @@…` into (removed lines, added lines, first added line number).
fn hunk_header(h: &[u8]) -> Option<(u32, u32, u32)> {
    let text = std::str::from_utf8(h).ok()?;
    let (ranges, _) = text.split_once(" @@")?;
    let (old, new) = ranges.split_once(" +")?;
    let count = |r: &str| -> Option<(u32, u32)> {
        match r.split_once(',') {
            Some((start, n)) => Some((start.parse().ok()?, n.parse().ok()?)),
            None => Some((r.parse().ok()?, 1)),
        }
    };
    let (_, old_n) = count(old)?;
    let (start, new_n) = count(new)?;
    Some((old_n, new_n, start))
}

/// Undoes git's C-style quoting of a path (`"b/a\tb"`); an unquoted path is returned as is.
fn unquote(p: &[u8]) -> Vec<u8> {
    let Some(inner) = p.strip_prefix(b"\"").and_then(|p| p.strip_suffix(b"\"")) else {
        return p.to_vec();
    };
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        if inner[i] != b'\\' || i + 1 == inner.len() {
            out.push(inner[i]);
            i += 1;
            continue;
        }
        let c = inner[i + 1];
        i += 2;
        out.push(match c {
            b'a' => 7,
            b'b' => 8,
            b't' => b'\t',
            b'n' => b'\n',
            b'v' => 11,
            b'f' => 12,
            b'r' => b'\r',
            b'0'..=b'7' => {
                let digits = &inner[i - 1..(i + 2).min(inner.len())];
                i += digits.len() - 1;
                digits.iter().fold(0u32, |n, d| n * 8 + u32::from(d - b'0')) as u8
            }
            other => other,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn added(text: &str) -> Vec<(String, u32, String)> {
        let mut out = Vec::new();
        parse(text.as_bytes(), &mut |a| {
            out.push((
                String::from_utf8_lossy(a.path).into_owned(),
                a.line,
                String::from_utf8_lossy(a.content).into_owned(),
            ))
        })
        .expect("in memory");
        out
    }

    #[test]
    fn hunks_are_counted_so_content_that_looks_like_a_header_is_content_issue_14() {
        let log = "diff --git a/x b/x\n\
index 1..2 100644\n\
--- a/x\n\
+++ b/x\n\
@@ -3,2 +3,3 @@ fn\n\
--- not a header\n\
-old\n\
+++ b/not-a-path\n\
+=======\n\
+diff --git a/y b/y\n\
@@ -10 +11 @@\n\
-a\n\
+b\n\
\\ No newline at end of file\n\
diff --git \"a/t\\tab\" \"b/t\\tab\"\n\
new file mode 100644\n\
--- /dev/null\n\
+++ \"b/t\\tab\\303\\251\"\t\n\
@@ -0,0 +1 @@\n\
+<<<<<<< HEAD\n\
diff --git a/gone b/gone\n\
deleted file mode 100644\n\
--- a/gone\n\
+++ /dev/null\n\
@@ -1 +0,0 @@\n\
-+++ b/z\n";
        assert_eq!(
            added(log),
            [
                ("x".into(), 3, "++ b/not-a-path".into()),
                ("x".into(), 4, "=======".into()),
                ("x".into(), 5, "diff --git a/y b/y".into()),
                ("x".into(), 11, "b".into()),
                ("t\tabé".into(), 1, "<<<<<<< HEAD".into()),
            ]
        );
    }
}
