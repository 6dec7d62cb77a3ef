//! The messages of a list of commits, streamed from one `git log -z --format=%H%n%B`: where
//! libgit2 looked up and parsed each commit into its object cache, whose memory grew with
//! the pushed range (issue 14).

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

use anyhow::{Context as _, Result};
use git2::Oid;

use super::{git_command, keep_quarantine, Repo};

impl Repo {
    /// Calls `each(commit, message)` for every one of `commits`, in the order given.
    /// `Ok(false)` when git could not answer: the caller falls back to libgit2.
    pub fn messages(&self, commits: &[Oid], each: &mut dyn FnMut(Oid, &[u8])) -> Result<bool> {
        let mut cmd = git_command(self.common_dir());
        keep_quarantine(&mut cmd);
        cmd.arg("--git-dir")
            .arg(self.git2().path())
            .args([
                "-c",
                "log.showSignature=false",
                "-c",
                "i18n.logOutputEncoding=UTF-8",
                "log",
                "--no-walk=unsorted",
                "--stdin",
                "-z",
                "--format=%H%n%B",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let Ok(mut child) = cmd.spawn() else {
            return Ok(false);
        };
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let list: Vec<u8> = commits
            .iter()
            .flat_map(|c| format!("{c}\n").into_bytes())
            .collect();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&list);
        });
        let mut out = BufReader::with_capacity(256 * 1024, child.stdout.take().expect("piped"));
        let mut record = Vec::with_capacity(4096);
        let mut ok = true;
        loop {
            record.clear();
            match out.read_until(0, &mut record) {
                Ok(0) => break,
                Ok(_) => {}
                Err(_) => {
                    ok = false;
                    break;
                }
            }
            if record.last() == Some(&0) {
                record.pop();
            }
            let Some((hex, message)) = record.split_at_checked(40) else {
                ok = false;
                break;
            };
            let Some(oid) = std::str::from_utf8(hex)
                .ok()
                .and_then(|h| Oid::from_str(h).ok())
            else {
                ok = false;
                break;
            };
            // As libgit2 gives a message: after the header's blank line, leading newlines
            // skipped.
            let message = message.strip_prefix(b"\n").unwrap_or(message);
            let start = message
                .iter()
                .position(|&b| b != b'\n')
                .unwrap_or(message.len());
            each(oid, &message[start..]);
        }
        let _ = writer.join();
        let status = child.wait().context("failed to wait for `git log`")?;
        Ok(ok && status.success())
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
