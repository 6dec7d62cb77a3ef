//! The messages of a list of commits, streamed from one `git log -z --format=%H%n%B`: where
//! libgit2 looked up and parsed each commit into its object cache, whose memory grew with
//! the pushed range (issue 14).

use std::io::BufRead;

use std::fmt::Display;

use anyhow::Result;

use super::{GitDir, Repo};

impl GitDir {
    /// Calls `each(commit, message)` for every one of `commits` (object names), in the
    /// order given. `Ok(false)` when git could not answer.
    pub fn messages<T: Display>(
        &self,
        commits: &[T],
        each: &mut dyn FnMut(&str, &[u8]),
    ) -> Result<bool> {
        self.log_over_commits(
            &["log.showSignature=false", "i18n.logOutputEncoding=UTF-8"],
            &["-z", "--format=%H%n%B"],
            commits,
            |out| read_messages(out, each),
        )
    }
}

impl Repo {
    /// [`GitDir::messages`]; `Ok(false)` when git could not answer: the caller falls back
    /// to libgit2.
    pub fn messages<T: Display>(
        &self,
        commits: &[T],
        each: &mut dyn FnMut(&str, &[u8]),
    ) -> Result<bool> {
        self.git().messages(commits, each)
    }
}

/// Reads `git log -z --format=%H%n%B` output; `false` on anything it cannot parse.
fn read_messages(out: &mut dyn BufRead, each: &mut dyn FnMut(&str, &[u8])) -> bool {
    let mut record = Vec::with_capacity(4096);
    loop {
        record.clear();
        match out.read_until(0, &mut record) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
        if record.last() == Some(&0) {
            record.pop();
        }
        let Some(end) = record.iter().position(|&b| b == b'\n') else {
            return false;
        };
        let (hex, message) = record.split_at(end);
        if !super::cli::is_hex_name(hex) {
            return false;
        }
        let oid = String::from_utf8_lossy(hex);
        // As libgit2 gives a message: after the header's blank line, leading newlines skipped.
        let message = message.strip_prefix(b"\n").unwrap_or(message);
        let start = message
            .iter()
            .position(|&b| b != b'\n')
            .unwrap_or(message.len());
        each(&oid, &message[start..]);
    }
}

/// A message's summary as libgit2 gives it: the first paragraph, each run of whitespace that
/// holds a newline squashed to one space, trailing whitespace dropped.
pub fn summary(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut space: Option<(usize, bool)> = None; // (start, holds a newline)
    let msg = message;
    let mut i = 0;
    while i < msg.len() {
        let c = msg[i];
        if c == b'\n' {
            // The paragraph ends at an empty (or blank) line.
            let rest = &msg[i + 1..];
            let blank = rest
                .iter()
                .position(|&b| b == b'\n' || !(b == b' ' || b == b'\t' || b == b'\r'))
                .is_none_or(|j| rest[j] == b'\n');
            if blank {
                break;
            }
        }
        if c.is_ascii_whitespace() || c == 0x0b {
            let holds = c == b'\n';
            space = Some(match space {
                Some((s, h)) => (s, h || holds),
                None => (i, holds),
            });
        } else {
            if let Some((s, holds)) = space.take() {
                if holds {
                    out.push(b' ');
                } else {
                    out.extend_from_slice(&msg[s..i]);
                }
            }
            out.push(c);
        }
        i += 1;
    }
    out
}
