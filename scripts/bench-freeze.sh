#!/usr/bin/env bash
# What freeze windows cost (issue 17), one binary, the same clone with and without 20
# `[[freeze]]` windows (10 one-off, 10 recurring in 5 zones, none open now):
#   - an ordinary push: the hook's fast path must read no window (their times are parsed on
#     first use only), so the ratio is about 1;
#   - a gated decision: `pushguard check <env>` runs the gate on an environment the windows
#     apply to (parses the 20 windows, reads their zones, judges them at this instant).
# Each figure is a median of batches of 20 runs (perf stat), alternating the two configs; with
# valgrind, instruction counts (callgrind) too, which do not depend on the machine's load.
#
# Usage: scripts/bench-freeze.sh BIN      (BENCH_RUNS=N batches per case, default 15)
set -euo pipefail

bin=${1:?usage: scripts/bench-freeze.sh BIN}
bin=$(realpath "$bin")
batches=${BENCH_RUNS:-15}
perf stat -r 1 true >/dev/null 2>&1 || { echo "bench-freeze.sh: perf stat does not work here" >&2; exit 2; }

scratch=$(mktemp -d "${TMPDIR:-/tmp}/pushguard-bench-freeze.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export HOME=$scratch/home GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=$scratch/home/.gitconfig
export XDG_CONFIG_HOME=$scratch/home/.config NO_COLOR=1 PUSHGUARD_NONINTERACTIVE=1
export GIT_AUTHOR_NAME=Bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=Bench GIT_COMMITTER_EMAIL=bench@example.com
mkdir -p "$HOME"
: >"$GIT_CONFIG_GLOBAL"

base='[environments.staging]
branches = ["staging"]
confirm = false
checks = ["no-delete"]

[environments.production]
branches = ["production", "main"]
promote_from = "staging"
confirm = false
checks = ["no-delete", "fast-forward"]
'
windows=""
zones=(Europe/Berlin America/New_York Asia/Kathmandu Australia/Sydney UTC)
for i in $(seq 0 9); do
    windows+="
[[freeze]]
name = \"one-off-$i\"
environments = [\"production\"]
from = \"20$((10 + i))-12-20T18:00:00+01:00\"
until = \"20$((10 + i))-12-27T08:00:00+01:00\"
reason = \"a past year-end\"

[[freeze]]
name = \"weekly-$i\"
cron = \"0 3 * * $(( (i % 7) ))\"
duration = \"$(( i + 1 ))m\"
timezone = \"${zones[$((i % 5))]}\"
reason = \"a maintenance slot\"
"
done

setup() {
    local dir=$1 config=$2
    git init -q --bare "$dir/remote.git"
    git init -q -b main "$dir/work"
    git -C "$dir/work" commit -q --allow-empty -m "initial commit"
    git -C "$dir/work" remote add origin "$dir/remote.git"
    git -C "$dir/work" push -q --no-verify origin HEAD:staging HEAD:production 2>/dev/null
    git -C "$dir/work" fetch -q origin
    git -C "$dir/work" commit -q --allow-empty -m "next"
    printf '%s' "$config" >"$dir/work/.pushguard.toml"
}
mkdir -p "$scratch/without" "$scratch/with"
setup "$scratch/without" "$base"
setup "$scratch/with" "$base$windows"
"$bin" config --check >/dev/null 2>&1 || true
(cd "$scratch/with/work" && "$bin" config --check >/dev/null) || { echo "the 20 windows do not validate" >&2; exit 2; }
# No window may be open now, or the check below would judge a blocked push.
for w in without with; do
    (cd "$scratch/$w/work" && "$bin" check origin/production >/dev/null 2>&1) ||
        { echo "check origin/production fails in $w (a window open now?)" >&2; exit 2; }
done
head=$(git -C "$scratch/with/work" rev-parse HEAD)
printf 'refs/heads/feature %s refs/heads/feature %s\n' "$head" 0000000000000000000000000000000000000000 >"$scratch/line"

# batch DIR ARGS…: 20 runs; prints "<wall s> <task-clock ms>".
batch() {
    local dir=$1
    shift
    (cd "$dir" && perf stat -r 20 -e task-clock sh -c 'exec "$@" <"$0"' "$scratch/line" "$bin" "$@" 2>&1 >/dev/null |
        awk '/task-clock/ {t=$1} /seconds time elapsed/ {e=$1} END {print e, t}')
}
instructions() {
    local dir=$1
    shift
    (cd "$dir" && valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$@" <"$scratch/line" 2>&1 >/dev/null |
        awk '/Collected :/ {print $NF}')
}

rows=()
counts=()
# compare LABEL ARGS…: the clone without windows (baseline) against the one with 20.
compare() {
    local label=$1
    shift
    local stamps=()
    for _ in 1 2; do batch "$scratch/without/work" "$@" >/dev/null; batch "$scratch/with/work" "$@" >/dev/null; done
    for _ in $(seq "$batches"); do
        stamps+=("$(batch "$scratch/without/work" "$@") $(batch "$scratch/with/work" "$@")")
    done
    if command -v valgrind >/dev/null; then
        local i0 i20
        i0=$(instructions "$scratch/without/work" "$@")
        i20=$(instructions "$scratch/with/work" "$@")
        counts+=("| $label | $i20 | $i0 | **$(python3 -c "print(f'{$i20 / $i0:.3f}')")** |")
    fi
    rows+=("$(printf '%s\n' "${stamps[@]}" | python3 -c '
import statistics, sys
label = sys.argv[1]
rows = [[float(x) for x in l.split()] for l in sys.stdin]
bw, bc, ww, wc = (statistics.median(r[i] for r in rows) for i in range(4))
print(f"| {label} | {ww * 1000:.2f} ms wall, {wc:.2f} ms CPU | {bw * 1000:.2f} ms wall, {bc:.2f} ms CPU | **{(ww - bw) * 1000:+.2f} ms** wall, {wc - bc:+.2f} ms CPU ({ww / bw:.2f}x) |")
' "$label")")
}

compare "ordinary push (hook, feature branch)" hook pre-push origin url
compare "gated decision (\`pushguard check origin/production\`)" check origin/production

echo "freeze windows: 20 configured against none, $(nproc) cores, medians of $batches batches of 20 runs (perf stat)"
echo
echo "| case | 20 windows | no window (baseline) | difference |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
if [ ${#counts[@]} -gt 0 ]; then
    echo
    echo "| case | instructions, 20 windows | instructions, none (baseline) | ratio |"
    echo "|---|---|---|---|"
    printf '%s\n' "${counts[@]}"
fi
