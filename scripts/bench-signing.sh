#!/usr/bin/env bash
# Signed attestations (issue 11): what signing costs a gated push, how many ssh-keygen
# processes a gated push starts, and in-process signature verification against one
# `ssh-keygen -Y verify` process. Run by scripts/bench.sh (PUSHGUARD_BIN, BENCH_DIR,
# BENCH_RUNS set); prints `| section | measured | baseline | ratio | peak RSS |` rows.
#
#   signed push   `git push` to production (gated: no-delete, approvals = 1 with a signed
#                 approval, signatures required), signing key configured, vs the same gated
#                 push from a clone with no signing key and signatures not required
#   processes     ssh-keygen processes started by one signed gated push (a PATH wrapper counts)
#   sign          one `ssh-keygen -Y sign` alone, as a share of the signed gated push
#   verify        one record signature verified by pushguard (in process; from `pushguard log`
#                 over 1,000 signed records, minus the same log read without allowed signers)
#                 vs one `ssh-keygen -Y verify` of the same signature
set -euo pipefail
# shellcheck source=scripts/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${PUSHGUARD_BIN:-$root/target/release/pushguard}
[ -x "$bin" ] || { echo "bench-signing.sh: no binary at $bin" >&2; exit 2; }
[ -n "${EPOCHREALTIME:-}" ] || { echo "bench-signing.sh: needs bash >= 5" >&2; exit 2; }
command -v ssh-keygen >/dev/null || { echo "== bench-signing.sh: no ssh-keygen, skipped"; exit 0; }
runs=${BENCH_RUNS:-300}
push_runs=$(( runs / 10 > 10 ? runs / 10 : 10 ))
scratch=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/signing.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

export HOME=$scratch/home GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=$scratch/home/.gitconfig
export NO_COLOR=1 PUSHGUARD_NONINTERACTIVE=1
unset SSH_AUTH_SOCK
mkdir -p "$HOME"
: >"$GIT_CONFIG_GLOBAL"

rss() { /usr/bin/time -f %M -o "$scratch/rss" "$@" >/dev/null 2>&1 || true; tail -1 "$scratch/rss"; }

ssh-keygen -q -t ed25519 -N "" -C pat -f "$scratch/pat"
ssh-keygen -q -t ed25519 -N "" -C ada -f "$scratch/ada"
git init -q --bare "$scratch/remote.git"
git init -q -b main "$scratch/signed"
cd "$scratch/signed"
git config user.name Pat; git config user.email pat@example.com
git remote add origin "$scratch/remote.git"
printf 'pat@example.com %s\nada@example.com %s\n' "$(cat "$scratch/pat.pub")" "$(cat "$scratch/ada.pub")" >.allowed_signers
cat >.pushguard.toml <<'EOF'
[environments.production]
branches = ["production"]
checks = ["no-delete", "approvals"]
approvals = 1
confirm = false

[team]
fetch_notes = false

[trust]
allowed_signers = ".allowed_signers"
require_signatures = true
EOF
git add -A; git commit -q -m "release"
git push -q --no-verify origin HEAD:feature
"$bin" install >/dev/null 2>&1
git config gpg.format ssh; git config user.signingKey "$scratch/pat"
# Ada's signed approval, from her clone.
git clone -q "$scratch/remote.git" "$scratch/ada-clone" 2>/dev/null
(cd "$scratch/ada-clone" && git config user.name Ada && git config user.email ada@example.com &&
    git config gpg.format ssh && git config user.signingKey "$scratch/ada" &&
    "$bin" approve origin/feature --env production >/dev/null 2>&1)
git fetch -q origin "+refs/notes/pushguard-approvals:refs/notes/pushguard-approvals"

# The unsigned side: the same gated push (approvals = 1 from Ada's note), no key, not required.
git clone -q "$scratch/remote.git" "$scratch/plain" 2>/dev/null
cd "$scratch/plain"
git config user.name Pat; git config user.email pat@example.com
git checkout -q feature
sed -i -e "s/^require_signatures = true/require_signatures = false/" -e "/^allowed_signers/d" .pushguard.toml
git fetch -q origin "+refs/notes/pushguard-approvals:refs/notes/pushguard-approvals"
"$bin" install >/dev/null 2>&1

reset() { git --git-dir="$scratch/remote.git" update-ref -d refs/heads/production 2>/dev/null || true; }
push_signed() { reset; git -C "$scratch/signed" push -q origin HEAD:production 2>/dev/null; }
push_plain() { reset; git -C "$scratch/plain" push -q origin HEAD:production 2>/dev/null; }
push_signed || { echo "bench-signing.sh: the signed gated push failed" >&2; reset; git -C "$scratch/signed" push origin HEAD:production; exit 2; }
push_plain || { echo "bench-signing.sh: the unsigned gated push failed" >&2; exit 2; }
for _ in 1 2 3; do push_signed; push_plain; done
paired "$push_runs" push_signed push_plain
sa=$ma sb=$mb
reset
rss_signed=$(rss git -C "$scratch/signed" push -q origin HEAD:production)
reset
rss_plain=$(rss git -C "$scratch/plain" push -q origin HEAD:production)
echo "| gated \`git push\` to production, signed record + verified signed approval (median of $push_runs) | $(ms "$sa") | $(ms "$sb") same gated push, no signing | **$(ratio "$sa" "$sb")** | $rss_signed KiB (baseline $rss_plain KiB) |"

# How many ssh-keygen processes one signed gated push starts.
mkdir -p "$scratch/wrap"
real=$(command -v ssh-keygen)
printf '#!/bin/sh\necho "$*" >>"%s/calls"\nexec "%s" "$@"\n' "$scratch" "$real" >"$scratch/wrap/ssh-keygen"
chmod +x "$scratch/wrap/ssh-keygen"
: >"$scratch/calls"
reset
PATH=$scratch/wrap:$PATH git -C "$scratch/signed" push -q origin HEAD:production 2>/dev/null
calls=$(wc -l <"$scratch/calls")
echo "| ssh-keygen processes per signed gated push (wrapper count: $(tr '\n' ';' <"$scratch/calls" | cut -c1-60)) | $calls | 0 without signing | - | - |"

# The process signing adds, alone: one `ssh-keygen -Y sign` of a record-sized payload.
head -c 900 /dev/zero | tr '\0' x >"$scratch/record-sized"
keygen_sign() { ssh-keygen -Y sign -n pushguard-record -f "$scratch/pat" <"$scratch/record-sized" >/dev/null 2>&1; }
no_op() { :; }
paired 50 keygen_sign no_op
echo "| one \`ssh-keygen -Y sign\` of a 900-byte record (the process signing adds; median of 50) | $(ms "$ma") | $(ms "$sa") the gated push above | $(python3 -c "print(f'{$ma / $sa:.3f}')") | - |"

# Verification: 1,000 copies of one signed record, read by `pushguard log` with and without
# the allowed signers; per record, against one `ssh-keygen -Y verify`.
cd "$scratch/signed"
line=$(tail -n 1 .git/pushguard/audit.jsonl)
for _ in $(seq 1000); do printf '%s\n' "$line"; done >"$scratch/audit-1000.jsonl"
cp "$scratch/audit-1000.jsonl" .git/pushguard/audit.jsonl
log_checked() { "$bin" log >/dev/null 2>&1; }
log_unchecked() { PUSHGUARD_CONFIG=$scratch/none.toml "$bin" log >/dev/null 2>&1; }
: >"$scratch/none.toml"
"$bin" log 2>/dev/null | grep "pat@example.com" >/dev/null || { echo "bench-signing.sh: log did not verify the records" >&2; exit 2; }
paired 20 log_checked log_unchecked
per_record=$(python3 -c "print(($ma - $mb) / 1000)")
body="${line%%,\"prev\":*}}"
printf '%s' "$body" >"$scratch/payload"
sig=$(python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["signature"])' <<<"$line")
{ echo "-----BEGIN SSH SIGNATURE-----"; printf '%s\n' "$sig" | fold -w 70; echo "-----END SSH SIGNATURE-----"; } >"$scratch/payload.sig"
keygen_verify() {
    ssh-keygen -Y verify -f .allowed_signers -I pat@example.com -n pushguard-record \
        -s "$scratch/payload.sig" <"$scratch/payload" >/dev/null 2>&1
}
keygen_verify || { echo "bench-signing.sh: ssh-keygen does not verify the record" >&2; exit 2; }
nothing() { :; }
paired 50 keygen_verify nothing
echo "| one record signature verified in process (from 1,000 by \`pushguard log\`) | $(ms "$per_record") | $(ms "$ma") one \`ssh-keygen -Y verify\` | **$(ratio "$per_record" "$ma")** | - |"
