//! Git's pre-push protocol: the ref lines on the hook's stdin, parsed into [`RefUpdate`]s.
//!
//! Pure: no I/O, no repository. Each line is `<local ref> SP <local oid> SP <remote ref> SP
//! <remote oid>`, split from the right because the local ref is what the user typed and may
//! contain spaces (`HEAD^{/fix the}`), while the other three fields never do.

use std::fmt;

use crate::text::escape;

/// What a ref update does to the remote ref.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The remote ref does not exist yet.
    Create,
    /// The remote ref is deleted (`git push origin :branch` or `--delete`).
    Delete,
    /// The remote ref moves from one commit to another.
    Update,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Change::Create => "create",
            Change::Delete => "delete",
            Change::Update => "update",
        })
    }
}

/// One line of pre-push input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    /// What the user typed as the source (`HEAD`, `refs/heads/x`, `(delete)`, `HEAD^{/fix the}`).
    pub local_ref: String,
    /// The object being pushed; all zeros for a delete.
    pub local_oid: String,
    /// The full destination ref name on the remote (`refs/heads/production`).
    pub remote_ref: String,
    /// The remote's current value of the ref; all zeros when it does not exist.
    pub remote_oid: String,
}

impl RefUpdate {
    /// Returns whether this line creates, deletes or updates the remote ref.
    pub fn change(&self) -> Change {
        if is_zero(&self.local_oid) {
            Change::Delete
        } else if is_zero(&self.remote_oid) {
            Change::Create
        } else {
            Change::Update
        }
    }

    /// Returns the short branch name when the destination is a branch (`refs/heads/…`).
    ///
    /// Tags, notes and `refs/remotes/…` (pushed by `--mirror`) are never branches: a tag
    /// named `production` is `refs/tags/production`.
    pub fn branch(&self) -> Option<&str> {
        self.remote_ref
            .strip_prefix("refs/heads/")
            .filter(|b| !b.is_empty())
    }

    /// Returns the pushed object id, or `None` for a delete.
    pub fn new_oid(&self) -> Option<&str> {
        (!is_zero(&self.local_oid)).then_some(self.local_oid.as_str())
    }

    /// Returns the remote's current object id, or `None` for a new ref.
    pub fn old_oid(&self) -> Option<&str> {
        (!is_zero(&self.remote_oid)).then_some(self.remote_oid.as_str())
    }
}

/// Malformed pre-push input, quoting the offending line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line_number: usize,
    /// The line as received (lossily decoded, control characters escaped for display).
    pub line: String,
    pub reason: &'static str,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "malformed pre-push input on line {}: {}: \"{}\"",
            self.line_number, self.reason, self.line
        )
    }
}

impl std::error::Error for ParseError {}

/// Parses all of git's pre-push input. Empty input yields no updates.
pub fn parse(input: &[u8]) -> Result<Vec<RefUpdate>, ParseError> {
    parse_lines(input, |text| {
        let mut fields = text.rsplitn(4, ' ');
        let (Some(remote_oid), Some(remote_ref), Some(local_oid), Some(local_ref)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err("expected `<local ref> <local oid> <remote ref> <remote oid>`");
        };
        if !is_object_name(local_oid) || !is_object_name(remote_oid) {
            return Err("object names must be 40 or 64 hexadecimal digits");
        }
        if local_oid.len() != remote_oid.len() {
            return Err("object names of different lengths");
        }
        if local_ref.is_empty() || remote_ref.is_empty() {
            return Err("empty ref name");
        }
        if !remote_ref.starts_with("refs/") {
            return Err("the remote ref must be a full ref name (refs/…)");
        }
        Ok(RefUpdate {
            local_ref: local_ref.to_owned(),
            local_oid: local_oid.to_ascii_lowercase(),
            remote_ref: remote_ref.to_owned(),
            remote_oid: remote_oid.to_ascii_lowercase(),
        })
    })
}

/// Parses a hook's input line by line (blank lines skipped, `\r\n` accepted); an error
/// quotes the offending line, escaped.
pub fn parse_lines(
    input: &[u8],
    mut parse_line: impl FnMut(&str) -> Result<RefUpdate, &'static str>,
) -> Result<Vec<RefUpdate>, ParseError> {
    let mut updates = Vec::new();
    for (i, raw) in input.split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.is_empty() {
            continue;
        }
        let text = String::from_utf8_lossy(raw);
        let update = parse_line(&text).map_err(|reason| ParseError {
            line_number: i + 1,
            line: escape(&text, 200),
            reason,
        })?;
        updates.push(update);
    }
    Ok(updates)
}

/// Tells whether `s` is a SHA-1 or SHA-256 object name in hex.
pub fn is_object_name(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Tells whether an object name is git's all-zero "no object".
pub fn is_zero(oid: &str) -> bool {
    oid.bytes().all(|b| b == b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";
    const Z: &str = "0000000000000000000000000000000000000000";

    #[test]
    fn empty_input_has_no_updates() {
        assert_eq!(parse(b"").unwrap(), vec![]);
        assert_eq!(parse(b"\n").unwrap(), vec![]);
    }

    #[test]
    fn update_create_delete() {
        let input = format!(
            "refs/heads/main {A} refs/heads/main {B}\nHEAD {A} refs/heads/new {Z}\n(delete) {Z} refs/heads/old {B}\n"
        );
        let u = parse(input.as_bytes()).unwrap();
        assert_eq!(u.len(), 3);
        assert_eq!(u[0].change(), Change::Update);
        assert_eq!(u[1].change(), Change::Create);
        assert_eq!(u[2].change(), Change::Delete);
        assert_eq!(u[2].local_ref, "(delete)");
        assert_eq!(u[2].new_oid(), None);
        assert_eq!(u[1].old_oid(), None);
        assert_eq!(u[0].branch(), Some("main"));
    }

    #[test]
    fn local_ref_may_contain_spaces() {
        let input = format!("HEAD^{{/fix the bug}} {A} refs/heads/production {B}\n");
        let u = parse(input.as_bytes()).unwrap();
        assert_eq!(u[0].local_ref, "HEAD^{/fix the bug}");
        assert_eq!(u[0].branch(), Some("production"));
    }

    #[test]
    fn sha256_names_are_accepted() {
        let a = "a".repeat(64);
        let z = "0".repeat(64);
        let u = parse(format!("HEAD {a} refs/heads/x {z}").as_bytes()).unwrap();
        assert_eq!(u[0].change(), Change::Create);
    }

    #[test]
    fn tags_notes_and_remote_refs_are_not_branches() {
        for r in [
            "refs/tags/production",
            "refs/notes/commits",
            "refs/remotes/origin/production",
        ] {
            let u = parse(format!("x {A} {r} {B}").as_bytes()).unwrap();
            assert_eq!(u[0].branch(), None, "{r}");
        }
    }

    #[test]
    fn malformed_lines_are_quoted() {
        let e = parse(b"garbage\n").unwrap_err();
        assert_eq!(e.line_number, 1);
        assert!(e.to_string().contains("\"garbage\""), "{e}");
        let e = parse(format!("x {A} refs/heads/a 1234\n").as_bytes()).unwrap_err();
        assert!(e.to_string().contains("40 or 64"), "{e}");
        let e = parse(format!("x {A} refs/heads/a {}\n", "b".repeat(64)).as_bytes()).unwrap_err();
        assert!(e.to_string().contains("different lengths"), "{e}");
        let e = parse(format!("ok {A} refs/heads/a {B}\nx {A} main {B}\n").as_bytes()).unwrap_err();
        assert_eq!(e.line_number, 2);
    }

    #[test]
    fn control_characters_are_escaped_in_errors() {
        let e = parse(b"\x1b[31mred\x1b[0m\n").unwrap_err();
        assert!(!e.to_string().contains('\x1b'));
        assert!(e.to_string().contains("\\u{1b}[31mred"));
    }

    #[test]
    fn many_lines_parse() {
        let input: String = (0..1000)
            .map(|i| format!("refs/heads/b{i} {A} refs/heads/b{i} {Z}\n"))
            .collect();
        assert_eq!(parse(input.as_bytes()).unwrap().len(), 1000);
    }
}
