//! The history of one environment branch on one remote, reconstructed from the records of
//! its pushes (issue 19): every update, oldest first, each either carried by records (a
//! record's `old` → `new`, and every record of that same update: the server's post-receive
//! record, the client's, retries) or UNRECORDED (a break in the chain: nobody recorded how
//! the branch got from one recorded state to the next). Pure: the caller hands in the
//! records' facts, the branch's current tip and an ancestry oracle.
//!
//! It also derives what the records cannot say about themselves (issue 22): whether each
//! allowed or bypassed push **landed** — the branch was at its `new` afterwards. A record of
//! an update the chain runs through landed; one it does not run through did not (a hook
//! manager's own pre-push failed after pushguard allowed, the server refused the push,
//! another push won the race). Records stay immutable: landing is derived, never written
//! into them.
//!
//! The chain is walked backwards from the current tip: the update that left the branch at
//! `cur` is the latest not-yet-used record whose `new` is `cur` (within the time of the
//! update after it); its `old` is the state before. When no record left the branch at `cur`,
//! an unrecorded update did, and the state before it is the nearest earlier recorded state
//! the branch's history contains (else, history rewritten, the latest one) — but never a
//! record that started from `cur` itself, which was pushed while the branch was at `cur` and
//! so did not land before the update above it. Ties of time (records made in the same
//! second) are broken by ancestry, never by the order records were read in.

use std::collections::{HashMap, HashSet};

use git2::Oid;

/// One record's facts, as the chain needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The record's time, seconds since the epoch (0 when it cannot be read).
    pub time: u64,
    /// The branch's tip before the push (`None`: created).
    pub old: Option<Oid>,
    /// The pushed tip (`None`: deleted).
    pub new: Option<Oid>,
    /// The guard let it through (allowed or bypassed); a blocked push never moved anything.
    pub passed: bool,
    /// Written by the remote's own post-receive hook (server mode): the ref moved.
    pub server: bool,
    /// Where the record stands in its writer's log, when known (0: unknown): of two records
    /// of one clone made in the same second, the later one has the higher number.
    pub seq: u64,
}

/// How one update of the branch is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Known {
    /// Carried by these records (indices into the entries), the primary first: the server's
    /// own record when there is one, else the latest.
    Recorded(Vec<usize>),
    /// Nobody recorded it. `after`: the record of the state it started from (`None`: the
    /// branch's state before any record); `before`: the record of the update that followed
    /// it (`None`: it left the current tip).
    Unrecorded {
        after: Option<usize>,
        before: Option<usize>,
    },
}

/// One update of the branch: from `old` to `new` (`None`: no branch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub old: Option<Oid>,
    pub new: Option<Oid>,
    pub known: Known,
}

/// Whether a record's push landed, as far as the chain tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Landing {
    /// The branch was at its `new` afterwards: the chain runs through it.
    Landed,
    /// The branch never moved to its `new` by this push: the chain does not run through it.
    NotLanded,
    /// A blocked push: nothing to land.
    Blocked,
}

/// A branch's history: its updates, oldest first, and each entry's landing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chain {
    pub updates: Vec<Update>,
    pub landing: Vec<Landing>,
}

/// How many of the latest candidate records are tried for ancestry at a break.
const BREAK_CANDIDATES: usize = 64;

/// Reconstructs the history of a branch whose tip is now `tip` (`None`: the branch is gone)
/// from `entries` (its records on that remote, any order). `contains(a, b)` tells whether
/// commit `b` is `a` or one of its ancestors (false when either is unknown here).
pub fn reconstruct(
    entries: &[Entry],
    tip: Option<Oid>,
    contains: &dyn Fn(Oid, Oid) -> bool,
) -> Chain {
    // Passed entries by the state they left the branch in, latest last.
    let mut by_new: HashMap<Option<Oid>, Vec<usize>> = HashMap::new();
    let mut passed: Vec<usize> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if e.passed {
            by_new.entry(e.new).or_default().push(i);
            passed.push(i);
        }
    }
    let time = |i: &usize| entries[*i].time;
    for list in by_new.values_mut() {
        list.sort_by_key(time);
    }
    passed.sort_by_key(time);
    let mut used = vec![false; entries.len()];
    let mut retried = vec![false; entries.len()];
    let mut updates: Vec<Update> = Vec::new();
    let mut cur = tip;
    let mut bound = u64::MAX;
    // The record of the update above the current state (`None` at the tip).
    let mut above: Option<usize> = None;
    // The states the branch was in from here on: a record pushed from one of them was pushed
    // after this point (records of the same second are told apart this way).
    let mut later: HashSet<Option<Oid>> = HashSet::from([tip]);
    // Every step uses at least one entry, so this ends; the cap only guards the reasoning.
    for _ in 0..=2 * entries.len() + 1 {
        let producer = by_new.get(&cur).and_then(|list| {
            list.iter()
                .rev()
                .copied()
                .filter(|&i| !used[i] && entries[i].time <= bound)
                .max_by_key(|&i| (entries[i].time, entries[i].server))
        });
        if let Some(p) = producer {
            let e = entries[p];
            // Every record of the same update (the server's and the client's, retries).
            let mut group: Vec<usize> = by_new[&cur]
                .iter()
                .copied()
                .filter(|&i| !used[i] && entries[i].old == e.old && entries[i].time <= bound)
                .collect();
            group.sort_by_key(|&i| {
                let e = &entries[i];
                (!e.server, std::cmp::Reverse((e.time, e.seq)))
            });
            for &i in &group {
                used[i] = true;
            }
            // One push landed: the server's record of it and the client's latest attempt; the
            // client's earlier attempts of the same update did not.
            if let Some(&latest) = group.iter().find(|&&i| !entries[i].server) {
                for &i in &group {
                    if !entries[i].server && i != latest {
                        retried[i] = true;
                    }
                }
            }
            bound = group
                .iter()
                .map(|&i| entries[i].time)
                .min()
                .unwrap_or(e.time);
            updates.push(Update {
                old: e.old,
                new: cur,
                known: Known::Recorded(group),
            });
            later.insert(e.old);
            above = Some(p);
            cur = e.old;
            continue;
        }
        // No record left the branch at `cur`: an unrecorded update did, from the nearest
        // earlier recorded state — never one pushed from `cur` itself (it did not land).
        let started_here = |i: usize| {
            let old = entries[i].old;
            old == cur || (old.is_some() && later.contains(&old))
        };
        let candidates: Vec<usize> = passed
            .iter()
            .rev()
            .copied()
            .filter(|&i| !used[i] && entries[i].time <= bound && !started_here(i))
            .collect();
        let Some(&latest) = candidates.first() else {
            // The trail begins here (or the branch was created here through the gate).
            break;
        };
        let mut nearest: Option<usize> = None;
        if let Some(c) = cur {
            for &i in candidates.iter().take(BREAK_CANDIDATES) {
                let Some(n) = entries[i].new else { continue };
                if !contains(c, n) {
                    continue;
                }
                match nearest.and_then(|b| entries[b].new) {
                    Some(best) if !(best != n && contains(n, best)) => {}
                    _ => nearest = Some(i),
                }
            }
        }
        let from = nearest.unwrap_or(latest);
        updates.push(Update {
            old: entries[from].new,
            new: cur,
            known: Known::Unrecorded {
                after: Some(from),
                before: above,
            },
        });
        cur = entries[from].new;
        later.insert(cur);
        bound = entries[from].time;
        above = None;
    }
    updates.reverse();
    let landing = entries
        .iter()
        .enumerate()
        .map(|(i, e)| match (e.passed, used[i] && !retried[i]) {
            (false, _) => Landing::Blocked,
            (true, true) => Landing::Landed,
            (true, false) => Landing::NotLanded,
        })
        .collect();
    Chain { updates, landing }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(n: u8) -> Oid {
        Oid::from_bytes(&[n; 20]).unwrap()
    }

    fn e(time: u64, old: Option<u8>, new: Option<u8>) -> Entry {
        Entry {
            time,
            old: old.map(oid),
            new: new.map(oid),
            passed: true,
            server: false,
            seq: 0,
        }
    }

    /// A linear history 1 → 2 → … → n: `b` is an ancestor of `a` when `b <= a`.
    fn linear(a: Oid, b: Oid) -> bool {
        b.as_bytes()[0] <= a.as_bytes()[0]
    }

    fn shape(chain: &Chain) -> Vec<(Option<u8>, Option<u8>, bool)> {
        chain
            .updates
            .iter()
            .map(|u| {
                (
                    u.old.map(|o| o.as_bytes()[0]),
                    u.new.map(|o| o.as_bytes()[0]),
                    matches!(u.known, Known::Recorded(_)),
                )
            })
            .collect()
    }

    #[test]
    fn a_push_outside_the_gate_between_gated_ones_is_an_unrecorded_update() {
        // 5 gated pushes, one --no-verify (5 → 6), 2 gated: all in the same second.
        let mut entries = vec![e(10, None, Some(1))];
        for n in 1..5 {
            entries.push(e(10, Some(n), Some(n + 1)));
        }
        entries.push(e(10, Some(6), Some(7)));
        entries.push(e(10, Some(7), Some(8)));
        let chain = reconstruct(&entries, Some(oid(8)), &linear);
        assert_eq!(
            shape(&chain),
            vec![
                (None, Some(1), true),
                (Some(1), Some(2), true),
                (Some(2), Some(3), true),
                (Some(3), Some(4), true),
                (Some(4), Some(5), true),
                (Some(5), Some(6), false),
                (Some(6), Some(7), true),
                (Some(7), Some(8), true),
            ]
        );
        assert!(chain.landing.iter().all(|l| *l == Landing::Landed));
    }

    #[test]
    fn a_push_that_did_not_land_is_not_an_update() {
        // 1 → 2 landed; 2 → 9 allowed but refused afterwards (a hook manager's own pre-push
        // failed); 2 → 3 landed.
        let entries = [
            e(1, None, Some(1)),
            e(2, Some(1), Some(2)),
            e(3, Some(2), Some(9)),
            e(4, Some(2), Some(3)),
        ];
        let contains = |a: Oid, b: Oid| b != oid(9) && linear(a, b);
        let chain = reconstruct(&entries, Some(oid(3)), &contains);
        assert_eq!(
            shape(&chain),
            vec![
                (None, Some(1), true),
                (Some(1), Some(2), true),
                (Some(2), Some(3), true)
            ]
        );
        assert_eq!(chain.landing[2], Landing::NotLanded);
        assert_eq!(chain.landing[3], Landing::Landed);
        // The latest push did not land: the branch is still where the one before left it.
        let entries = [e(1, None, Some(1)), e(2, Some(1), Some(9))];
        let chain = reconstruct(&entries, Some(oid(1)), &contains);
        assert_eq!(shape(&chain), vec![(None, Some(1), true)]);
        assert_eq!(chain.landing, vec![Landing::Landed, Landing::NotLanded]);
    }

    #[test]
    fn a_later_push_of_the_same_second_that_did_not_land_is_not_a_deletion() {
        // 1 created, then 1 → 9 refused after pushguard allowed it; both in one second.
        let entries = [e(5, None, Some(1)), e(5, Some(1), Some(9))];
        let chain = reconstruct(&entries, Some(oid(1)), &|a, b| b != oid(9) && linear(a, b));
        assert_eq!(shape(&chain), vec![(None, Some(1), true)]);
        assert_eq!(chain.landing, vec![Landing::Landed, Landing::NotLanded]);
    }

    #[test]
    fn a_branch_whose_only_push_did_not_land_has_no_history() {
        // The push that would have created it was refused (with another ref of its push).
        let chain = reconstruct(&[e(1, None, Some(1)), e(2, None, Some(1))], None, &linear);
        assert!(chain.updates.is_empty());
        assert_eq!(chain.landing, vec![Landing::NotLanded, Landing::NotLanded]);
    }

    #[test]
    fn a_failed_first_push_does_not_make_a_deletion() {
        let entries = [e(1, None, Some(9)), e(2, None, Some(1))];
        let chain = reconstruct(&entries, Some(oid(1)), &|a, b| b != oid(9) && linear(a, b));
        assert_eq!(shape(&chain), vec![(None, Some(1), true)]);
        assert_eq!(chain.landing, vec![Landing::NotLanded, Landing::Landed]);
    }

    #[test]
    fn the_server_record_and_the_clients_are_one_update() {
        let mut server = e(5, Some(1), Some(2));
        server.server = true;
        let entries = [
            e(1, None, Some(1)),
            e(4, Some(1), Some(2)),
            server,
            e(3, Some(1), Some(2)),
        ];
        let chain = reconstruct(&entries, Some(oid(2)), &linear);
        assert_eq!(chain.updates.len(), 2);
        assert_eq!(chain.updates[1].known, Known::Recorded(vec![2, 1, 3]));
        // The client's latest attempt landed with the server's record; its retry before did not.
        assert_eq!(
            chain.landing,
            vec![
                Landing::Landed,
                Landing::Landed,
                Landing::Landed,
                Landing::NotLanded
            ]
        );
        // Attempts of the same second are told apart by their place in the clone's log.
        let mut first = e(3, Some(1), Some(2));
        first.seq = 7;
        let mut retry = e(3, Some(1), Some(2));
        retry.seq = 8;
        let chain = reconstruct(&[e(1, None, Some(1)), retry, first], Some(oid(2)), &linear);
        assert_eq!(
            chain.landing,
            vec![Landing::Landed, Landing::Landed, Landing::NotLanded]
        );
    }

    #[test]
    fn an_unrecorded_tip_and_a_deletion_outside_the_gate_are_updates() {
        let entries = [e(1, None, Some(1)), e(2, Some(1), Some(2))];
        let chain = reconstruct(&entries, Some(oid(4)), &linear);
        assert_eq!(
            shape(&chain),
            vec![
                (None, Some(1), true),
                (Some(1), Some(2), true),
                (Some(2), Some(4), false)
            ]
        );
        let chain = reconstruct(&entries, None, &linear);
        assert_eq!(shape(&chain).last(), Some(&(Some(2), None, false)));
        // A deletion through the gate is recorded.
        let entries = [e(1, None, Some(1)), e(2, Some(1), None)];
        let chain = reconstruct(&entries, None, &linear);
        assert_eq!(
            shape(&chain),
            vec![(None, Some(1), true), (Some(1), None, true)]
        );
    }

    #[test]
    fn a_rewrite_outside_the_gate_starts_from_the_latest_recorded_state() {
        // 1 → 2 recorded, then a force push to 7 (not containing 2), then 7 → 8 recorded.
        let entries = [
            e(1, None, Some(1)),
            e(2, Some(1), Some(2)),
            e(3, Some(7), Some(8)),
        ];
        let chain = reconstruct(&entries, Some(oid(8)), &|a, b| {
            a == b || (a == oid(8) && b == oid(7))
        });
        assert_eq!(
            shape(&chain),
            vec![
                (None, Some(1), true),
                (Some(1), Some(2), true),
                (Some(2), Some(7), false),
                (Some(7), Some(8), true)
            ]
        );
    }

    #[test]
    fn a_branch_never_gated_has_no_history_and_blocked_pushes_never_land() {
        let chain = reconstruct(&[], Some(oid(1)), &linear);
        assert!(chain.updates.is_empty());
        let mut blocked = e(1, Some(1), Some(2));
        blocked.passed = false;
        let chain = reconstruct(&[blocked], Some(oid(2)), &linear);
        assert!(chain.updates.is_empty());
        assert_eq!(chain.landing, vec![Landing::Blocked]);
    }
}
