#!/usr/bin/env bash
# Issue 14's scaling section: each cost measured at three sizes spanning 100×, as a ratio to
# the git (or coreutils) command doing the same work in the same run, timed alternately
# (A, B, A, B, …; medians), with peak RSS of both sides. Fixtures are built here with
# git fast-import and git update-ref --stdin; nothing is committed.
#
#   scripts/bench-scale.sh                 quick sizes (a few minutes on 2 cores)
#   SCALE=full scripts/bench-scale.sh      the issue's sizes (1,000–100,000 refs, 10k–1M
#                                          records, 1,000–100,000 notes, 2k–200k files) and
#                                          the load test at 20 clones × 10 pushes
#   SCALE_RUNS=N                           pairs per measurement (default 11)
#   SCALE_ROWS="promoted lines log notes clean tests range load junk history"   which rows to run
#
# Issue 23 adds `junk` (a gated push with 100,000 junk notes in the remote's trail and in its
# approvals) and `history` (`audit` in a fresh clone over a trail written one notes commit per
# record, as the hook writes it: the lost-records check walks that history).
#
# Run by scripts/bench.sh (PUSHGUARD_BIN, BENCH_DIR set); prints table rows
# `| section | measured | baseline | ratio | peak RSS |` and progress lines.
# Needs bash >= 5, git (with git-daemon for the load row), python3, /usr/bin/time (GNU time;
# Debian package `time`), cargo for the load row.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${PUSHGUARD_BIN:-}" ]; then
    cargo build --release --locked -q --manifest-path "$root/Cargo.toml"
fi
bin=${PUSHGUARD_BIN:-$root/target/release/pushguard}
runs=${SCALE_RUNS:-11}
scale=${SCALE:-quick}
wanted=${SCALE_ROWS:-promoted lines log notes clean tests range load junk history}
[ -x /usr/bin/time ] || { echo "bench-scale.sh: needs GNU time at /usr/bin/time (apt-get install time)" >&2; exit 2; }

tmp=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$tmp"
[ -n "${BENCH_DIR:-}" ] || trap 'rm -rf "$tmp"' EXIT
# cargo (the load row) keeps finding the toolchain through its own variables.
export RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup} CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
export HOME="$tmp/home" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null PUSHGUARD_NONINTERACTIVE=1 NO_COLOR=1
export GIT_AUTHOR_NAME=Bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=Bench GIT_COMMITTER_EMAIL=bench@example.com
mkdir -p "$HOME"

if [ "$scale" = full ]; then
    ref_sizes="1000 10000 100000"; log_sizes="10000 100000 1000000"; range_sizes="2000 20000 200000"
    note_sizes="1000 10000 100000"; file_sizes="2000 20000 200000"
    load_clones=20 load_pushes=10; history_sizes="1000 10000 100000"
else
    ref_sizes="100 1000 10000"; log_sizes="10000 100000 1000000"; range_sizes="1000 10000 100000"
    note_sizes="100 1000 10000"; file_sizes="1000 10000 100000"
    load_clones=4 load_pushes=3; history_sizes="1000 10000"
fi

want() { case " $wanted " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# pair A B: runs the functions A and B alternately $runs times; sets $ma and $mb (median s).
pair() {
    local fa=$1 fb=$2 stamps=() t0 t1 t2
    "$fa" >/dev/null 2>&1 || true; "$fb" >/dev/null 2>&1 || true # warm the page cache
    for _ in $(seq "$runs"); do
        t0=$EPOCHREALTIME; "$fa" >/dev/null 2>&1 || true
        t1=$EPOCHREALTIME; "$fb" >/dev/null 2>&1 || true
        t2=$EPOCHREALTIME
        stamps+=("$t0 $t1 $t2")
    done
    read -r ma mb < <(printf '%s\n' "${stamps[@]}" | python3 -c '
import statistics, sys
rows = [[float(x) for x in l.split()] for l in sys.stdin]
print(statistics.median(r[1] - r[0] for r in rows), statistics.median(r[2] - r[1] for r in rows))')
}
# rss COMMAND...: peak RSS in KiB of the largest process the command runs.
rss() { /usr/bin/time -f %M -o "$tmp/rss" "$@" >/dev/null 2>&1 || true; tail -1 "$tmp/rss"; }
ms() { python3 -c "print(f'{$1 * 1000:.1f} ms')"; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
row() { echo "| $1 | $2 | $3 | $4 | $5 |"; }
mib() { python3 -c "print(f'{$1 / 1024:.1f} MiB')"; }

# A history of $1 commits on refs/heads/main, one file changing.
history() {
    awk -v n="$1" 'BEGIN {
        for (i = 1; i <= n; i++) {
            body = i "\n";
            printf "commit refs/heads/main\nmark :%d\ncommitter Bench <bench@example.com> %d +0000\ndata 9\ncommit %d\n", i, 1500000000 + i, i % 10;
            printf "M 644 inline file.txt\ndata %d\n%s\n", length(body), body;
        }
    }' | git fast-import --quiet
}

# --- promoted: N remote-tracking refs matching `topic/**`, the pushed commit on none ------
if want promoted; then
    for n in $ref_sizes; do
        d=$tmp/promoted-$n; rm -rf "$d"; git init -q "$d"; cd "$d"
        history 2000
        git rev-list --max-count="$n" main | awk '{ printf "create refs/remotes/origin/topic/b%07d %s\n", NR, $1 }' |
            git update-ref --stdin
        # More refs than commits: the rest point at the tip.
        tip=$(git rev-parse main)
        if [ "$n" -gt 2000 ]; then
            seq 2001 "$n" | awk -v t="$tip" '{ printf "create refs/remotes/origin/topic/b%07d %s\n", $1, t }' | git update-ref --stdin
        fi
        git pack-refs --all
        fix=$(echo fix | git hash-object -w --stdin)
        hotfix=$(git commit-tree -p main~1000 -m hotfix "$(printf '100644 blob %s\tfix.txt\n' "$fix" | git mktree)")
        git repack -adq; git commit-graph write --reachable 2>/dev/null
        cat > .pushguard.toml <<'TOML'
[environments.topic]
branches = ["topic/**"]
confirm = false
checks = ["no-delete"]

[environments.production]
branches = ["production"]
promote_from = "topic"
confirm = false
checks = ["promoted"]
TOML
        git remote add origin "$tmp/nowhere.git"
        "$bin" check production --rev "$hotfix" >"$tmp/out" 2>&1 && { echo "promoted: the hotfix should fail"; cat "$tmp/out"; exit 1; }
        grep -q "any of" "$tmp/out" || [ "$n" -le 3 ] || { echo "promoted: no summary"; cat "$tmp/out"; exit 1; }
        pg() { "$bin" check production --rev "$hotfix"; }
        gi() { git for-each-ref --contains "$hotfix" refs/remotes/origin/topic; }
        pair pg gi
        row "promoted, $n tracking refs matching \`topic/**\`, commit on none" "$(ms "$ma")" \
            "$(ms "$mb") \`git for-each-ref --contains\`" "**$(ratio "$ma" "$mb")**" \
            "$(mib "$(rss "$bin" check production --rev "$hotfix")") (git $(mib "$(rss git for-each-ref --contains "$hotfix" refs/remotes/origin/topic)"))"
        # The same commit once the commit-graph holds it (a local branch has it): the graph's
        # walk, cut off by generation numbers, answers instead of "in no graph".
        git update-ref refs/heads/hotfix "$hotfix"; git commit-graph write --reachable 2>/dev/null
        "$bin" check production --rev "$hotfix" >"$tmp/out" 2>&1 && { echo "promoted: the hotfix should fail"; cat "$tmp/out"; exit 1; }
        pair pg gi
        row "promoted, $n tracking refs matching \`topic/**\`, commit on none but in the commit-graph" "$(ms "$ma")" \
            "$(ms "$mb") \`git for-each-ref --contains\`" "**$(ratio "$ma" "$mb")**" \
            "$(mib "$(rss "$bin" check production --rev "$hotfix")") (git $(mib "$(rss git for-each-ref --contains "$hotfix" refs/remotes/origin/topic)"))"
    done
fi

# --- 100 new gated branches in one push, N remote-tracking refs ---------------------------
if want lines; then
    for n in 10 $ref_sizes; do
        d=$tmp/lines-$n; rm -rf "$d" "$d.git"; git init -q --bare "$d.git"; git init -q "$d"; cd "$d"
        git remote add origin "$d.git"
        history 200
        git rev-list --max-count=200 main | awk -v n="$n" '{ c[NR] = $1 } END {
            for (i = 1; i <= n; i++) printf "create refs/remotes/origin/topic/t%07d %s\n", i, c[(i % 200) + 1] }' |
            git update-ref --stdin
        git pack-refs --all
        printf '[environments.release]\nbranches = ["release/*"]\nconfirm = false\nchecks = ["no-wip"]\n' >.pushguard.toml
        "$bin" install >/dev/null
        tip=$(git rev-parse main)
        for i in $(seq 100); do printf 'refs/heads/release/%d %s refs/heads/release/%d %040d\n' "$i" "$tip" "$i" 0; done >"$tmp/lines"
        pg() { .git/hooks/pre-push origin "$d.git" <"$tmp/lines"; }
        gi() { git rev-list --count main --not --remotes=origin; }
        pair pg gi
        if [ "$n" -eq 10 ]; then lines_base=$ma; fi
        row "hook, 100 new \`release/*\` lines, $n tracking refs" "$(ms "$ma")" \
            "$(ms "$mb") \`git rev-list main --not --remotes\`; 10 refs: $(ms "$lines_base")" \
            "**$(ratio "$ma" "$lines_base")** vs 10 refs" "$(mib "$(rss .git/hooks/pre-push origin "$d.git" <"$tmp/lines")")"
    done
fi

# --- log -n 10 on a log of N records --------------------------------------------------------
if want log; then
    d=$tmp/log; rm -rf "$d"; git init -q "$d"; cd "$d"; mkdir -p .git/pushguard
    # 1,000 distinct records (each line carries its own hash), repeated: `log -n` does not
    # walk the chain, so a repeated block costs what distinct records cost.
    python3 - "$tmp/block" <<'PY'
import hashlib, json, sys
with open(sys.argv[1], "w") as f:
    for i in range(1000):
        rec = {"version": 1, "time": "2026-01-01T00:%02d:%02dZ" % (i // 60 % 60, i % 60),
               "user": {"name": "Pat", "email": "pat@example.com"}, "remote": "origin",
               "url": "/srv/remote.git", "local_ref": "refs/heads/main",
               "remote_ref": "refs/heads/staging", "environment": ["staging", "production"][i % 2],
               "old": "%040x" % i, "new": "%040x" % (i + 1), "commits": 1, "decision": "allowed",
               "checks": [{"id": "no-delete", "outcome": "pass", "detail": "the branch is not deleted"}],
               "consulted": "Lee", "checklist": [], "justification": None, "prev": None}
        body = json.dumps(rec, separators=(",", ":"))
        f.write(body[:-1] + ',"hash":"%s"}\n' % hashlib.sha256(body.encode()).hexdigest())
PY
    for n in $log_sizes; do
        : >.git/pushguard/audit.jsonl
        for _ in $(seq $(( n / 1000 ))); do cat "$tmp/block"; done >>.git/pushguard/audit.jsonl
        size=$(du -m .git/pushguard/audit.jsonl | cut -f1)
        pg() { "$bin" log -n 10; }
        gi() { tail -n 10 .git/pushguard/audit.jsonl; }
        pair pg gi
        row "\`log -n 10\`, $n records ($size MB)" "$(ms "$ma")" "$(ms "$mb") \`tail -n 10\`" \
            "**$(ratio "$ma" "$mb")**" "$(mib "$(rss "$bin" log -n 10)") (tail $(mib "$(rss tail -n 10 .git/pushguard/audit.jsonl)"))"
        pg() { "$bin" log -n 10 --env production --json; }
        gi() { tail -n 20 .git/pushguard/audit.jsonl | grep '"environment":"production"'; }
        pair pg gi
        row "\`log -n 10 --env production --json\`, $n records" "$(ms "$ma")" "$(ms "$mb") \`tail | grep\`" \
            "**$(ratio "$ma" "$mb")**" "$(mib "$(rss "$bin" log -n 10 --env production --json)")"
    done
fi

# --- one gated push with N audit notes already written -------------------------------------
if want notes; then
    for n in 0 $note_sizes; do
        d=$tmp/notes-$n; rm -rf "$d" "$d.git"; git init -q --bare "$d.git"; git init -q "$d"; cd "$d"
        git remote add origin "$d.git"
        git commit -q --allow-empty -m base
        if [ "$n" -gt 0 ]; then
            # N notes on N commits, written flat, as pushguard before issue 14 (libgit2) did.
            awk -v n="$n" 'BEGIN {
                for (i = 1; i <= n; i++)
                    printf "commit refs/heads/noted\nmark :%d\ncommitter B <b@x> %d +0000\ndata 2\nc\n", i, 1500000000 + i;
            }' | git fast-import --quiet --export-marks="$tmp/marks"
            { printf 'commit refs/notes/pushguard-audit\ncommitter B <b@x> 1500000000 +0000\ndata 5\nnotes'
              printf '\n'
              awk '{ sub(":", "", $1); printf "M 644 inline %s\ndata 2\nr\n", $2 }' "$tmp/marks"
            } | git fast-import --quiet
            git push -q --no-verify origin refs/notes/pushguard-audit refs/heads/noted
        fi
        printf '[environments.staging]\nbranches = ["staging"]\nconfirm = false\nchecks = ["no-delete"]\n' >.pushguard.toml
        "$bin" install >/dev/null
        git push -q --no-verify origin HEAD:refs/heads/staging
        gated() { git commit -q --allow-empty -m x && git push -q origin HEAD:refs/heads/staging; }
        plain() { git commit -q --allow-empty -m x && git push -q --no-verify origin HEAD:refs/heads/staging; }
        pair gated plain
        if [ "$n" -eq 0 ]; then base=$ma; fi
        row "gated push, $n audit notes before (flat, as earlier versions wrote them)" "$(ms "$ma")" \
            "$(ms "$mb") \`--no-verify\`; no notes: $(ms "$base")" \
            "**$(ratio "$ma" "$base")** vs no notes, $(ratio "$ma" "$mb") vs --no-verify" "$(git commit -q --allow-empty -m x; mib "$(rss git push -q origin HEAD:refs/heads/staging)")"
        if [ "$n" -gt 0 ]; then echo "notes tree after the pushes at $n: root has $(git ls-tree refs/notes/pushguard-audit | wc -l) entries, $(git ls-tree refs/notes/pushguard-audit | grep -c ' tree ') fan-out directories"; fi
    done
fi

# --- clean-worktree with N files ----------------------------------------------------------
if want clean; then
    for n in $file_sizes; do
        d=$tmp/clean-$n; rm -rf "$d"; git init -q "$d"; cd "$d"
        awk -v n="$n" 'BEGIN {
            printf "commit refs/heads/main\ncommitter B <b@x> 1500000000 +0000\ndata 5\nfiles\n";
            for (i = 0; i < n; i++) printf "M 644 inline d%03d/f%d\ndata 2\n%d\n", i % 1000, i, i % 10;
        }' | git fast-import --quiet
        git checkout -q -f main
        git status -uno >/dev/null
        git remote add origin "$tmp/nowhere.git"
        printf '[environments.staging]\nbranches = ["staging"]\nconfirm = false\nchecks = ["clean-worktree"]\n' >.pushguard.toml
        echo change >>d000/f0
        out=$("$bin" check staging --rev HEAD 2>&1 || true)
        case $out in *"1 tracked file changed"*) ;; *) echo "clean: the check did not run: $out"; exit 1 ;; esac
        pg() { "$bin" check staging --rev HEAD; }
        gi() { git status --porcelain -uno; }
        pair pg gi
        row "clean-worktree, $n files, one changed" "$(ms "$ma")" "$(ms "$mb") \`git status --porcelain -uno\`" \
            "**$(ratio "$ma" "$mb")**" "$(mib "$(rss "$bin" check staging --rev HEAD)") (git $(mib "$(rss git status --porcelain -uno)"))"
    done
fi

# --- tests re-run in the tests worktree, N files -----------------------------------------
# The work tree is not at the checked commit, so the tests run in `.git/pushguard/worktree`;
# two commits are checked in turn (one file differs), the cache off, and the test command
# leaves an untracked file and an ignored build directory behind, as builds do. Baseline:
# git putting the same two trees in place in another worktree (`git checkout --force`);
# second pairing: the same plus `git clean -fd`, git's share of what a re-run does.
if want tests; then
    for n in $file_sizes; do
        d=$tmp/tests-$n; rm -rf "$d"; git init -q "$d"; cd "$d"
        awk -v n="$n" 'BEGIN {
            printf "commit refs/heads/main\ncommitter B <b@x> 1500000000 +0000\ndata 5\nfiles\n";
            printf "M 644 inline .gitignore\ndata 7\ntarget\n";
            for (i = 0; i < n; i++) printf "M 644 inline d%03d/f%d\ndata 2\n%d\n", i % 1000, i, i % 10;
            printf "commit refs/heads/main\ncommitter B <b@x> 1500000001 +0000\ndata 4\ntwo\n";
            printf "M 644 inline d000/f0\ndata 4\ntwo\n";
        }' | git fast-import --quiet
        git checkout -q -f main
        git remote add origin "$tmp/nowhere.git"
        git commit -q --allow-empty -m "work tree elsewhere"
        printf '[environments.staging]\nbranches = ["staging"]\nconfirm = false\nchecks = ["tests"]\n[tests]\ncommands = ["mkdir -p target && touch target/build out.tmp"]\ncache = false\n' >.pushguard.toml
        a=$(git rev-parse main~2); b=$(git rev-parse main~1)
        "$bin" check staging --rev "$a" >/dev/null 2>&1
        out=$("$bin" check staging --rev "$b" 2>&1 || true)
        case $out in *"pushguard/worktree"*"passed"*) ;; *) echo "tests: not run in the tests worktree: $out"; exit 1 ;; esac
        [ -e .git/pushguard/worktree/target/build ] || { echo "tests: the ignored build output was removed"; exit 1; }
        git worktree add -q --detach "$tmp/tests-$n-git" "$a"
        pg() { "$bin" check staging --rev "$a" && "$bin" check staging --rev "$b"; }
        gi() { git -C "$tmp/tests-$n-git" checkout -q -f --detach "$a" && git -C "$tmp/tests-$n-git" checkout -q -f --detach "$b"; }
        pair pg gi
        pm=$ma gm=$mb
        gc() { git -C "$tmp/tests-$n-git" checkout -q -f --detach "$a" && git -C "$tmp/tests-$n-git" clean -fdq &&
               git -C "$tmp/tests-$n-git" checkout -q -f --detach "$b" && git -C "$tmp/tests-$n-git" clean -fdq; }
        pair pg gc
        row "tests re-run in the tests worktree, $n files, two commits in turn (cache off)" "$(ms "$pm")" \
            "$(ms "$gm") \`git checkout -f\` of the same two; with \`git clean -fd\` after each: $(ms "$mb") (pushguard $(ms "$ma") in that pairing, $(ratio "$ma" "$mb"))" \
            "**$(ratio "$pm" "$gm")**" "$(mib "$(rss "$bin" check staging --rev "$a")") (git $(mib "$(rss git -C "$tmp/tests-$n-git" checkout -q -f --detach "$b")"))"
        git worktree remove --force "$tmp/tests-$n-git"
    done
fi

# --- range checks: a first push of an N-commit history (every commit in the range) --------
if want range; then
    for n in $range_sizes; do
        d=$tmp/range-$n; rm -rf "$d"; git init -q "$d"; cd "$d"
        # Each commit changes a line of one of 100 files: the diff of every commit is small.
        awk -v n="$n" 'BEGIN {
            for (i = 1; i <= n; i++) {
                body = "line " i "\n";
                printf "commit refs/heads/main\nmark :%d\ncommitter B <b@x> %d +0000\ndata 9\ncommit %d\n", i, 1500000000 + i, i % 10;
                printf "M 644 inline f%d.txt\ndata %d\n%s\n", i % 100, length(body), body;
            }
        }' | git fast-import --quiet
        git repack -adq; git commit-graph write --reachable 2>/dev/null
        git remote add origin "$tmp/nowhere.git"
        for check in no-wip no-conflict-markers; do
            printf '[environments.staging]\nbranches = ["staging"]\nconfirm = false\nchecks = ["%s"]\n' "$check" >.pushguard.toml
            pg() { "$bin" check staging --rev main; }
            if [ "$check" = no-wip ]; then
                gi() { git log --format=%B main | grep -E '^(WIP|wip|fixup!|squash!)'; }
                what="\`git log --format=%B | grep\`"
            else
                # The check reads the range's net change (issue 22): for a first push with no
                # remote branches, main's tree against the empty tree.
                empty=$(git hash-object -t tree /dev/null)
                gi() { git diff -U0 --no-renames "$empty" main | grep -E '^\+(<<<<<<< |=======$|>>>>>>> )'; }
                what="\`git diff <empty tree> main | grep\`"
            fi
            pair pg gi
            if [ "$check" = no-wip ]; then
                gmem=$(rss sh -c "git log --format=%B main | grep -E '^(WIP|wip)'")
            else
                gmem=$(rss sh -c "git diff -U0 --no-renames $empty main | grep -E '^\+<<<<<<< '")
            fi
            row "$check, first push of $n commits" "$(ms "$ma")" "$(ms "$mb") $what" \
                "**$(ratio "$ma" "$mb")**" "$(mib "$(rss "$bin" check staging --rev main)") (git $(mib "$gmem"))"
        done
    done
fi

# --- the team layer under load -------------------------------------------------------------
if want load; then
    load_avg=$(cut -d' ' -f1-3 /proc/loadavg)
    out=$(cd "$root" && PUSHGUARD_LOAD_CLONES=$load_clones PUSHGUARD_LOAD_PUSHES=$load_pushes \
        cargo test --release --locked -q --test main concurrent_gated_pushes -- --nocapture 2>&1) ||
        { echo "$out"; echo "load test FAILED"; exit 1; }
    line=$(printf '%s\n' "$out" | grep '^load:' || true)
    echo "$line (load average before: $load_avg, after: $(cut -d' ' -f1-3 /proc/loadavg))"
    row "load: $load_clones clones × $load_pushes gated pushes via git daemon" \
        "$(printf '%s' "$line" | sed 's/.*gated push p50 \([0-9]*\) ms, p95 \([0-9]*\) ms.*/p50 \1 ms, p95 \2 ms/')" \
        "$(printf '%s' "$line" | sed 's/.*one clone alone p50 \([0-9]*\) ms.*plain git at once p50 \([0-9]*\) ms, p95 \([0-9]*\) ms, alone p50 \([0-9]*\) ms.*/one clone alone p50 \1 ms; plain git (no pushguard) at once p50 \2 ms, p95 \3 ms, alone p50 \4 ms/')" \
        "$(printf '%s' "$line" | sed 's/.*(p95 \/ that = \([0-9.]*\)); note-push retries \([0-9]*\).*late shares \([0-9]*\).*records lost \([0-9]*\) of \([0-9]*\).*plain git at once.*(p95 \/ that = \([0-9.]*\)); gated p95 \/ plain git p95 = \([0-9.]*\).*/p95 \/ alone p50 = \1 (plain git: \6); gated p95 \/ plain git p95 = \7; \2 note-push retries, \3 late shares, \4 of \5 records lost/')" "-"
fi

# --- 100,000 junk notes in the remote's trail and approvals (issue 23, item 8) -------------
# A junk notes commit on top of `$2` (or a new ref) in the repository `$1`: `$3` notes on
# made-up objects, all one small blob, in git's fan-out.
junk() {
    local git_dir=$1 target=$2 n=$3 parent
    parent=$(git --git-dir="$git_dir" rev-parse -q --verify "$target" || true)
    python3 - "$target" "$n" "$parent" <<'PY' | git --git-dir="$git_dir" fast-import --quiet
import hashlib, sys
target, n, parent = sys.argv[1], int(sys.argv[2]), sys.argv[3]
out = sys.stdout
out.write("blob\nmark :1\ndata 5\njunk\n")
out.write(f"commit {target}\ncommitter Mallory <m@example.com> 1767225600 +0000\ndata 5\njunk\n")
if parent:
    out.write(f"from {parent}\n")
for i in range(n):
    h = hashlib.sha256(b"junk %d" % i).hexdigest()
    out.write(f"M 644 :1 {h[:2]}/{h[2:40]}\n")
out.write("\n")
PY
}
if want junk; then
    n=100000
    d=$tmp/junk; rm -rf "$d" "$d.git"; git init -q --bare "$d.git"; git init -q "$d"; cd "$d"
    git remote add origin "$d.git"
    git commit -q --allow-empty -m base
    printf '[environments.staging]\nbranches = ["staging"]\nconfirm = false\nchecks = ["no-delete"]\n\n[environments.production]\nbranches = ["production"]\nconfirm = false\nchecks = ["no-delete", "approvals"]\napprovals = 1\n' >.pushguard.toml
    "$bin" install >/dev/null
    git push -q --no-verify origin HEAD:refs/heads/staging HEAD:refs/heads/production
    # Ada's approval of the base commit: the empty commits pushed on top keep its tree.
    git notes --ref pushguard-approvals add -m "[{\"name\":\"Ada\",\"email\":\"ada@example.com\",\"time\":\"2026-01-01T00:00:00Z\",\"environment\":\"production\",\"commit\":\"$(git rev-parse HEAD)\",\"tree\":\"$(git rev-parse 'HEAD^{tree}')\"}]" HEAD
    git push -q --no-verify origin refs/notes/pushguard-approvals
    gated() { git commit -q --allow-empty -m x && git push -q origin HEAD:refs/heads/staging; }
    plain() { git commit -q --allow-empty -m x && git push -q --no-verify origin HEAD:refs/heads/staging; }
    gated >/dev/null 2>&1 # this clone's own ref exists from here on
    pair gated plain; base=$ma
    row "gated push, nothing in the remote's trail but this clone's records" "$(ms "$ma")" \
        "$(ms "$mb") \`--no-verify\`" "(itself)" "$(git commit -q --allow-empty -m x; mib "$(rss git push -q origin HEAD:refs/heads/staging)")"
    junk "$d.git" refs/notes/pushguard-audit "$n"
    for i in 1 2 3; do junk "$d.git" "refs/notes/pushguard-audit.d/$(printf '%016x' "$i")" "$((n / 10))"; done
    pair gated plain
    row "gated push, $n junk notes in \`refs/notes/pushguard-audit\` and 30,000 in 3 other clones' refs" "$(ms "$ma")" \
        "$(ms "$mb") \`--no-verify\`; no junk: $(ms "$base")" "**$(ratio "$ma" "$base")** vs no junk" \
        "$(git commit -q --allow-empty -m x; mib "$(rss git push -q origin HEAD:refs/heads/staging)")"
    # Junk in this clone's own ref: the push is rejected, the remote's copy fetched and merged
    # by tree, and pushed again. Before each gated push Mallory moves the ref on once more.
    own=$(git --git-dir="$d.git" for-each-ref --format='%(refname)' 'refs/notes/pushguard-audit.d/' | grep -v '/000000000000000' | head -1)
    junk "$d.git" "$own" "$n"
    moved() { git --git-dir="$d.git" update-ref "$own" "$(git --git-dir="$d.git" commit-tree -p "$own" -m again "$own^{tree}")"; }
    gated_after_move() { moved; gated; }
    pair gated_after_move plain
    row "gated push, $n junk notes in this clone's own ref, moved on before each push (fetch, merge by tree, push again)" "$(ms "$ma")" \
        "$(ms "$mb") \`--no-verify\`; no junk: $(ms "$base")" "**$(ratio "$ma" "$base")** vs no junk" \
        "$(moved; git commit -q --allow-empty -m x; mib "$(rss git push -q origin HEAD:refs/heads/staging)")"
    # Junk in the approvals, which the production gate fetches (fetch_notes = true).
    gp() { git commit -q --allow-empty -m x && git push -q origin HEAD:refs/heads/production; }
    pp() { git commit -q --allow-empty -m x && git push -q --no-verify origin HEAD:refs/heads/production; }
    gp >"$tmp/out" 2>&1 || { echo "junk: the production push should pass"; cat "$tmp/out"; exit 1; }
    pair gp pp; pbase=$ma
    junk "$d.git" refs/notes/pushguard-approvals "$n"
    pair gp pp
    gp >"$tmp/out" 2>&1 || { echo "junk: the production push should pass with junk approvals"; cat "$tmp/out"; exit 1; }
    row "gated push to production (\`approvals = 1\`, fetch_notes), $n junk notes in \`refs/notes/pushguard-approvals\`" "$(ms "$ma")" \
        "$(ms "$mb") \`--no-verify\`; no junk: $(ms "$pbase")" "**$(ratio "$ma" "$pbase")** vs no junk" \
        "$(git commit -q --allow-empty -m x; mib "$(rss git push -q origin HEAD:refs/heads/production)")"
fi

# --- audit over a trail written one notes commit per record (issue 23, item 6) ---------------
if want history; then
    for n in $history_sizes; do
        d=$tmp/history-$n; rm -rf "$d" "$d.git" "$d.ci"; git init -q --bare "$d.git"
        # N commits; record i is an allowed push of commit i to `staging`, added to one clone's
        # trail ref by its own notes commit, as the hook writes them.
        awk -v n="$n" 'BEGIN { for (i = 1; i <= n; i++)
            printf "commit refs/heads/staging\nmark :%d\ncommitter B <b@x> %d +0000\ndata 2\nc\n", i, 1500000000 + i }' |
            git --git-dir="$d.git" fast-import --quiet
        git --git-dir="$d.git" rev-list --reverse refs/heads/staging >"$tmp/ids"
        python3 - "$tmp/ids" "$d.git" <<'PY' | git --git-dir="$d.git" fast-import --quiet
import hashlib, json, sys
ids = [l.strip() for l in open(sys.argv[1]) if l.strip()]
url = sys.argv[2]
out = sys.stdout
prev = None
for i, c in enumerate(ids, start=1):
    rec = {"version": 1, "time": "2026-01-01T00:00:00Z", "user": {"name": "B", "email": "b@x"},
           "remote": "origin", "url": url, "local_ref": "HEAD", "remote_ref": "refs/heads/staging",
           "environment": "staging", "old": None, "new": c, "commits": 1, "decision": "allowed",
           "checks": [], "consulted": "Lee", "checklist": [], "justification": None, "prev": prev}
    body = json.dumps(rec, separators=(",", ":"))
    h = hashlib.sha256(body.encode()).hexdigest()
    line = body[:-1] + ',"hash":"' + h + '"}'
    prev = h
    out.write(f"commit refs/notes/pushguard-audit.d/00000000000000aa\ncommitter B <b@x> {1500000000 + i} +0000\ndata 5\nnotes\n")
    out.write(f"N inline {c}\ndata <<EON\n{line}\nEON\n\n")
PY
        git --git-dir="$d.git" symbolic-ref HEAD refs/heads/staging
        git clone -q "$d.git" "$d.ci" 2>/dev/null; cd "$d.ci"
        printf '[environments.staging]\nbranches = ["staging"]\n' >.pushguard.toml
        "$bin" audit --fail-on-unrecorded >"$tmp/out" 2>&1 || { echo "history: audit failed"; cat "$tmp/out"; exit 1; }
        commits=$(git --git-dir="$d.git" rev-list --count refs/notes/pushguard-audit.d/00000000000000aa)
        # As a CI job's fresh clone runs it: the whole history walked (no tips checked before).
        forget() { git for-each-ref --format='delete %(refname)' refs/notes/pushguard-remote/origin/checked/ | git update-ref --stdin; }
        pa() { forget; "$bin" audit --fail-on-unrecorded; }
        gl() { git log -m --format=%H --name-status refs/notes/pushguard-remote/origin/trail/pushguard-audit.d/00000000000000aa; }
        pair pa gl
        row "\`audit\`, trail of $n records in $commits notes commits, whole history walked for lost records (fresh clone; fetch included)" "$(ms "$ma")" \
            "$(ms "$mb") \`git log -m --name-status\` of that history" "**$(ratio "$ma" "$mb")**" \
            "$(forget; mib "$(rss "$bin" audit --fail-on-unrecorded)") (git $(mib "$(rss git log -m --format=%H --name-status refs/notes/pushguard-remote/origin/trail/pushguard-audit.d/00000000000000aa)"))"
        # A clone that audited before walks only what is new since the tips it checked.
        pb() { "$bin" audit --fail-on-unrecorded; }
        gn() { git notes --ref refs/notes/pushguard-remote/origin/trail/pushguard-audit.d/00000000000000aa list; }
        pair pb gn
        row "\`audit\` again in the same clone, same trail (nothing new to walk)" "$(ms "$ma")" \
            "$(ms "$mb") \`git notes list\` of that ref" "**$(ratio "$ma" "$mb")**" "$(mib "$(rss "$bin" audit --fail-on-unrecorded)")"
    done
fi
