#!/bin/sh
# Audit log costs: one append (lock, write, fsync) and `pushguard log --verify` over 100,000
# records, in release mode. BENCH_DIR chooses the disk the log is written to (default: here).
set -eu
cd "$(dirname "$0")/.."
exec cargo bench --locked --bench audit "$@"
