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
//! bytes of parents and generation), and `EDGE` (the extra parents of octopus merges) for
//! the walk. Only those four are read.
//!
//! The walk ([`CommitGraph::first_reaching`]) answers `promoted`'s containment in process
//! when every name is in the graphs: git's own `--contains` also walks the graph, cut off
//! by generation numbers, but costs a process and its own listing of every candidate ref.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The commit-graph files of one object directory; files that do not parse are left out.
pub struct CommitGraph {
    files: Vec<GraphFile>,
    /// The files git walks, in `files`, base first: the single `commit-graph` when there is
    /// one (git then reads no chain), else the whole chain; `None` when a file of it did not
    /// parse, so that parent positions (global across a chain) cannot be trusted.
    stack: Option<Vec<usize>>,
}

struct GraphFile {
    file: File,
    /// Bytes in an object name: 20 (SHA-1) or 32 (SHA-256).
    hash_len: usize,
    /// The `EDGE` chunk's place, if the file has one.
    edges: Option<(u64, u64)>,
    fanout: Vec<u32>,
    /// The sorted object names, `hash_len` bytes each.
    oids: Vec<u8>,
    cdat: u64,
    /// The whole `CDAT` chunk, once read: the trees of many tips and the walk share it.
    data: std::sync::OnceLock<Option<Vec<u8>>>,
}

/// Says how many files and commits, never the names (millions of bytes).
impl std::fmt::Debug for CommitGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let commits: usize = self.files.iter().map(GraphFile::len).sum();
        f.debug_struct("CommitGraph")
            .field("files", &self.files.len())
            .field("commits", &commits)
            .finish()
    }
}

impl CommitGraph {
    /// The graphs of `objects_dir` (none is fine: every lookup then misses).
    pub fn open(objects_dir: &Path) -> CommitGraph {
        let info = objects_dir.join("info");
        let single = GraphFile::open(&info.join("commit-graph"));
        let chain = info.join("commit-graphs");
        let mut chained: Vec<Option<GraphFile>> = Vec::new();
        if let Ok(text) = std::fs::read_to_string(chain.join("commit-graph-chain")) {
            for hash in text.lines().map(str::trim).filter(|h| !h.is_empty()) {
                chained.push(GraphFile::open(&chain.join(format!("graph-{hash}.graph"))));
            }
        }
        let stack = match &single {
            Some(_) => Some(vec![0]),
            None if chained.iter().all(Option::is_some) && !chained.is_empty() => {
                Some((0..chained.len()).collect())
            }
            None => None,
        };
        CommitGraph {
            files: single
                .into_iter()
                .chain(chained.into_iter().flatten())
                .collect(),
            stack,
        }
    }

    /// Tells whether a graph holds `commit` (a raw object name). A graph holds every
    /// ancestor of each commit it holds (git writes them closed under parents).
    pub fn holds_raw(&self, commit: &[u8]) -> bool {
        self.files.iter().any(|f| f.position(commit).is_some())
    }

    /// The root tree of each commit (raw object names in and out); `None` for a commit no
    /// graph holds.
    pub fn raw_trees<R: AsRef<[u8]>>(&self, commits: &[R]) -> Vec<Option<Vec<u8>>> {
        // Many lookups read each file's commit data whole, once; a few read their entries.
        let data: Vec<Option<&[u8]>> = self
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
                    .find_map(|(f, data)| f.tree(raw.as_ref(), *data))
            })
            .collect()
    }
    /// The index of the first of `tips` (raw names, in order) from which `commit` is
    /// reachable (a tip at `commit` included), walking the parents the graphs record with
    /// the topological levels as the cutoff: a commit reaches `commit` only through commits of
    /// a higher level, so nothing at or below its level is opened. `Some(None)`: no tip
    /// reaches it. `None`: the graphs cannot say (a name they lack, no generation numbers, a
    /// chain with a file that did not parse); the caller then asks git.
    ///
    /// Commits explored from one tip without finding `commit` are not explored again from
    /// the next: none of them reaches it. The caller has checked that git would walk the
    /// same parents (no shallow clone, grafts or replace refs).
    pub fn first_reaching<R: AsRef<[u8]>>(
        &self,
        tips: &[R],
        commit: &[u8],
    ) -> Option<Option<usize>> {
        let layers: Vec<&GraphFile> = self
            .stack
            .as_ref()?
            .iter()
            .map(|&i| &self.files[i])
            .collect();
        let mut bases = Vec::with_capacity(layers.len());
        let mut total = 0usize;
        for layer in &layers {
            bases.push(total);
            total += layer.len();
        }
        let data: Vec<&[u8]> = layers
            .iter()
            .map(|l| l.commit_data())
            .collect::<Option<_>>()?;
        let edges: Vec<Vec<u32>> = layers
            .iter()
            .map(|l| l.edge_data())
            .collect::<Option<_>>()?;
        let global = |raw: &[u8]| {
            layers
                .iter()
                .zip(&bases)
                .find_map(|(l, base)| l.position(raw).map(|p| base + p))
        };
        // The layer and local position of a global position.
        let local = |g: usize| {
            let layer = bases.partition_point(|&b| b <= g) - 1;
            (layer, g - bases[layer])
        };
        let entry = |g: usize| {
            let (layer, at) = local(g);
            let width = layers[layer].hash_len + 16;
            let row = data[layer].get(at * width..(at + 1) * width)?;
            let word = |i: usize| u32::from_be_bytes(row[i..i + 4].try_into().expect("4 bytes"));
            let h = layers[layer].hash_len;
            Some((layer, word(h), word(h + 4), word(h + 8) >> 2))
        };
        const NONE: u32 = 0x7000_0000;
        const MAX_LEVEL: u32 = 0x3fff_ffff;
        let target = global(commit)?;
        let cutoff = entry(target)?.3;
        if cutoff == 0 || cutoff >= MAX_LEVEL {
            return None;
        }
        let mut seen = vec![false; total];
        let mut todo: Vec<usize> = Vec::new();
        for (i, tip) in tips.iter().enumerate() {
            todo.push(global(tip.as_ref())?);
            while let Some(g) = todo.pop() {
                if g == target {
                    return Some(Some(i));
                }
                if std::mem::replace(seen.get_mut(g)?, true) {
                    continue;
                }
                let (layer, first, second, level) = entry(g)?;
                if level == 0 {
                    return None;
                }
                if level <= cutoff {
                    continue;
                }
                if first != NONE {
                    todo.push(first as usize);
                }
                if second & 0x8000_0000 != 0 {
                    let list = edges[layer].get((second & 0x7fff_ffff) as usize..)?;
                    for &e in list {
                        todo.push((e & 0x7fff_ffff) as usize);
                        if e & 0x8000_0000 != 0 {
                            break;
                        }
                    }
                } else if second != NONE {
                    todo.push(second as usize);
                }
            }
        }
        Some(None)
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
        let edges = offset(b"EDGE");
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
            edges,
            fanout,
            oids,
            cdat,
            data: std::sync::OnceLock::new(),
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

    /// The whole `CDAT` chunk, read on first use and kept.
    fn commit_data(&self) -> Option<&[u8]> {
        self.data
            .get_or_init(|| {
                let mut data = vec![0u8; self.len() * (self.hash_len + 16)];
                self.file.read_exact_at(&mut data, self.cdat).ok()?;
                Some(data)
            })
            .as_deref()
    }

    /// The `EDGE` chunk's words (empty when the file has none: no octopus merges).
    fn edge_data(&self) -> Option<Vec<u32>> {
        let Some((start, end)) = self.edges else {
            return Some(Vec::new());
        };
        let mut bytes = vec![0u8; usize::try_from(end - start).ok()?];
        self.file.read_exact_at(&mut bytes, start).ok()?;
        Some(
            bytes
                .chunks_exact(4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        )
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

    /// The graph through hex object names, as the tests compare it with git's output.
    impl CommitGraph {
        fn holds(&self, commit: &str) -> bool {
            decode(commit).is_some_and(|raw| self.holds_raw(&raw))
        }

        fn trees<S: AsRef<str>>(&self, commits: &[S]) -> Vec<Option<String>> {
            let raw: Vec<Option<Vec<u8>>> = commits.iter().map(|c| decode(c.as_ref())).collect();
            let known: Vec<&[u8]> = raw.iter().map(|r| r.as_deref().unwrap_or(&[])).collect();
            self.raw_trees(&known)
                .into_iter()
                .map(|t| t.map(|t| encode(&t)))
                .collect()
        }
    }

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

    /// The walk answers as `git for-each-ref --contains` does, over merges and an octopus,
    /// with one graph file and with a split chain.
    fn walk_agrees_with_git(split: bool) {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path();
        git(dir, &["init", "-q", "-b", "main"]);
        let commit = |msg: &str| {
            git(dir, &["commit", "-q", "--allow-empty", "-m", msg]);
            git(dir, &["rev-parse", "HEAD"])
        };
        let mut all = vec![commit("root")];
        for side in ["a", "b", "c"] {
            git(dir, &["checkout", "-q", "-b", side, "main"]);
            for i in 0..4 {
                all.push(commit(&format!("{side}{i}")));
            }
        }
        git(dir, &["checkout", "-q", "main"]);
        all.push(commit("m0"));
        git(
            dir,
            &["merge", "-q", "--no-ff", "-m", "octopus", "a", "b", "c"],
        );
        all.push(git(dir, &["rev-parse", "HEAD"]));
        if split {
            git(dir, &["commit-graph", "write", "--reachable", "--split"]);
        }
        git(dir, &["checkout", "-q", "-b", "late", "b~2"]);
        all.push(commit("late0"));
        git(dir, &["merge", "-q", "--no-ff", "-m", "merge", "a~1"]);
        all.push(git(dir, &["rev-parse", "HEAD"]));
        for (i, c) in all.iter().enumerate() {
            git(dir, &["update-ref", &format!("refs/remotes/o/t{i:02}"), c]);
        }
        let mut write = vec!["commit-graph", "write", "--reachable"];
        if split {
            write.push("--split");
        }
        git(dir, &write);
        let graph = CommitGraph::open(&dir.join(".git/objects"));
        if split {
            assert!(graph.files.len() >= 2, "a chain");
        }
        let raw: Vec<Vec<u8>> = all.iter().map(|c| decode(c).expect("hex")).collect();
        for (ti, target) in all.iter().enumerate() {
            // Tips in name order, as promoted lists them; several subsets.
            for skip in [0, 3, 7] {
                let tips: Vec<(usize, &Vec<u8>)> = raw.iter().enumerate().skip(skip).collect();
                let tip_raw: Vec<&[u8]> = tips.iter().map(|(_, r)| r.as_slice()).collect();
                let listed = git(
                    dir,
                    &[
                        "for-each-ref",
                        "--format=%(refname)",
                        &format!("--contains={target}"),
                        "refs/remotes/o/",
                    ],
                );
                let expected = listed
                    .lines()
                    .filter_map(|r| r.strip_prefix("refs/remotes/o/t")?.parse::<usize>().ok())
                    .filter(|&i| i >= skip)
                    .min();
                let found = graph
                    .first_reaching(&tip_raw, &raw[ti])
                    .expect("the graphs answer")
                    .map(|i| tips[i].0);
                assert_eq!(found, expected, "target {ti}, tips from {skip}");
            }
        }
    }

    #[test]
    fn regression_issue_21_graph_walk_agrees_with_for_each_ref_contains() {
        walk_agrees_with_git(false);
    }

    #[test]
    fn regression_issue_21_graph_walk_agrees_with_git_across_a_split_chain() {
        walk_agrees_with_git(true);
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
