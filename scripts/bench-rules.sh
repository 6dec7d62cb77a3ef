#!/usr/bin/env bash
# What approval rules and soak cost a gated push (issue 18), one binary, one clone of one
# remote that holds N_RECORDS audit records (default 10,000: staging pushes, one note each)
# and N_APPROVALS approval notes (default 1,000: two of them for the pushed commit):
#   - a gated decision, `pushguard check origin/production` (the hook's pipeline: it fetches
#     the approvals and the records, matches approvers to two rules, measures the soak),
#     with production's `approval_rules` and `soak` against the same environment without
#     them, alternating the two (paired; medians compared);
#   - an ordinary push (the hook on a feature branch) with each config: the fast path must
#     not read rules, notes or records, so the ratio is about 1.
#
# Usage: scripts/bench-rules.sh [BIN]    (BENCH_RUNS=N pairs per case, default 20; BENCH_KEEP=1)
# Needs bash >= 5 ($EPOCHREALTIME), git, python3.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/bench-lib.sh"
N_RECORDS=${N_RECORDS:-10000}
N_APPROVALS=${N_APPROVALS:-1000}
runs=${BENCH_RUNS:-20}
if [ -n "${1:-}" ]; then
    bin=$(realpath "$1")
else
    cargo build --release --locked -q --manifest-path "$root/Cargo.toml"
    bin=$root/target/release/pushguard
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pushguard-bench-rules.XXXXXX")
# BENCH_KEEP=1 keeps the repositories for a closer look (their directory is printed).
if [ -n "${BENCH_KEEP:-}" ]; then echo "bench-rules.sh: keeping $tmp" >&2; else trap 'rm -rf "$tmp"' EXIT; fi
export HOME=$tmp/home GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=$tmp/home/.gitconfig
export XDG_CONFIG_HOME=$tmp/home/.config NO_COLOR=1 PUSHGUARD_NONINTERACTIVE=1
export GIT_AUTHOR_NAME=Bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=Bench GIT_COMMITTER_EMAIL=bench@example.com
mkdir -p "$HOME"
: >"$GIT_CONFIG_GLOBAL"

remote=$tmp/remote.git
git init -q --bare "$remote"
# A line of N_RECORDS commits, an hour apart; staging at the last, production one behind.
python3 - "$N_RECORDS" <<'PY' | git --git-dir="$remote" fast-import --quiet
import sys
n = int(sys.argv[1])
out = sys.stdout
for i in range(1, n + 1):
    msg, body = f"commit {i}", f"{i}\n"
    out.write(f"commit refs/heads/staging\nmark :{i}\n")
    out.write(f"committer Bench <bench@example.com> {1500000000 + i * 3600} +0000\n")
    out.write(f"data {len(msg)}\n{msg}\nM 644 inline file.txt\ndata {len(body)}\n{body}\n")
out.write(f"reset refs/heads/production\nfrom :{n - 1}\n\n")
PY
git --git-dir="$remote" log --reverse --format='%H %T' refs/heads/staging >"$tmp/ids"

# Record i: the allowed push that put commit i on staging, a minute after it was made; approval
# notes on the last N_APPROVALS commits, two of them (a lead and QA) for the pushed tip.
python3 - "$tmp/ids" "$remote" "$N_APPROVALS" <<'PY' | git --git-dir="$remote" fast-import --quiet
import datetime, hashlib, json, sys
ids = [l.split() for l in open(sys.argv[1]) if l.strip()]
url, n_approvals = sys.argv[2], int(sys.argv[3])
out = sys.stdout
out.write("commit refs/notes/pushguard-audit\n")
out.write("committer Bench <bench@example.com> 1500000000 +0000\ndata 5\nnotes\n")
prev = None
for i, (commit, _) in enumerate(ids, start=1):
    when = datetime.datetime.fromtimestamp(1500000000 + i * 3600 + 60, datetime.timezone.utc)
    rec = {
        "version": 1, "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "user": {"name": "Bench", "email": "bench@example.com"},
        "remote": "origin", "url": url, "local_ref": "HEAD",
        "remote_ref": "refs/heads/staging", "environment": "staging",
        "old": ids[i - 2][0] if i > 1 else None, "new": commit, "commits": 1,
        "decision": "allowed",
        "checks": [{"id": "no-delete", "outcome": "pass", "detail": ""}],
        "consulted": "Ada Lead", "checklist": [], "justification": None, "prev": prev,
    }
    body = json.dumps(rec, separators=(",", ":"))
    h = hashlib.sha256(body.encode()).hexdigest()
    out.write(f"N inline {commit}\ndata <<END_OF_NOTE\n{body[:-1]},\"hash\":\"{h}\"}}\nEND_OF_NOTE\n")
    prev = h
out.write("\n")
out.write("commit refs/notes/pushguard-approvals\n")
out.write("committer Bench <bench@example.com> 1500000000 +0000\ndata 5\nnotes\n")
tip = ids[-1]
for k, (commit, tree) in enumerate(ids[-n_approvals:]):
    people = [("Lee Lead", "lee@leads.example"), ("Quinn", "qa-quinn@example.com")]
    if commit != tip[0]:
        people = [people[k % 2]]
    entries = [json.dumps({"name": n, "email": e, "time": "2026-01-01T00:00:00Z",
                           "environment": "production", "commit": commit, "tree": tree},
                          separators=(",", ":")) for n, e in people]
    note = "[\n" + ",\n".join(entries) + "\n]\n"
    out.write(f"N inline {commit}\ndata {len(note.encode())}\n{note}")
out.write("\n")
PY

base='[environments.staging]
branches = ["staging"]
confirm = false
checks = ["no-delete"]

[environments.production]
branches = ["production"]
promote_from = "staging"
confirm = false
checks = ["no-delete", "fast-forward", "promoted"]
'
rules='soak = "24h"

[[environments.production.approval_rules]]
name = "leads"
approvers = ["*@leads.example"]

[[environments.production.approval_rules]]
name = "qa"
approvers = ["qa-*"]
'
for w in without with; do
    git clone -q "$remote" "$tmp/$w" 2>/dev/null
    git -C "$tmp/$w" checkout -q staging
done
printf '%s' "$base" >"$tmp/without/.pushguard.toml"
printf '%s%s' "$base" "$rules" >"$tmp/with/.pushguard.toml"
for w in without with; do
    out=$(cd "$tmp/$w" && "$bin" check origin/production 2>&1) || {
        echo "bench-rules.sh: the gated decision does not pass in $w:" >&2
        echo "$out" >&2
        exit 1
    }
done
grep -q "every rule met" <<<"$(cd "$tmp/with" && "$bin" check origin/production 2>&1)" ||
    { echo "bench-rules.sh: the rules are not judged" >&2; exit 1; }
head=$(git -C "$tmp/with" rev-parse HEAD)
printf 'refs/heads/feature %s refs/heads/feature %s\n' "$head" 0000000000000000000000000000000000000000 >"$tmp/line"

gated_without() { (cd "$tmp/without" && "$bin" check origin/production >/dev/null 2>&1); }
gated_with() { (cd "$tmp/with" && "$bin" check origin/production >/dev/null 2>&1); }
fast_without() { (cd "$tmp/without" && "$bin" hook pre-push origin "$remote" <"$tmp/line" >/dev/null 2>&1); }
fast_with() { (cd "$tmp/with" && "$bin" hook pre-push origin "$remote" <"$tmp/line" >/dev/null 2>&1); }
for _ in 1 2 3; do gated_without; gated_with; fast_without; fast_with; done

echo "approval rules and soak: $N_RECORDS records, $N_APPROVALS approval notes, $(nproc) cores, medians of $runs pairs"
echo
echo "| case | with rules and soak | without (baseline) | difference | ratio |"
echo "|---|---|---|---|---|"
paired "$runs" gated_without gated_with
echo "| gated decision (\`pushguard check origin/production\`) | $(ms "$mb") | $(ms "$ma") | $(python3 -c "print(f'{($mb - $ma) * 1000:+.1f} ms')") | $(ratio "$mb" "$ma") |"
paired "$runs" fast_without fast_with
echo "| ordinary push (hook, feature branch) | $(ms "$mb") | $(ms "$ma") | $(python3 -c "print(f'{($mb - $ma) * 1000:+.1f} ms')") | $(ratio "$mb" "$ma") |"
