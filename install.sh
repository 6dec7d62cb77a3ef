#!/bin/sh
# Builds and installs pushguard, then installs the pre-push hook when run inside a git clone.
set -eu

if ! command -v cargo >/dev/null 2>&1; then
    echo "install.sh: cargo is not installed; install Rust from https://rustup.rs, then run ./install.sh again" >&2
    exit 1
fi

here=$(cd "$(dirname "$0")" && pwd)
echo "install.sh: building and installing pushguard (cargo install --path . --locked); the first build takes a few minutes" >&2
# cargo's own progress stays visible: a silent multi-minute build looks like a hang.
cargo install --path "$here" --locked --force

bin_dir=${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin
pushguard=$bin_dir/pushguard
if [ ! -x "$pushguard" ]; then
    pushguard=$(command -v pushguard || true)
fi
if [ -z "$pushguard" ] || [ ! -x "$pushguard" ]; then
    echo "install.sh: pushguard was built but cannot be found in $bin_dir or on PATH" >&2
    exit 1
fi
echo "install.sh: installed $pushguard" >&2

if git rev-parse --git-dir >/dev/null 2>&1; then
    "$pushguard" install
    echo "install.sh: done. Pushes to environment branches in this clone now go through the gate." >&2
    echo "install.sh: next: \`pushguard config\` shows the environments; \`pushguard init\` writes a .pushguard.toml for this repository." >&2
else
    echo "install.sh: not inside a git clone, so no hook was installed." >&2
    echo "install.sh: next: run \`pushguard install\` in each clone you push from." >&2
fi
case ":$PATH:" in
    *":$bin_dir:"*) ;;
    *) echo "install.sh: note: $bin_dir is not on your PATH; the hook uses the absolute path, but add it to run \`pushguard\` yourself." >&2 ;;
esac
