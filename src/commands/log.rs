//! `pushguard log`: the audit log as a table (newest first) or JSON Lines, and `--verify`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;

use crate::audit::{self, Record};
use crate::git::Repo;
use crate::outcome::{Exit, WithHint};
use crate::text::escape;

/// What `pushguard log` shows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub limit: Option<usize>,
    pub env: Option<String>,
    pub decision: Option<String>,
    pub since: Option<String>,
    pub json: bool,
    /// Show the team's records from this remote's notes (`Some(None)`: the default remote).
    pub remote: Option<Option<String>>,
}

/// The clone's state directory, also for repositories libgit2 cannot open (SHA-256).
pub fn state_dir() -> Result<PathBuf> {
    match Repo::open_from_env() {
        Ok(repo) => Ok(repo.state_dir()),
        Err(e) => crate::git::common_dir_via_git()
            .map(|d| d.join("pushguard"))
            .map_err(|_| e),
    }
}

/// Shows the records that match `filter`, newest first.
pub fn show(filter: &Filter) -> Result<Exit> {
    let since = filter
        .since
        .as_deref()
        .map(crate::since::parse)
        .transpose()?;
    // Newest first, streamed: `-n N` stops after N matches, so it reads the end of the log
    // only, and filters keep just the records they show (issue 14).
    let mut fetched_remote: Option<String> = None;
    let (entries, source): (Box<dyn Iterator<Item = Result<Entry>>>, String) = match &filter.remote
    {
        Some(remote) => {
            let (entries, source, remote) = remote_entries(remote.as_deref())?;
            fetched_remote = remote;
            (Box::new(entries.into_iter().rev().map(Ok)), source)
        }
        None => {
            let dir = state_dir()?;
            let entries = audit::read_newest_first(&dir)?
                .map(|entry| entry.map(|parsed| parsed.map_err(|_| ())));
            (
                Box::new(entries),
                audit::log_path(&dir).display().to_string(),
            )
        }
    };
    let mut bad = 0;
    let mut shown: Vec<(Record, Vec<u8>)> = Vec::new();
    for entry in entries {
        let Ok((record, line)) = entry? else {
            bad += 1;
            continue;
        };
        if filter
            .env
            .as_ref()
            .is_some_and(|e| *e != record.environment)
            || filter
                .decision
                .as_ref()
                .is_some_and(|d| *d != record.decision.to_string())
        {
            continue;
        }
        if let Some(since) = since {
            match humantime::parse_rfc3339_weak(&record.time) {
                Ok(t) if t >= since => {}
                _ => continue,
            }
        }
        shown.push((record, line));
        if filter.limit.is_some_and(|n| shown.len() >= n) {
            break;
        }
    }
    let mut out = std::io::stdout().lock();
    if filter.json {
        for (_, line) in &shown {
            out.write_all(&reescaped(line))?;
            out.write_all(b"\n")?;
        }
    } else if shown.is_empty() {
        writeln!(out, "no audit records ({source})")?;
    } else {
        let signers = crate::signing::signer_labels(&shown);
        let records: Vec<&Record> = shown.iter().map(|(r, _)| r).collect();
        let landed = landing_labels(&records, fetched_remote.as_deref());
        write_table_columns(&mut out, &records, signers.as_deref(), landed.as_deref())?;
    }
    out.flush()?;
    if bad > 0 {
        eprintln!(
            "pushguard: warning: {bad} line{} of the audit log {} and {} not shown\nhint: `pushguard log --verify` names the first one",
            if bad == 1 { "" } else { "s" },
            if bad == 1 { "is not a valid record" } else { "are not valid records" },
            if bad == 1 { "is" } else { "are" },
        );
    }
    Ok(Exit::Success)
}

/// A stored line for `--json`: as stored, unless it holds a raw DEL or C1 control character
/// (U+0080–U+009F), which JSON allows raw but a terminal obeys. pushguard writes every control
/// character escaped; a line written by an older version gets those re-escaped as `\u00XX`:
/// the same JSON value, but no longer the bytes the hash covers (`log --verify` reads the file).
fn reescaped(line: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let raw = |i: usize| match line[i] {
        0x7f => Some((u32::from(line[i]), 1)),
        0xc2 => line
            .get(i + 1)
            .filter(|b| (0x80..=0x9f).contains(*b))
            .map(|b| (u32::from(*b), 2)),
        _ => None,
    };
    if !(0..line.len()).any(|i| raw(i).is_some()) {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = Vec::with_capacity(line.len() + 16);
    let mut i = 0;
    while i < line.len() {
        match raw(i) {
            Some((c, len)) => {
                out.extend_from_slice(format!("\\u{c:04x}").as_bytes());
                i += len;
            }
            None => {
                out.push(line[i]);
                i += 1;
            }
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A log entry: the record and its line, or a line that is not a valid record.
type Entry = std::result::Result<(Record, Vec<u8>), ()>;

/// The team's records from a remote's trail (every writer's notes ref and the single ref of
/// earlier versions), oldest first.
fn remote_entries(remote: Option<&str>) -> Result<(Vec<Entry>, String, Option<String>)> {
    let repo = Repo::open_from_env()?;
    let remote = crate::remote::require(&repo, remote, "log --remote", "team records to show")?;
    for (r, e) in crate::notes::push_pending_audit_notes(&repo) {
        eprintln!(
            "pushguard: warning: the audit notes were not shared with {}: {e:#}",
            escape(&r, 120)
        );
    }
    let source = format!("the audit trail of `{}`", escape(&remote, 80));
    let Some(trail) = crate::notes::remote_trail(&repo, &remote, crate::notes::FETCH_TIMEOUT)?
    else {
        eprintln!(
            "pushguard: `{}` has no audit notes yet: nobody has pushed through pushguard there",
            escape(&remote, 80)
        );
        return Ok((Vec::new(), source, None));
    };
    let (all, lost) = trail.split();
    if !lost.is_empty() {
        let mut err = std::io::stderr().lock();
        super::audit::write_lost(&mut err, &escape(&remote, 80), &lost)?;
    }
    let (bound, foreign) = crate::remote_id::bound_records(&repo, &remote, &all);
    if foreign > 0 {
        eprintln!(
            "pushguard: {foreign} record{} in `{}`'s notes {} of pushes to other remotes: not shown",
            if foreign == 1 { "" } else { "s" },
            escape(&remote, 80),
            if foreign == 1 { "is" } else { "are" }
        );
    }
    let entries = bound
        .into_iter()
        .map(|r| {
            let (line, _) = r.to_line();
            Ok((r.clone(), line.into_bytes()))
        })
        .collect();
    // Whether each push landed is read from the remote's branches as they are now.
    let fetched = crate::notes::fetch_branches(&repo, &remote, crate::notes::FETCH_TIMEOUT);
    if let Err(e) = &fetched {
        eprintln!("pushguard: warning: whether each push landed is judged by the branches as last fetched: {e:#}");
    }
    Ok((entries, source, Some(remote)))
}

/// The LANDED column (issue 22): for each allowed or bypassed record, whether its push
/// landed — the branch was at its `new` afterwards — derived from the records of that branch
/// and its tip ([`crate::history`]): on a server, its own branch; on a clone, the
/// remote-tracking branch as last fetched (`remote`: the remote `log --remote` just fetched,
/// whose records these are). `None` when the repository cannot be read.
fn landing_labels(records: &[&Record], remote: Option<&str>) -> Option<Vec<String>> {
    use crate::history::{Entry, Landing};
    use std::collections::HashMap;
    let repo = Repo::open_from_env().ok()?;
    let git = repo.git2();
    // The branch each record moved, as this repository tracks it.
    let tracked = |r: &Record| -> Option<String> {
        let branch = r.remote_ref.strip_prefix("refs/heads/")?;
        if r.remote == audit::SERVER_REMOTE && git.is_bare() {
            return Some(r.remote_ref.clone());
        }
        let name = remote.unwrap_or(&r.remote);
        Some(format!("refs/remotes/{name}/{branch}"))
    };
    let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        if let Some(t) = tracked(r) {
            groups.entry(t).or_default().push(i);
        }
    }
    let oid = |hex: &Option<String>| hex.as_deref().and_then(|h| git2::Oid::from_str(h).ok());
    let seq = chain_positions(records);
    let contains =
        |a: git2::Oid, b: git2::Oid| a == b || git.graph_descendant_of(a, b).unwrap_or(false);
    let mut labels: Vec<String> = vec!["-".to_owned(); records.len()];
    for (tracking, list) in groups {
        let tip = git.refname_to_id(&tracking).ok();
        // A server's own branch that is not there is gone; a remote-tracking branch that is
        // not there was never fetched: nothing to tell by.
        let own = tracking.starts_with("refs/heads/");
        if tip.is_none() && !own {
            for &i in &list {
                if records[i].decision != crate::model::Decision::Blocked {
                    labels[i] = "?".to_owned();
                }
            }
            continue;
        };
        let entries: Vec<Entry> = list
            .iter()
            .map(|&i| {
                let r = records[i];
                Entry {
                    time: humantime::parse_rfc3339_weak(&r.time)
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_secs()),
                    old: oid(&r.old),
                    new: oid(&r.new),
                    passed: r.decision != crate::model::Decision::Blocked,
                    // A server's record in a clone's view came from its trail ref, where only
                    // post-receive puts it: it landed. In the server's own log it is one attempt.
                    server: r.remote == audit::SERVER_REMOTE && !git.is_bare(),
                    seq: seq[i],
                }
            })
            .collect();
        let chain = crate::history::reconstruct(&entries, tip, &contains);
        for (k, &i) in list.iter().enumerate() {
            labels[i] = match chain.landing[k] {
                Landing::Landed => "landed".to_owned(),
                Landing::NotLanded => "NOT LANDED".to_owned(),
                Landing::Blocked => "-".to_owned(),
            };
        }
    }
    labels.iter().any(|l| l != "-").then_some(labels)
}

/// Each record's place in its writer's hash chain (1 for a record whose `prev` is not among
/// `records`, one more than its `prev`'s otherwise): a clone's later record is further along.
fn chain_positions(records: &[&Record]) -> Vec<u64> {
    use std::collections::HashMap;
    let index: HashMap<String, usize> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (r.to_line().1, i))
        .collect();
    let mut seq = vec![0u64; records.len()];
    for start in 0..records.len() {
        // Walk back to a record already placed (or the chain's start here), then place the way.
        let mut path = vec![start];
        while let Some(&prev) = records[*path.last().expect("not empty")]
            .prev
            .as_ref()
            .and_then(|p| index.get(p))
        {
            if seq[prev] != 0 || path.contains(&prev) || path.len() > records.len() {
                break;
            }
            path.push(prev);
        }
        let mut base = records[*path.last().expect("not empty")]
            .prev
            .as_ref()
            .and_then(|p| index.get(p))
            .map_or(0, |&p| seq[p]);
        for &i in path.iter().rev() {
            if seq[i] == 0 {
                base += 1;
                seq[i] = base;
            } else {
                base = seq[i];
            }
        }
    }
    seq
}

/// Why a push was blocked (the checks that failed), or what a bypass covered (the checks it
/// got past, the freeze it overrode, its ticket), for the WHY column (issue 22).
pub fn why(r: &Record) -> String {
    let failed: Vec<&str> = r
        .checks
        .iter()
        .filter(|c| c.outcome == crate::model::Outcome::Fail)
        .map(|c| c.id.as_str())
        .collect();
    match r.decision {
        crate::model::Decision::Allowed => "-".to_owned(),
        crate::model::Decision::Blocked if !failed.is_empty() => {
            format!("failed: {}", failed.join(", "))
        }
        crate::model::Decision::Blocked => {
            let said_no = r.checklist.iter().any(|c| !c.answer);
            if r.consulted.is_none() || said_no {
                "not confirmed (consulted, checklist)".to_owned()
            } else {
                "refused after the checks passed".to_owned()
            }
        }
        crate::model::Decision::Bypassed => {
            // The freeze check names the windows the bypass overrode.
            let covered: Vec<String> = failed
                .iter()
                .map(|id| match (*id, &r.freeze) {
                    ("freeze", Some(f)) => format!("freeze {f}"),
                    (id, _) => id.to_owned(),
                })
                .collect();
            let mut text = if covered.is_empty() {
                "covered: the confirmation".to_owned()
            } else {
                format!("covered: {}", covered.join(", "))
            };
            if let Some(t) = &r.ticket {
                text.push_str(&format!("; ticket {t}"));
            }
            text
        }
    }
}

/// One table row: every field escaped, so nothing from the log reaches the terminal raw.
fn row(r: &Record) -> [String; 9] {
    let branch = r
        .remote_ref
        .strip_prefix("refs/heads/")
        .unwrap_or(&r.remote_ref);
    let user = if r.user.name.is_empty() {
        &r.user.email
    } else {
        &r.user.name
    };
    [
        escape(&r.time, 25),
        escape(user, 24),
        escape(&r.environment, 16),
        escape(branch, 24),
        r.decision.to_string(),
        escape(r.consulted.as_deref().unwrap_or("-"), 24),
        escape(r.justification.as_deref().unwrap_or("-"), 48),
        escape(
            r.new
                .as_deref()
                .map(|n| &n[..n.len().min(10)])
                .unwrap_or("-"),
            10,
        ),
        escape(&why(r), 120),
    ]
}

/// Writes records as an aligned table.
pub fn write_table(out: &mut impl Write, records: &[&Record]) -> std::io::Result<()> {
    write_table_signed(out, records, None)
}

/// Writes records as an aligned table, with a SIGNER column when `signers` is given (one
/// label per record: the verified principal, or why there is none).
pub fn write_table_signed(
    out: &mut impl Write,
    records: &[&Record],
    signers: Option<&[String]>,
) -> std::io::Result<()> {
    write_table_columns(out, records, signers, None)
}

/// Writes records as an aligned table, with the SIGNER and LANDED columns when given (one
/// label per record).
fn write_table_columns(
    out: &mut impl Write,
    records: &[&Record],
    signers: Option<&[String]>,
    landed: Option<&[String]>,
) -> std::io::Result<()> {
    const HEAD: [&str; 9] = [
        "TIME",
        "USER",
        "ENVIRONMENT",
        "BRANCH",
        "DECISION",
        "CONSULTED",
        "JUSTIFICATION",
        "COMMIT",
        "WHY",
    ];
    let mut head: Vec<&str> = HEAD.to_vec();
    let mut rows: Vec<Vec<String>> = records.iter().map(|r| row(r).to_vec()).collect();
    if let Some(landed) = landed {
        head.insert(5, "LANDED");
        for (r, l) in rows.iter_mut().zip(landed) {
            r.insert(5, l.clone());
        }
    }
    if let Some(signers) = signers {
        head.insert(2, "SIGNER");
        for (r, s) in rows.iter_mut().zip(signers) {
            r.insert(2, escape(s, 40));
        }
    }
    let mut width: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, cell) in width.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let pad = width[i] - cell.chars().count();
                text.push_str(cell);
                text.push_str(&" ".repeat(pad + 2));
            }
        }
        text
    };
    writeln!(out, "{}", line(head))?;
    for r in &rows {
        writeln!(out, "{}", line(r.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

/// Runs `pushguard log --verify`: the hash chain, then the anchor — every record this clone
/// shared (local notes, and with `--remote` the remote's) must still be in the log.
pub fn verify(remote: Option<Option<String>>) -> Result<Exit> {
    let dir = state_dir()?;
    let path = audit::log_path(&dir);
    let verified = match audit::verify_file(&dir)? {
        Ok(v) => v,
        Err(broken) => {
            println!(
                "audit log broken at line {}: {} ({})",
                broken.line,
                broken.reason,
                path.display()
            );
            return Ok(Exit::Blocked);
        }
    };
    let anchored = match anchor_check(&dir, remote)? {
        Ok(n) => n,
        Err(mismatch) => {
            println!(
                "audit log does not match what this clone shared: {mismatch} ({})",
                path.display()
            );
            return Ok(Exit::Blocked);
        }
    };
    println!(
        "audit log verified: {} record{}, hash chain intact ({})",
        verified.records,
        if verified.records == 1 { "" } else { "s" },
        path.display()
    );
    if let Some((0, sources)) = &anchored {
        println!(
            "anchored: no record of this clone in {sources} yet (nothing shared to compare with)"
        );
    } else if let Some((n, sources)) = anchored {
        println!(
            "anchored: the {n} record{} of this clone in {sources} {} in the log",
            if n == 1 { "" } else { "s" },
            if n == 1 { "is" } else { "are" }
        );
    }
    for t in &verified.torn {
        println!("note: line {t} is a torn write (cut short by a crash) that the chain skips; it carried no decision");
    }
    Ok(Exit::Success)
}

/// Compares the log with the shared records: `Ok(None)` outside a repository libgit2 can
/// open (SHA-256), else how many of this clone's shared records were found and where.
fn anchor_check(
    dir: &std::path::Path,
    remote: Option<Option<String>>,
) -> Result<std::result::Result<Option<(usize, String)>, crate::anchor::Mismatch>> {
    use crate::{anchor, notes};
    let log = anchor::log_hashes(dir)?;
    let Ok(repo) = Repo::open_from_env() else {
        return Ok(Ok(None));
    };
    let genesis = match audit::genesis(dir) {
        Some(g) => Some(g),
        None => {
            // Logs written before the genesis was remembered: trust the first record now.
            if let Some(first) = log.first() {
                audit::remember_genesis(dir, first);
            }
            log.first().cloned()
        }
    };
    // Locally: this clone's outboxes hold only its own records, each of which must be in the
    // log; the single notes ref of earlier versions holds everyone's, found by their chain.
    let (mut own, mut shared) = notes::trail::local_shared(&repo)?;
    shared.extend(own.iter().cloned());
    let mut sources = "the local notes".to_owned();
    if let Some(remote) = remote {
        let remote = crate::remote::require(
            &repo,
            remote.as_deref(),
            "log --verify --remote",
            "shared records to check against",
        )?;
        let shown = escape(&remote, 80);
        // On the remote: whatever this clone's own ref holds (under the id it remembers, or
        // the one its host, directory and email give it), whatever the local state says.
        let mine: Vec<String> = notes::trail::clone_ids(&repo)
            .iter()
            .map(|id| notes::trail::writer_ref(id))
            .collect();
        if let Some(trail) = notes::remote_trail(&repo, &remote, notes::FETCH_TIMEOUT).hint(
            format!("check that `{shown}` is reachable: `git fetch {shown}`"),
        )? {
            for s in trail.records {
                let pair = (s.record, s.hash);
                if s.refs.iter().any(|r| mine.contains(r)) {
                    own.push(pair.clone());
                }
                shared.push(pair);
            }
        }
        sources.push_str(&format!(" and {shown}'s trail"));
    }
    Ok(anchor::check(&log, genesis.as_deref(), &shared, &own).map(|n| Some((n, sources))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_are_reescaped_only_when_they_hold_raw_c1_or_del() {
        let clean = br#"{"justification":"a\u0085b"}"#;
        assert!(matches!(reescaped(clean), std::borrow::Cow::Borrowed(_)));
        let old = "{\"justification\":\"a\u{85}b\u{9b}c\u{7f}d\u{e9}\"}";
        let fixed = reescaped(old.as_bytes()).into_owned();
        assert_eq!(
            String::from_utf8(fixed.clone()).unwrap(),
            "{\"justification\":\"a\\u0085b\\u009bc\\u007fd\u{e9}\"}"
        );
        let a: serde_json::Value = serde_json::from_str(old).unwrap();
        let b: serde_json::Value = serde_json::from_slice(&fixed).unwrap();
        assert_eq!(a, b);
    }
}
