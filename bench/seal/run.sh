#!/usr/bin/env bash
# Encryption at rest: 1 GiB layer Put/Copy plain and sealed between two disk
# blob stores vs cp (and cp + fsync) of the same file on the same
# filesystem. SIZE (bytes) and RUNS override the defaults.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin"
go build -o bin/sealbench ./bench/seal
./bin/sealbench -dir "${BENCH_DIR:-$PWD/bench}" -size "${SIZE:-1073741824}" -n "${RUNS:-3}"
