#!/usr/bin/env bash
# Issue 12's costs, each a ratio against a baseline measured in the same run, interleaved
# run by run (A, B, A, B, ...), medians compared:
#   hook     the hook entry with one ordinary (non-environment) stdin line: PUSHGUARD_BIN
#            against BASE_BIN (a build without the manager/probe checks at the hook's entry)
#   doctor   `pushguard doctor` against the bare `git push --dry-run --no-verify` it wraps
#
# Usage: BASE_BIN=/path/to/old/pushguard scripts/bench-managers.sh
#   PUSHGUARD_BIN  the binary to measure (default: target/release/pushguard)
#   BENCH_RUNS     runs per side for the hook (default 300); doctor runs a tenth
# Needs bash >= 5 ($EPOCHREALTIME), git, python3.
set -euo pipefail
# shellcheck source=scripts/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
runs=${BENCH_RUNS:-300}
doctor_runs=$(( runs / 10 > 10 ? runs / 10 : 10 ))
bin=${PUSHGUARD_BIN:-$root/target/release/pushguard}
[ -x "$bin" ] || { echo "bench-managers.sh: no binary at $bin (run cargo build --release)" >&2; exit 2; }

scratch=$(mktemp -d "${TMPDIR:-/tmp}/pushguard-bench-managers.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export HOME=$scratch/home GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=$scratch/home/.gitconfig
export GIT_AUTHOR_NAME=Bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=Bench GIT_COMMITTER_EMAIL=bench@example.com
export NO_COLOR=1 PUSHGUARD_NONINTERACTIVE=1
mkdir -p "$HOME" && : >"$GIT_CONFIG_GLOBAL"

remote=$scratch/remote.git
work=$scratch/work
git init -q --bare "$remote"
git init -q -b main "$work"
cd "$work"
git remote add origin "$remote"
echo hello >README && git add README && git commit -q -m "initial commit"
git push -q --no-verify origin main
"$bin" install >/dev/null 2>&1
head=$(git rev-parse HEAD)
printf 'refs/heads/feature %s refs/heads/feature %040d\n' "$head" 0 >"$scratch/line"


echo "| section | measured | baseline | ratio |"
echo "|---|---|---|---|"
if [ -n "${BASE_BIN:-}" ]; then
    new_hook() { "$bin" hook pre-push origin "$remote" <"$scratch/line" >/dev/null 2>&1; }
    old_hook() { "$BASE_BIN" hook pre-push origin "$remote" <"$scratch/line" >/dev/null 2>&1; }
    for _ in $(seq 20); do new_hook; old_hook; done
    paired "$runs" new_hook old_hook
    echo "| hook entry, ordinary line (median of $runs) | $(ms "$ma") | $(ms "$mb") (BASE_BIN) | **$(ratio "$ma" "$mb")** |"
else
    echo "bench-managers.sh: BASE_BIN not set: the hook section is skipped" >&2
fi

doctor() { "$bin" doctor >/dev/null 2>&1; }
dry_run() { git push -q --dry-run --no-verify origin "+$head:refs/heads/develop" >/dev/null 2>&1; }
for _ in 1 2 3; do doctor; dry_run; done
paired "$doctor_runs" doctor dry_run
echo "| pushguard doctor (median of $doctor_runs) | $(ms "$ma") | $(ms "$mb") \`git push --dry-run --no-verify\` | **$(ratio "$ma" "$mb")** |"
