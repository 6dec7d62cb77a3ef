#!/usr/bin/env bash
# Benchmarks `pushguard audit --history` (issue 19) over a trail of N records (default
# 100,000) written as the hook writes them: one notes commit per record on one clone's ref,
# each record a gated push of the next commit of `production` (old → new, one second apart),
# so that the history has N rows. Measured in a clone as a CI job runs it (the tips it
# checked before forgotten each time, so the lost-records walk starts from scratch), against
# git reading the same notes (`git notes list` piped to `git cat-file --batch`), interleaved
# A, B, A, B, …; medians compared, with peak RSS of both.
#
#   scripts/bench-history.sh                 (N=100000, BENCH_RUNS=5)
#   N=10000 BENCH_RUNS=11 scripts/bench-history.sh
#
# Prints one line in bench.sh's table format: | section | measured | baseline | ratio | peak RSS |
# Needs bash >= 5 ($EPOCHREALTIME), git, python3, GNU time at /usr/bin/time.
set -euo pipefail

N=${N:-100000}
runs=${BENCH_RUNS:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/bench-lib.sh"
if [ -z "${PUSHGUARD_BIN:-}" ]; then
    cargo build --release --locked -q --manifest-path "$root/Cargo.toml"
fi
bin=${PUSHGUARD_BIN:-$root/target/release/pushguard}
[ -x /usr/bin/time ] || { echo "bench-history.sh: needs GNU time at /usr/bin/time (apt-get install time)" >&2; exit 2; }

tmp=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/history.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export HOME="$tmp" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null PUSHGUARD_NONINTERACTIVE=1 NO_COLOR=1
export GIT_AUTHOR_NAME=Bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=Bench GIT_COMMITTER_EMAIL=bench@example.com

remote=$tmp/remote.git
git init -q --bare "$remote"
# N commits on production, each changing one file.
awk -v n="$N" 'BEGIN { for (i = 1; i <= n; i++)
    printf "commit refs/heads/production\nmark :%d\ncommitter B <b@x> %d +0000\ndata 2\nc\nM 644 inline f\ndata <<EOF\n%d\nEOF\n\n", i, 1500000000 + i, i }' |
    git --git-dir="$remote" fast-import --quiet
git --git-dir="$remote" rev-list --reverse refs/heads/production >"$tmp/ids"
# Record i: the gated push of commit i-1 → i, hash-chained, one notes commit each.
python3 - "$tmp/ids" "$remote" <<'PY' | git --git-dir="$remote" fast-import --quiet
import hashlib, json, sys, time
ids = [l.strip() for l in open(sys.argv[1]) if l.strip()]
url = sys.argv[2]
out = sys.stdout
prev = None
for i, c in enumerate(ids, start=1):
    t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1700000000 + i))
    rec = {"version": 2, "time": t, "user": {"name": "Pat", "email": "pat@example.com"},
           "remote": "origin", "url": url, "local_ref": "HEAD", "remote_ref": "refs/heads/production",
           "environment": "production", "old": ids[i - 2] if i > 1 else None, "new": c, "commits": 1,
           "decision": "allowed",
           "checks": [{"id": "no-delete", "outcome": "pass", "detail": "the branch is not deleted"},
                      {"id": "fast-forward", "outcome": "pass", "detail": "fast-forward of the remote tip"},
                      {"id": "tests", "outcome": "pass", "detail": "cargo test passed"}],
           "consulted": "Ada Lead", "checklist": [], "justification": None, "freeze": None,
           "ticket": None, "prev": prev, "signature": None}
    body = json.dumps(rec, separators=(",", ":"))
    h = hashlib.sha256(body.encode()).hexdigest()
    line = body[:-1] + ',"hash":"' + h + '"}'
    prev = h
    out.write(f"commit refs/notes/pushguard-audit.d/00000000000000aa\ncommitter B <b@x> {1700000000 + i} +0000\ndata 5\nnotes\n")
    out.write(f"N inline {c}\ndata <<EON\n{line}\nEON\n\n")
PY
git --git-dir="$remote" symbolic-ref HEAD refs/heads/production
git clone -q "$remote" "$tmp/ci" 2>/dev/null
cd "$tmp/ci"
printf '[environments.production]\nbranches = ["production"]\n' >"$tmp/policy.toml"
"$bin" audit --config "$tmp/policy.toml" --history --format json >"$tmp/rows.json" 2>"$tmp/err" ||
    { echo "bench-history.sh: audit --history failed" >&2; cat "$tmp/err" >&2; exit 1; }
rows=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" "$tmp/rows.json")
[ "$rows" = "$N" ] || { echo "bench-history.sh: $rows rows, expected $N" >&2; exit 1; }
ref=refs/notes/pushguard-remote/origin/trail/pushguard-audit.d/00000000000000aa
# As a CI job's fresh clone runs it: nothing checked before.
forget() { git for-each-ref --format='delete %(refname)' refs/notes/pushguard-remote/origin/checked/ | git update-ref --stdin; }
history() { forget; "$bin" audit --config "$tmp/policy.toml" --history --format json >/dev/null 2>&1; }
gitread() { git notes --ref "$ref" list | cut -d' ' -f1 | git cat-file --batch >/dev/null; }
history; gitread # warm the page cache
paired "$runs" history gitread
rss() { /usr/bin/time -f %M -o "$tmp/rss" "$@" >/dev/null 2>&1 || true; tail -1 "$tmp/rss"; }
# own_peak COMMAND...: pushguard's own peak RSS in KiB (its VmHWM, which only grows, read
# every 10 ms until it exits), without the git processes it runs.
own_peak() {
    "$@" >/dev/null 2>&1 & local pid=$! peak=0 v
    while v=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null) && [ -n "$v" ]; do
        peak=$v; sleep 0.01
    done
    wait "$pid" || true
    echo "$peak"
}
forget
a=$(rss "$bin" audit --config "$tmp/policy.toml" --history --format json)
forget
own=$(own_peak "$bin" audit --config "$tmp/policy.toml" --history --format json)
b=$(rss sh -c "git notes --ref $ref list | cut -d' ' -f1 | git cat-file --batch")
echo "| \`audit --history\`, $N records in $N notes commits ($rows rows, fresh clone) | $(ms "$ma") | $(ms "$mb") \`git notes list | git cat-file --batch\` | $(ratio "$ma" "$mb") | $(python3 -c "print(f'pushguard {$own/1024:.1f} MiB (with its git processes {$a/1024:.1f}); git {$b/1024:.1f} MiB')") |"
