//! The root trees of commits, read from git's commit-graph files
//! (`objects/info/commit-graph`, `objects/info/commit-graphs/*.graph`): the tree half of
//! `promoted` over many candidate branches without reading each tip's commit object
//! (issue 21). A commit is named by its hash, so the tree a graph gives for it is the one its
//! object holds; a commit the graphs lack is read the ordinary way by the caller.
//!
//! The format (git's `gitformat-commit-graph`): an 8-byte header (`CGPH`, version 1, hash
//! version 1 = SHA-1 or 2 = SHA-256, chunk count), a table of 12-byte chunk entries (id,
//! 8-byte offset), then the chunks: `OIDF` (256 cumulative counts by first byte), `OIDL`
//! (the commits' names, sorted) and `CDAT` (per commit: its root tree's name, then 16
//! bytes of parents and generation). Only those three are read.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The commit-graph files of one object directory; files that do not parse are left out.
pub struct CommitGraph {
    files: Vec<GraphFile>,
}

struct GraphFile {
    file: File,
    /// Bytes in an object name: 20 (SHA-1) or 32 (SHA-256).
    hash_len: usize,
    fanout: Vec<u32>,
    /// The sorted object names, `hash_len` bytes each.
    oids: Vec<u8>,
    cdat: u64,
}

impl CommitGraph {
    /// The graphs of `objects_dir` (none is fine: every lookup then misses).
    pub fn open(objects_dir: &Path) -> CommitGraph {
        let info = objects_dir.join("info");
        let mut paths: Vec<PathBuf> = vec![info.join("commit-graph")];
        let chain = info.join("commit-graphs");
        if let Ok(text) = std::fs::read_to_string(chain.join("commit-graph-chain")) {
            for hash in text.lines().map(str::trim).filter(|h| !h.is_empty()) {
                paths.push(chain.join(format!("graph-{hash}.graph")));
            }
        }
        CommitGraph {
            files: paths.iter().filter_map(|p| GraphFile::open(p)).collect(),
        }
    }

    /// Tells whether a graph holds `commit` (a hex object name). A graph holds every
    /// ancestor of each commit it holds (git writes them closed under parents).
    pub fn holds(&self, commit: &str) -> bool {
        let mut raw = [0u8; 32];
        decoded(commit, &mut raw).is_some_and(|raw| self.holds_raw(raw))
    }

    /// [`CommitGraph::holds`], for a raw object name.
    pub fn holds_raw(&self, commit: &[u8]) -> bool {
        self.files.iter().any(|f| f.position(commit).is_some())
    }

    /// The root tree of each commit (hex object names in and out); `None` for a commit no
    /// graph holds.
    pub fn trees<S: AsRef<str>>(&self, commits: &[S]) -> Vec<Option<String>> {
        let raw: Vec<Option<Vec<u8>>> = commits.iter().map(|c| decode(c.as_ref())).collect();
        let known: Vec<&[u8]> = raw.iter().map(|r| r.as_deref().unwrap_or(&[])).collect();
        self.raw_trees(&known)
            .into_iter()
            .map(|t| t.map(|t| encode(&t)))
            .collect()
    }

    /// [`CommitGraph::trees`], raw object names in and out.
    pub fn raw_trees<R: AsRef<[u8]>>(&self, commits: &[R]) -> Vec<Option<Vec<u8>>> {
        // Many lookups read each file's commit data whole, once; a few read their entries.
        let data: Vec<Option<Vec<u8>>> = self
            .files
            .iter()
            .map(|f| {
                (commits.len() * 64 > f.len())
                    .then(|| f.commit_data())
                    .flatten()
            })
            .collect();
        commits
            .iter()
            .map(|raw| {
                self.files
                    .iter()
                    .zip(&data)
                    .find_map(|(f, data)| f.tree(raw.as_ref(), data.as_deref()))
            })
            .collect()
    }
}

impl GraphFile {
    fn open(path: &Path) -> Option<GraphFile> {
        let file = File::open(path).ok()?;
        let size = file.metadata().ok()?.len();
        let mut header = [0u8; 8];
        file.read_exact_at(&mut header, 0).ok()?;
        if &header[..4] != b"CGPH" || header[4] != 1 {
            return None;
        }
        let hash_len = match header[5] {
            1 => 20,
            2 => 32,
            _ => return None,
        };
        let chunks = usize::from(header[6]);
        let mut table = vec![0u8; (chunks + 1) * 12];
        file.read_exact_at(&mut table, 8).ok()?;
        let offset = |id: &[u8; 4]| -> Option<(u64, u64)> {
            let i = (0..chunks).find(|i| &table[i * 12..i * 12 + 4] == id)?;
            let at = |j: usize| {
                let b: [u8; 8] = table[j * 12 + 4..j * 12 + 12].try_into().ok()?;
                Some(u64::from_be_bytes(b))
            };
            let (start, end) = (at(i)?, at(i + 1)?);
            (start <= end && end <= size).then_some((start, end))
        };
        let (oidf, _) = offset(b"OIDF")?;
        let (oidl, oidl_end) = offset(b"OIDL")?;
        let (cdat, cdat_end) = offset(b"CDAT")?;
        let mut fanout_bytes = vec![0u8; 256 * 4];
        file.read_exact_at(&mut fanout_bytes, oidf).ok()?;
        let fanout: Vec<u32> = fanout_bytes
            .chunks_exact(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let n = *fanout.last()? as u64;
        if oidl_end - oidl < n * hash_len as u64 || cdat_end - cdat < n * (hash_len as u64 + 16) {
            return None;
        }
        let mut oids = vec![0u8; usize::try_from(n).ok()? * hash_len];
        file.read_exact_at(&mut oids, oidl).ok()?;
        Some(GraphFile {
            file,
            hash_len,
            fanout,
            oids,
            cdat,
        })
    }

    /// Where this file holds `commit` (raw name), if it does.
    fn position(&self, commit: &[u8]) -> Option<usize> {
        if commit.len() != self.hash_len {
            return None;
        }
        let first = usize::from(commit[0]);
        let lo = if first == 0 {
            0
        } else {
            self.fanout[first - 1]
        } as usize;
        let hi = self.fanout[first] as usize;
        let name = |i: usize| &self.oids[i * self.hash_len..(i + 1) * self.hash_len];
        let (mut lo, mut hi) = (lo, hi.min(self.oids.len() / self.hash_len));
        while lo < hi {
            let mid = (lo + hi) / 2;
            match name(mid).cmp(commit) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// How many commits this file holds.
    fn len(&self) -> usize {
        self.oids.len() / self.hash_len
    }

    /// The whole `CDAT` chunk.
    fn commit_data(&self) -> Option<Vec<u8>> {
        let mut data = vec![0u8; self.len() * (self.hash_len + 16)];
        self.file.read_exact_at(&mut data, self.cdat).ok()?;
        Some(data)
    }

    /// The root tree of `commit` (raw name), if this file holds it; from `data` (the `CDAT`
    /// chunk) when it was read whole.
    fn tree(&self, commit: &[u8], data: Option<&[u8]>) -> Option<Vec<u8>> {
        let at = self.position(commit)? * (self.hash_len + 16);
        match data {
            Some(data) => Some(data.get(at..at + self.hash_len)?.to_vec()),
            None => {
                let mut tree = vec![0u8; self.hash_len];
                self.file
                    .read_exact_at(&mut tree, self.cdat + at as u64)
                    .ok()?;
                Some(tree)
            }
        }
    }
}

/// The raw bytes of a hex object name.
pub fn decode(hex: &str) -> Option<Vec<u8>> {
    let mut out = vec![0u8; hex.len() / 2];
    decode_into(hex.as_bytes(), &mut out)?;
    Some(out)
}

/// A SHA-1 or SHA-256 hex object name decoded into `buf`, without allocating.
fn decoded<'b>(hex: &str, buf: &'b mut [u8; 32]) -> Option<&'b [u8]> {
    let out = buf.get_mut(..hex.len() / 2)?;
    decode_into(hex.as_bytes(), out)?;
    Some(out)
}

/// Decodes `hex` into `out`, which must be exactly half its length.
pub fn decode_into(hex: &[u8], out: &mut [u8]) -> Option<()> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    if hex.len() != out.len() * 2 {
        return None;
    }
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(())
}

/// The hex name of a raw object name (what `Oid::to_string` gives, without the formatter:
/// 10,000 candidate tips, issue 21).
pub fn encode(raw: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(raw.len() * 2);
    for b in raw {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) -> String {
        crate::git::test_git(dir, args)
    }

    fn trees_agree_with_git(format: &str) {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path();
        git(dir, &["init", "-q", &format!("--object-format={format}")]);
        let mut commits = Vec::new();
        for i in 0..140 {
            std::fs::write(dir.join("f"), format!("{i}\n")).expect("write");
            git(dir, &["add", "f"]);
            git(dir, &["commit", "-q", "-m", &format!("c{i}")]);
            commits.push(git(dir, &["rev-parse", "HEAD"]));
            if i == 19 {
                git(dir, &["commit-graph", "write", "--reachable", "--split"]);
            }
        }
        git(dir, &["commit-graph", "write", "--reachable", "--split"]);
        // A commit written after the graphs: not in them.
        git(dir, &["commit", "-q", "--allow-empty", "-m", "late"]);
        commits.push(git(dir, &["rev-parse", "HEAD"]));
        let graph = CommitGraph::open(&dir.join(".git/objects"));
        assert!(!graph.files.is_empty());
        let found = graph.trees(&commits);
        for (commit, tree) in commits.iter().zip(&found).take(140) {
            assert_eq!(
                tree.as_deref(),
                Some(git(dir, &["rev-parse", &format!("{commit}^{{tree}}")]).as_str())
            );
        }
        assert_eq!(found[140], None, "the late commit is in no graph");
        assert!(graph.holds(&commits[0]) && graph.holds(&commits[139]));
        assert!(!graph.holds(&commits[140]));
        // One lookup reads its entry alone, and agrees.
        assert_eq!(graph.trees(&commits[100..101]), found[100..101]);
        assert_eq!(graph.trees(&["not hex"]), [None]);
    }

    #[test]
    fn sha1_graph_chains_give_each_commits_tree_issue_21() {
        trees_agree_with_git("sha1");
    }

    #[test]
    fn sha256_graph_chains_give_each_commits_tree_issue_21() {
        trees_agree_with_git("sha256");
    }
}
