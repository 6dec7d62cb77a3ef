#!/bin/sh
# Installs the hook managers that the integration tests run for real (tests/managers.rs),
# at pinned versions, into target/managers/ (or $PUSHGUARD_TEST_MANAGERS): pre-commit and
# prek from PyPI into a virtualenv, husky and lefthook from npm. Running it again with the
# same versions does nothing. Every npm package is installed with --ignore-scripts: lefthook's
# install script would run `lefthook install`, and husky 4's would write its hooks into the
# git repository that npm was started in (it finds it from INIT_CWD), i.e. this one. The
# tests run husky 4's install script themselves, in their temp clone (`npm rebuild husky`).
set -eu
cd "$(dirname "$0")/.."

PRE_COMMIT_VERSION=4.7.0
PREK_VERSION=0.5.11
HUSKY_VERSION=9.1.7
HUSKY8_VERSION=8.0.3   # the v5–v8 layout (core.hooksPath = .husky, _/husky.sh)
HUSKY4_VERSION=4.3.8   # the v4 layout (hooks in package.json, stubs in .git/hooks)
LEFTHOOK_VERSION=2.2.2

dir=${PUSHGUARD_TEST_MANAGERS:-target/managers}
stamp="$dir/versions"
want="pre-commit $PRE_COMMIT_VERSION, prek $PREK_VERSION, husky $HUSKY_VERSION, $HUSKY8_VERSION and $HUSKY4_VERSION, lefthook $LEFTHOOK_VERSION"
# The tests look for these; a stamp without them (an older layout) installs again.
installed() {
    for f in venv/bin/pre-commit venv/bin/prek npm/node_modules/.bin/husky \
        npm/node_modules/.bin/lefthook npm-husky8/node_modules/.bin/husky \
        npm-husky4/node_modules/husky/husky.js; do
        [ -e "$dir/$f" ] || return 1
    done
    # A virtualenv records its own path: one that was moved or copied no longer runs.
    "$dir/venv/bin/pre-commit" --version >/dev/null 2>&1 || return 1
}
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && installed; then
    echo "hook managers already in $dir: $want"
    exit 0
fi
mkdir -p "$dir"
rm -f "$stamp"

if command -v python3 >/dev/null 2>&1; then
    # A moved or copied virtualenv's scripts point at its old path: make it anew.
    "$dir/venv/bin/pip" --version >/dev/null 2>&1 || { rm -rf "$dir/venv"; python3 -m venv "$dir/venv"; }
    "$dir/venv/bin/pip" install -q --disable-pip-version-check \
        "pre-commit==$PRE_COMMIT_VERSION" "prek==$PREK_VERSION"
else
    echo "install-managers: python3 not found: the pre-commit and prek tests will be skipped" >&2
fi
if command -v npm >/dev/null 2>&1; then
    mkdir -p "$dir/npm"
    npm install -s --ignore-scripts --no-audit --no-fund --no-save --prefix "$dir/npm" \
        "husky@$HUSKY_VERSION" "lefthook@$LEFTHOOK_VERSION"
    # Its own prefix: both huskies install a `husky` command.
    mkdir -p "$dir/npm-husky8"
    npm install -s --ignore-scripts --no-audit --no-fund --no-save --prefix "$dir/npm-husky8" \
        "husky@$HUSKY8_VERSION"
    # husky 4: its own prefix too; HUSKY_SKIP_INSTALL in case scripts run after all.
    mkdir -p "$dir/npm-husky4"
    HUSKY_SKIP_INSTALL=1 npm install -s --ignore-scripts --no-audit --no-fund --no-save \
        --prefix "$dir/npm-husky4" "husky@$HUSKY4_VERSION"
else
    echo "install-managers: npm not found: the husky and lefthook tests will be skipped" >&2
fi
echo "$want" > "$stamp"
echo "hook managers installed in $dir: $want"
