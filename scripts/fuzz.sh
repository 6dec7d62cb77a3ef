#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), one after another, and prints the
# executions and findings of each. Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). libFuzzer needs nightly-only flags; on a
# stable toolchain RUSTC_BOOTSTRAP=1 unlocks them (set here unless already set).
# The seed corpus lives in fuzz/corpus/<target> (read only); what a run discovers goes to
# fuzz/target/corpus/<target> and crash reproducers to fuzz/artifacts/<target> (both ignored).
# Exit status: 0 when no target found anything, 1 otherwise.
set -euo pipefail

seconds=${1:-60}
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"
export RUSTC_BOOTSTRAP=${RUSTC_BOOTSTRAP:-1}

command -v cargo-fuzz >/dev/null || {
    echo "fuzz.sh: cargo-fuzz is missing; install it with \`cargo install cargo-fuzz\`" >&2
    exit 2
}
if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo fuzz list); fi

status=0
summary=()
for t in "${targets[@]}"; do
    work="target/corpus/$t"
    mkdir -p "$work" "artifacts/$t"
    log="target/fuzz-$t.log"
    echo "== $t for ${seconds}s (log: fuzz/$log)"
    # -timeout: an input that takes over 10 s is a hang; -rss_limit_mb/-malloc_limit_mb: a
    # single allocation or a resident size over 1 GiB is an unbounded allocation.
    set +e
    cargo fuzz run -O "$t" "$work" "corpus/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -malloc_limit_mb=1024 \
        -max_len=16384 -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    runs=$(grep -oE 'Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' | tail -1 || true)
    [ -n "$runs" ] || runs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#' || true)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || true)
    found=$(find "artifacts/$t" -type f | wc -l)
    if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
        status=1
        grep -E '^(==[0-9]+==|SUMMARY|thread .* panicked)' "$log" | head -5 || true
    fi
    summary+=("$(printf '%-16s %12s execs  cov %-6s exit %-3s artifacts %s' "$t" "${runs:-?}" "${cov:-?}" "$rc" "$found")")
done
echo "== summary (${seconds}s each)"
printf '%s\n' "${summary[@]}"
exit $status
