//! Who fills which seat of an environment's approval rules: a maximum bipartite matching of
//! approvers to seats, so that one person fills at most one seat and the order in which the
//! approvals arrived never leaves a satisfiable set of rules unmet (a greedy assignment does:
//! the first approver taken for `leads` may have been the only one who could sit in `qa`).
//!
//! Augmenting paths (Kuhn's algorithm): for each seat in turn, a depth-first search looks for
//! a path that frees a person able to take it. A team's rules have a handful of seats and
//! their approvers a few dozen people, so the O(seats × edges) bound is microseconds; the
//! graph crates that offer matchings solve general or weighted problems this does not need.

/// Assigns people to seats. `eligible[s]` lists the people (indices below `people`) who may
/// fill seat `s`, in the order they are preferred. Returns, per seat, the person filling it;
/// the number of filled seats is maximum. Pure.
pub fn assign(eligible: &[Vec<usize>], people: usize) -> Vec<Option<usize>> {
    let mut seat_of: Vec<Option<usize>> = vec![None; people];
    let mut person_of: Vec<Option<usize>> = vec![None; eligible.len()];
    for seat in 0..eligible.len() {
        // A free person first, in order of preference: nobody is moved without need.
        if let Some(&person) = eligible[seat]
            .iter()
            .find(|&&p| p < people && seat_of[p].is_none())
        {
            seat_of[person] = Some(seat);
            person_of[seat] = Some(person);
            continue;
        }
        let mut seen = vec![false; people];
        augment(seat, eligible, &mut seen, &mut seat_of, &mut person_of);
    }
    person_of
}

/// Looks for an augmenting path from `seat`; on success the path's assignments are flipped.
fn augment(
    seat: usize,
    eligible: &[Vec<usize>],
    seen: &mut [bool],
    seat_of: &mut [Option<usize>],
    person_of: &mut [Option<usize>],
) -> bool {
    for &person in &eligible[seat] {
        if person >= seen.len() || seen[person] {
            continue;
        }
        seen[person] = true;
        let free = match seat_of[person] {
            None => true,
            Some(other) => augment(other, eligible, seen, seat_of, person_of),
        };
        if free {
            seat_of[person] = Some(seat);
            person_of[seat] = Some(person);
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The largest number of seats any assignment fills, by trying them all.
    fn brute_force(eligible: &[Vec<usize>], people: usize) -> usize {
        fn go(seat: usize, eligible: &[Vec<usize>], used: &mut Vec<bool>) -> usize {
            if seat == eligible.len() {
                return 0;
            }
            let mut best = go(seat + 1, eligible, used);
            for &p in &eligible[seat] {
                if !used[p] {
                    used[p] = true;
                    best = best.max(1 + go(seat + 1, eligible, used));
                    used[p] = false;
                }
            }
            best
        }
        go(0, eligible, &mut vec![false; people])
    }

    fn check(eligible: &[Vec<usize>], people: usize) -> Vec<Option<usize>> {
        let got = assign(eligible, people);
        let filled: Vec<usize> = got.iter().flatten().copied().collect();
        let mut distinct = filled.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            filled.len(),
            "one person, one seat: {got:?}"
        );
        for (seat, p) in got.iter().enumerate() {
            if let Some(p) = p {
                assert!(eligible[seat].contains(p), "seat {seat} taken by {p}");
            }
        }
        assert_eq!(filled.len(), brute_force(eligible, people), "{eligible:?}");
        got
    }

    #[test]
    fn the_worst_order_still_fills_every_seat() {
        // Seats: leads, qa, ops. Ada (0) may sit in leads or qa, Bob (1) in qa or ops, Carol
        // (2) only in leads. Greedy in arrival order puts Ada in leads and Bob in qa, and
        // Carol finds nothing left; the matching moves Ada to qa and Bob to ops.
        let eligible = vec![vec![0, 2], vec![0, 1], vec![1]];
        assert_eq!(check(&eligible, 3), [Some(2), Some(0), Some(1)]);
    }

    #[test]
    fn one_person_in_two_groups_fills_one_seat() {
        let got = check(&[vec![0], vec![0]], 1);
        assert_eq!(got.iter().flatten().count(), 1);
    }

    #[test]
    fn a_rule_with_two_seats_needs_two_people() {
        assert_eq!(check(&[vec![0, 1], vec![0, 1]], 2), [Some(0), Some(1)]);
        assert_eq!(check(&[vec![0], vec![0]], 2).iter().flatten().count(), 1);
    }

    #[test]
    fn matches_brute_force_on_many_small_graphs() {
        // A small linear congruential generator: deterministic, no dependency.
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |n: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % n
        };
        for _ in 0..3000 {
            let seats = next(6) as usize;
            let people = next(6) as usize + 1;
            let eligible: Vec<Vec<usize>> = (0..seats)
                .map(|_| (0..people).filter(|_| next(3) == 0).collect())
                .collect();
            check(&eligible, people);
        }
    }
}
