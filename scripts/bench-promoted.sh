#!/bin/sh
# Benchmarks the `promoted` check on a synthetic 200,000-commit linear history, against
# `git merge-base --is-ancestor` on the same pair in the same run, with and without a
# commit-graph file; peak memory; and the overhead of a cached `tests` result.
#
#   scripts/bench-promoted.sh            (N=200000 commits; hyperfine if installed)
#   N=50000 scripts/bench-promoted.sh
set -eu

N=${N:-200000}
DEPTH=${DEPTH:-197000}
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${PUSHGUARD_BIN:-}" ]; then
    cargo build --release --locked -q --manifest-path "$root/Cargo.toml"
fi
bin=${PUSHGUARD_BIN:-$root/target/release/pushguard}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export HOME="$tmp" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null PUSHGUARD_NONINTERACTIVE=1 NO_COLOR=1
export GIT_AUTHOR_NAME=Bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=Bench GIT_COMMITTER_EMAIL=bench@example.com
work="$tmp/work"
git init -q --bare "$tmp/remote.git"
git init -q "$work"
cd "$work"
git remote add origin "$tmp/remote.git"

echo "building a $N-commit linear history with git fast-import..."
start=$(date +%s)
awk -v n="$N" 'BEGIN {
    for (i = 1; i <= n; i++) {
        msg = "commit " i; body = i "\n";
        printf "commit refs/heads/staging\nmark :%d\ncommitter Bench <bench@example.com> %d +0000\ndata %d\n%s\n", i, 1500000000 + i, length(msg), msg;
        printf "M 644 inline file.txt\ndata %d\n%s\n", length(body), body;
    }
}' | git fast-import --quiet
echo "  done in $(( $(date +%s) - start ))s"
git update-ref refs/remotes/origin/staging refs/heads/staging
git checkout -q staging
prod=$(git rev-parse "staging~$DEPTH")
tip=$(git rev-parse staging)
hotfix=$(git commit-tree -p "$prod" -m "hotfix" "$prod^{tree}")
# A hotfix whose tree differs from every staging tip: add a file.
hotfix=$(echo fix | git hash-object -w --stdin | {
    read -r blob
    GIT_INDEX_FILE="$tmp/index" git read-tree "$prod"
    GIT_INDEX_FILE="$tmp/index" git update-index --add --cacheinfo "100644,$blob,fix.txt"
    tree=$(GIT_INDEX_FILE="$tmp/index" git write-tree)
    git commit-tree -p "$prod" -m hotfix "$tree"
})
cat > .pushguard.toml <<'TOML'
[environments.staging]
branches = ["staging"]
confirm = false
checks = ["no-delete"]

[environments.production]
branches = ["production"]
promote_from = "staging"
confirm = false
checks = ["promoted"]
TOML
"$bin" check production --rev "$prod" >/dev/null 2>&1 || { echo "the deep case should pass"; "$bin" check production --rev "$prod"; exit 1; }
if "$bin" check production --rev "$hotfix" >/dev/null 2>&1; then echo "the hotfix should be blocked"; exit 1; fi

json="$tmp/bench.json"
# mean seconds of a command: hyperfine if installed, else a loop timed with date.
mean() {
    runs=$1; shift
    if command -v hyperfine >/dev/null 2>&1; then
        hyperfine -N -i --warmup 2 --runs "$runs" --export-json "$json" "$*" >/dev/null 2>&1
        sed -n 's/.*"mean": *\([0-9.e-]*\).*/\1/p' "$json" | head -n 1
    else
        s=$(date +%s%N)
        i=0; while [ $i -lt "$runs" ]; do "$@" >/dev/null 2>&1 || true; i=$((i + 1)); done
        e=$(date +%s%N)
        awk -v a="$s" -v b="$e" -v n="$runs" 'BEGIN { printf "%.6f\n", (b - a) / n / 1e9 }'
    fi
}
peak_kb() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -n 1; }
ms() { awk -v s="$1" 'BEGIN { printf "%8.2f ms", s * 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%6.2fx", a / b }'; }

report() {
    label=$1
    git_deep=$(mean 10 git merge-base --is-ancestor "$prod" "$tip")
    pg_deep=$(mean 10 "$bin" check production --rev "$prod")
    git_hot=$(mean 10 git merge-base --is-ancestor "$hotfix" "$tip")
    pg_hot=$(mean 10 "$bin" check production --rev "$hotfix")
    mem_deep=$(peak_kb "$bin" check production --rev "$prod")
    mem_hot=$(peak_kb "$bin" check production --rev "$hotfix")
    echo "$label"
    echo "  deep ($DEPTH below the staging tip)  pushguard $(ms "$pg_deep")  git $(ms "$git_deep")  ratio $(ratio "$pg_deep" "$git_deep")  peak ${mem_deep} KB"
    echo "  hotfix (not on staging)          pushguard $(ms "$pg_hot")  git $(ms "$git_hot")  ratio $(ratio "$pg_hot" "$git_hot")  peak ${mem_hot} KB"
}

echo
git repack -adq
report "without a commit-graph (packed):"
git commit-graph write --reachable >/dev/null 2>&1
report "with a commit-graph:"

# The overhead of a cached `tests` result: the same check with `tests` added, after one run.
echo
cat >> .pushguard.toml <<'TOML'
[tests]
commands = ["true"]
TOML
sed -i 's/^checks = \["promoted"\]$/checks = ["promoted", "tests"]/' .pushguard.toml
git add .pushguard.toml && git -c user.name=B -c user.email=b@x commit -q -m config
git update-ref refs/remotes/origin/staging HEAD
head=$(git rev-parse HEAD)
"$bin" check production --rev "$head" >/dev/null 2>&1
with_tests=$(mean 20 "$bin" check production --rev "$head")
sed -i 's/^checks = \["promoted", "tests"\]$/checks = ["promoted"]/' .pushguard.toml
without_tests=$(mean 20 "$bin" check production --rev "$head")
echo "cached tests: with $(ms "$with_tests"), without $(ms "$without_tests"), overhead $(ms "$(awk -v a="$with_tests" -v b="$without_tests" 'BEGIN { print a - b }')")"
