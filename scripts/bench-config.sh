#!/usr/bin/env bash
# The cost of loading the configuration on an ordinary push, old binary against new: the
# pre-push hook reads git's line, finds and loads the config, classifies, exits 0. Every
# figure is the new binary as a ratio to the old one, measured in the same run, in
# alternating batches (old, new, old, new, ...) so that load from other processes hits both.
#
# Usage: scripts/bench-config.sh OLD_BIN NEW_BIN
#   BENCH_RUNS=N   batches of 20 runs per side and case (default 15)
#
# Cases: the hook at the work tree's root (as git runs it), the hook started elsewhere with
# GIT_DIR naming the clone (`git --git-dir=… push`), and three layers (a user file too).
# Needs perf (`perf stat` forks and execs each command itself, as git does a hook), git,
# python3; with valgrind, each case's instruction count (callgrind: deterministic, so it
# does not depend on the load of a shared machine) is compared too.
set -euo pipefail

old=${1:?usage: scripts/bench-config.sh OLD_BIN NEW_BIN}
new=${2:?usage: scripts/bench-config.sh OLD_BIN NEW_BIN}
batches=${BENCH_RUNS:-15}
perf stat -r 1 true >/dev/null 2>&1 || { echo "bench-config.sh: perf stat does not work here" >&2; exit 2; }

scratch=$(mktemp -d "${TMPDIR:-/tmp}/pushguard-bench-config.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export HOME=$scratch/home GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=$scratch/home/.gitconfig
export XDG_CONFIG_HOME=$scratch/home/.config NO_COLOR=1 PUSHGUARD_NONINTERACTIVE=1
export GIT_AUTHOR_NAME=Bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=Bench GIT_COMMITTER_EMAIL=bench@example.com
mkdir -p "$HOME" "$scratch/elsewhere"
: >"$GIT_CONFIG_GLOBAL"

work=$scratch/work
git init -q -b main "$work"
git -C "$work" commit -q --allow-empty -m "initial commit"
# A team's config: its own environments, a glob, leads, a longer tests timeout.
cat >"$work/.pushguard.toml" <<'TOML'
[environments.development]
branches = ["develop", "dev/*"]
checks = ["no-delete"]

[environments.staging]
branches = ["staging"]
promote_from = "development"
checks = ["no-delete", "fast-forward", "promoted", "no-wip", "tests"]
checklist = ["Internal testing is done"]

[environments.production]
branches = ["production", "main"]
promote_from = "staging"
checks = ["no-delete", "fast-forward", "promoted", "no-wip", "tests", "authorized", "approvals"]
authorized = ["*@example.com"]
approvals = 1

[confirm]
leads = ["Ada Lead <ada@example.com>"]

[tests]
timeout = "45m"
TOML
head=$(git -C "$work" rev-parse HEAD)
printf 'refs/heads/feature %s refs/heads/feature %s\n' "$head" 0000000000000000000000000000000000000000 >"$scratch/line"

# batch DIR BIN [VAR=VALUE…]: 20 runs of the hook in DIR; prints "<wall s> <task-clock ms>".
# Each run reads the line through the same `sh -c 'exec … <line'` wrapper on both sides.
batch() {
    local dir=$1 bin=$2
    shift 2
    (cd "$dir" && env "$@" perf stat -r 20 -e task-clock \
        sh -c 'exec "$@" <"$0"' "$scratch/line" "$bin" hook pre-push origin url 2>&1 >/dev/null |
        awk '/task-clock/ {t=$1} /seconds time elapsed/ {e=$1} END {print e, t}')
}

# instructions DIR BIN [VAR=VALUE…]: instructions the hook executes for the line (callgrind).
instructions() {
    local dir=$1 bin=$2
    shift 2
    (cd "$dir" && env "$@" valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        "$bin" hook pre-push origin url <"$scratch/line" 2>&1 >/dev/null |
        awk '/Collected :/ {print $NF}')
}

rows=()
counts=()
# compare LABEL DIR [VAR=VALUE…]
compare() {
    local label=$1 dir=$2
    shift 2
    "$old" hook pre-push origin url <"$scratch/line" >/dev/null 2>&1 || { echo "old binary failed: $label" >&2; exit 2; }
    "$new" hook pre-push origin url <"$scratch/line" >/dev/null 2>&1 || { echo "new binary failed: $label" >&2; exit 2; }
    local stamps=()
    for _ in 1 2; do batch "$dir" "$old" "$@" >/dev/null; batch "$dir" "$new" "$@" >/dev/null; done
    for _ in $(seq "$batches"); do
        stamps+=("$(batch "$dir" "$old" "$@") $(batch "$dir" "$new" "$@")")
    done
    if command -v valgrind >/dev/null; then
        local iold inew
        iold=$(instructions "$dir" "$old" "$@")
        inew=$(instructions "$dir" "$new" "$@")
        counts+=("| $label | $inew | $iold | **$(python3 -c "print(f'{$inew / $iold:.3f}')")** |")
    fi
    rows+=("$(printf '%s\n' "${stamps[@]}" | python3 -c '
import statistics, sys
label = sys.argv[1]
rows = [[float(x) for x in l.split()] for l in sys.stdin]
ow, oc, nw, nc = (statistics.median(r[i] for r in rows) for i in range(4))
print(f"| {label} | {nw * 1000:.2f} ms wall, {nc:.2f} ms CPU | {ow * 1000:.2f} ms wall, {oc:.2f} ms CPU | **{nw / ow:.2f}** wall, {nc / oc:.2f} CPU |")
' "$label")")
}

compare "ordinary push, hook at the work-tree root (2 layers)" "$work"
compare "ordinary push, \`git --git-dir\` from another directory" "$scratch/elsewhere" GIT_DIR="$work/.git"
mkdir -p "$XDG_CONFIG_HOME/pushguard"
printf '[bypass]\nmin_length = 25\n[tests]\ncache = false\n' >"$XDG_CONFIG_HOME/pushguard/config.toml"
compare "ordinary push, with a user config too (3 layers)" "$work"

echo "pushguard config loading, new vs old, $(nproc) cores, medians of $batches batches of 20 runs (perf stat)"
echo
echo "| case | new | old (baseline) | ratio new/old |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
if [ ${#counts[@]} -gt 0 ]; then
    echo
    echo "| case | instructions, new | instructions, old (baseline) | ratio new/old |"
    echo "|---|---|---|---|"
    printf '%s\n' "${counts[@]}"
fi
