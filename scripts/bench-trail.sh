#!/usr/bin/env bash
# Benchmarks `pushguard audit` (issue 10) over a remote whose refs/notes/pushguard-audit
# holds N audit records (default 10,000, one note each) and 5 environment branches, in a
# fresh clone as a CI job runs it, against `git notes --ref pushguard-audit list` on the
# same ref in the same run (interleaved A, B, A, B, ...; medians compared).
#
#   scripts/bench-trail.sh                 (N=10000, BENCH_RUNS=20, at most 50)
#   N=100000 scripts/bench-trail.sh
#
# Prints one line in bench.sh's table format: | section | measured | baseline | ratio | peak RSS |
# Needs bash >= 5 ($EPOCHREALTIME), git, python3.
set -euo pipefail

N=${N:-10000}
runs=${BENCH_RUNS:-20}
runs=$(( runs > 50 ? 50 : runs ))
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${PUSHGUARD_BIN:-}" ]; then
    cargo build --release --locked -q --manifest-path "$root/Cargo.toml"
fi
bin=${PUSHGUARD_BIN:-$root/target/release/pushguard}

tmp=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/trail.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export HOME="$tmp" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null PUSHGUARD_NONINTERACTIVE=1 NO_COLOR=1
export GIT_AUTHOR_NAME=Bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=Bench GIT_COMMITTER_EMAIL=bench@example.com

remote=$tmp/remote.git
git init -q --bare "$remote"

# N commits on a line; the 5 environment branches point at its last 5 commits.
python3 - "$N" <<'PY' | git --git-dir="$remote" fast-import --quiet
import sys
n = int(sys.argv[1])
out = sys.stdout
for i in range(1, n + 1):
    msg, body = f"commit {i}", f"{i}\n"
    out.write(f"commit refs/heads/line\nmark :{i}\n")
    out.write(f"committer Bench <bench@example.com> {1500000000 + i} +0000\n")
    out.write(f"data {len(msg)}\n{msg}\nM 644 inline file.txt\ndata {len(body)}\n{body}\n")
for k, b in enumerate(["development", "staging", "production", "qa", "uat"]):
    out.write(f"reset refs/heads/{b}\nfrom :{n - 4 + k}\n\n")
PY

# Record i: an allowed push of commit i, one note per commit, hash-chained and hashed as
# SPEC says; the last 5 are the pushes that left each branch at its tip, so audit passes.
git --git-dir="$remote" log --reverse --format=%H refs/heads/line >"$tmp/ids"
python3 - "$tmp/ids" "$remote" <<'PY' | git --git-dir="$remote" fast-import --quiet
import hashlib, json, sys
ids = [l.strip() for l in open(sys.argv[1]) if l.strip()]
url = sys.argv[2]
branches = ["development", "staging", "production", "qa", "uat"]
n = len(ids)
out = sys.stdout
out.write("commit refs/notes/pushguard-audit\n")
out.write("committer Bench <bench@example.com> 1500000000 +0000\ndata 5\nnotes\n")
prev = None
for i, commit in enumerate(ids, start=1):
    b = branches[i - (n - 4)] if i > n - 5 else branches[i % 5]
    rec = {
        "version": 1, "time": "2026-01-01T00:00:00Z",
        "user": {"name": "Bench", "email": "bench@example.com"},
        "remote": "origin", "url": url, "local_ref": "HEAD",
        "remote_ref": f"refs/heads/{b}", "environment": b, "old": None,
        "new": commit, "commits": 1, "decision": "allowed",
        "checks": [{"id": "no-delete", "outcome": "pass", "detail": ""}],
        "consulted": "Ada Lead", "checklist": [], "justification": None, "prev": prev,
    }
    body = json.dumps(rec, separators=(",", ":"))
    h = hashlib.sha256(body.encode()).hexdigest()
    line = body[:-1] + ',"hash":"' + h + '"}'
    out.write(f"N inline {commit}\ndata <<END_OF_NOTE\n{line}\nEND_OF_NOTE\n")
    prev = h
out.write("\n")
PY
git --git-dir="$remote" symbolic-ref HEAD refs/heads/production

ci=$tmp/ci
git clone -q "$remote" "$ci" 2>/dev/null
cd "$ci"
notes=$(git --git-dir="$remote" notes --ref pushguard-audit list | wc -l)
[ "$notes" -eq "$N" ] || { echo "bench-trail.sh: $notes notes, expected $N" >&2; exit 1; }
check=$("$bin" audit --fail-on-unrecorded 2>&1) || {
    echo "bench-trail.sh: audit did not pass:" >&2
    echo "$check" >&2
    exit 1
}
# The baseline lists the same ref, fetched into this clone by the audit above (the remote's
# trail lands under refs/notes/pushguard-remote/<remote>/trail/).
fetched=refs/notes/pushguard-remote/origin/trail/pushguard-audit
git rev-parse -q --verify "$fetched" >/dev/null

# Each run as a fresh clone would: the tips checked by the run before are forgotten, so the
# notes history is walked for lost records every time.
forget() { git for-each-ref --format='delete %(refname)' refs/notes/pushguard-remote/origin/checked/ | git update-ref --stdin; }
run_audit() { forget; "$bin" audit --fail-on-unrecorded >/dev/null 2>&1; }
run_list() { git notes --ref "$fetched" list >/dev/null; }
for _ in 1 2 3; do run_audit; run_list; done
stamps=()
for _ in $(seq "$runs"); do
    t0=$EPOCHREALTIME; run_audit; t1=$EPOCHREALTIME; run_list; t2=$EPOCHREALTIME
    stamps+=("$t0 $t1 $t2")
done
read -r ma mb < <(printf '%s\n' "${stamps[@]}" | python3 -c '
import statistics, sys
rows = [[float(x) for x in l.split()] for l in sys.stdin]
print(statistics.median(r[1] - r[0] for r in rows), statistics.median(r[2] - r[1] for r in rows))')
rss="?"
if [ -x /usr/bin/time ]; then
    forget
    /usr/bin/time -f %M -o "$tmp/rss" "$bin" audit --fail-on-unrecorded >/dev/null 2>&1 || true
    rss="$(tail -1 "$tmp/rss") KiB"
fi
python3 - "$ma" "$mb" "$N" "$runs" "$rss" <<'PY'
import sys
ma, mb, n, runs, rss = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
print(f"| `pushguard audit --fail-on-unrecorded` in a fresh clone, {n:,} records, 5 environment branches, "
      f"including its fetches of branches and notes (median of {runs}) | {ma * 1000:.1f} ms "
      f"| {mb * 1000:.1f} ms `git notes --ref pushguard-audit list` | {ma / mb:.1f} | {rss} |")
PY
