#!/usr/bin/env bash
# Server mode through real hosts (issue 20): what pushguard adds to a push through gitolite
# over ssh and through `git http-backend` behind Apache. Not run by scripts/bench.sh (it needs
# root and Debian's gitolite3, openssh-server, apache2 and apache2-utils); run it alone:
#
#   cargo build --release --locked && scripts/bench-hosting.sh [RUNS]
#
# On each host two repositories are served side by side: `gated` with pushguard's hooks
# (installed the host's way: gitolite's `option hook.<hook>`, `pushguard install` behind Apache)
# and `plain` without. Each pair pushes a new commit to `production` of both, alternately
# (`git push -o consulted=… origin HEAD:production`; gated: checks no-delete, fast-forward and
# no-wip, a confirmation from the push option, the record, the post-receive note). Printed:
# `| host | gated | ungated | ratio |`, medians of RUNS pairs (default 30). Servers listen on
# 127.0.0.1 only and are killed on exit.
set -euo pipefail
# shellcheck source=scripts/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${PUSHGUARD_BIN:-$root/target/release/pushguard}
runs=${1:-30}
[ -x "$bin" ] || { echo "bench-hosting.sh: no binary at $bin (cargo build --release --locked)" >&2; exit 2; }
[ -n "${EPOCHREALTIME:-}" ] || { echo "bench-hosting.sh: needs bash >= 5" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "bench-hosting.sh: run as root (sshd logs in as root; Apache runs CGIs as www-data)" >&2; exit 2; }
for tool in gitolite /usr/sbin/sshd /usr/sbin/apache2 htpasswd; do
    command -v "$tool" >/dev/null || { echo "bench-hosting.sh: $tool is not installed (see .ci/run)" >&2; exit 2; }
done

scratch=$(mktemp -d "${TMPDIR:-/tmp}/hosting.XXXXXX")
chmod 755 "$scratch"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
    rm -rf "$scratch"
}
trap cleanup EXIT

export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=$scratch/gitconfig NO_COLOR=1
printf '[init]\n\tdefaultBranch = main\n[user]\n\tname = Bench\n\temail = bench@example.com\n' >"$GIT_CONFIG_GLOBAL"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
start() { setsid timeout 600 "$@" >/dev/null 2>>"$scratch/servers.log" & pids+=($!); disown; }
config='[environments.production]
branches = ["production"]
confirm = true
checks = ["no-delete", "fast-forward", "no-wip"]
'

# --- gitolite behind sshd -----------------------------------------------------------------
gl=$scratch/gitolite
mkdir -p "$gl" /run/sshd
for key in admin user host; do ssh-keygen -q -t ed25519 -N "" -C "$key" -f "$scratch/$key"; done
HOME=$gl gitolite setup -pk "$scratch/admin.pub" >/dev/null 2>&1
sed -i -e 's|# LOCAL_CODE                =>  "$ENV{HOME}/local",|LOCAL_CODE                =>  "$ENV{HOME}/local",|' \
    -e "s|# 'repo-specific-hooks',|'repo-specific-hooks',|" \
    -e "s|GIT_CONFIG_KEYS                 =>  '',|GIT_CONFIG_KEYS                 =>  'receive\\\\.advertisePushOptions',|" "$gl/.gitolite.rc"
ssh_port=$(free_port)
cat >"$scratch/sshd_config" <<EOF
Port $ssh_port
ListenAddress 127.0.0.1
HostKey $scratch/host
PidFile $scratch/sshd.pid
AuthorizedKeysFile $gl/.ssh/authorized_keys
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
UsePAM no
SetEnv HOME=$gl
MaxStartups 50
EOF
start /usr/sbin/sshd -D -e -f "$scratch/sshd_config"
wait_port "$ssh_port"
ssh_as() { echo "ssh -F /dev/null -i $scratch/$1 -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"; }
gl_url="ssh://root@127.0.0.1:$ssh_port"
GIT_SSH_COMMAND=$(ssh_as admin) git clone -q "$gl_url/gitolite-admin" "$scratch/gitolite-admin" 2>/dev/null
cp "$scratch/user.pub" "$scratch/gitolite-admin/keydir/user.pub"
admin_push() {
    printf '%s\n' "repo gitolite-admin" "    RW+ = admin" "repo gated plain" "    RW+ = user" "    config receive.advertisePushOptions = true" >"$scratch/gitolite-admin/conf/gitolite.conf"
    [ "${1:-}" = hooks ] && printf '%s\n' "repo gated" "    option hook.pre-receive = pushguard-pre-receive" "    option hook.post-receive = pushguard-post-receive" >>"$scratch/gitolite-admin/conf/gitolite.conf"
    git -C "$scratch/gitolite-admin" add -A && git -C "$scratch/gitolite-admin" commit -q -m conf
    GIT_SSH_COMMAND=$(ssh_as admin) git -C "$scratch/gitolite-admin" push -q origin HEAD:master 2>/dev/null
}
admin_push
printf '%s' "$config" >"$gl/repositories/gated.git/pushguard.toml"
(cd "$gl/repositories/gated.git" && HOME=$gl "$bin" install >/dev/null 2>&1)
admin_push hooks

# --- git http-backend behind Apache ---------------------------------------------------------
srv=$scratch/srv
mkdir -p "$srv" "$scratch/apache"
for repo in gated plain; do git init -q --bare "$srv/$repo.git"; git -C "$srv/$repo.git" config receive.advertisePushOptions true; done
printf '%s' "$config" >"$srv/gated.git/pushguard.toml"
(cd "$srv/gated.git" && "$bin" install >/dev/null 2>&1)
chown -R www-data:www-data "$srv"
htpasswd -bcB "$scratch/htpasswd" user s3cret >/dev/null 2>&1
http_port=$(free_port)
modules=/usr/lib/apache2/modules
{
    printf 'ServerRoot "%s"\nServerName 127.0.0.1\nListen 127.0.0.1:%s\nPidFile %s/httpd.pid\nErrorLog %s/error.log\nUser www-data\nGroup www-data\n' \
        "$scratch/apache" "$http_port" "$scratch/apache" "$scratch/apache"
    for m in mpm_prefork authz_core authn_core authn_file auth_basic authz_user alias cgi env; do
        printf 'LoadModule %s_module %s/mod_%s.so\n' "$m" "$modules" "$m"
    done
    printf 'SetEnv GIT_PROJECT_ROOT %s\nSetEnv GIT_HTTP_EXPORT_ALL 1\nScriptAlias /git/ %s/git-http-backend/\n' "$srv" "$(git --exec-path)"
    printf '<Location /git/>\n AuthType Basic\n AuthName git\n AuthUserFile %s\n Require valid-user\n</Location>\n' "$scratch/htpasswd"
} >"$scratch/apache/httpd.conf"
start apache2 -f "$scratch/apache/httpd.conf" -DFOREGROUND
wait_port "$http_port"
http_url="http://user:s3cret@127.0.0.1:$http_port/git"

# --- the pushes -----------------------------------------------------------------------------
git init -q "$scratch/client"
cd "$scratch/client"
git commit -q --allow-empty -m "release 0"
push() { # URL REPO
    git commit -q --allow-empty -m "release"
    git push -q -o consulted=Lead "$1/$2" HEAD:production 2>/dev/null
}
export GIT_SSH_COMMAND; GIT_SSH_COMMAND=$(ssh_as user)
gl_gated() { push "$gl_url" gated; }
gl_plain() { push "$gl_url" plain; }
http_gated() { push "$http_url" gated.git; }
http_plain() { push "$http_url" plain.git; }
# Warm up, and prove the gate is there: the gated repositories recorded the pushes.
for f in gl_gated gl_plain http_gated http_plain; do "$f"; done
[ -s "$gl/repositories/gated.git/pushguard/audit.jsonl" ] && [ -s "$srv/gated.git/pushguard/audit.jsonl" ] ||
    { echo "bench-hosting.sh: a gated push left no record" >&2; cat "$scratch/servers.log" >&2; exit 1; }

echo "| host | gated push | ungated push | ratio |"
echo "|---|---|---|---|"
paired "$runs" gl_gated gl_plain
echo "| gitolite 3.6 over ssh (median of $runs pairs) | $(ms "$ma") | $(ms "$mb") | **$(ratio "$ma" "$mb")** |"
paired "$runs" http_gated http_plain
echo "| Apache 2.4 + git http-backend (median of $runs pairs) | $(ms "$ma") | $(ms "$mb") | **$(ratio "$ma" "$mb")** |"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) on $(nproc) cores"
