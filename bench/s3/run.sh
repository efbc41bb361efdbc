#!/usr/bin/env bash
# Issue 6 benchmark: kiln's S3 — 1 GiB PUT/GET vs cp on the same filesystem,
# peak extra RSS during the transfers, 1 KiB PUT/GET req/s under concurrent
# load. SIZE (bytes), CONC and DUR override the defaults.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin"
CGO_ENABLED=0 go build -o bin/kiln ./cmd/kiln
go build -o bin/s3bench ./bench/s3
tmp=$(mktemp -d "${BENCH_DIR:-$PWD/bench}/.s3bench.XXXXXX"); pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
PORT=45671
./bin/kiln accounts create bench --account-id 123456789012 --access-key-id BENCHKEY --secret-access-key BENCHSECRET --data-dir "$tmp/kiln" >/dev/null
./bin/kiln up --data-dir "$tmp/kiln" --listen 127.0.0.1:$PORT --log-level warn --instances=false >"$tmp/kiln.out" 2>&1 & pid=$!
for _ in $(seq 1 200); do curl -fs -o /dev/null http://127.0.0.1:$PORT/_kiln/health && break; sleep 0.05; done
./bin/s3bench -endpoint http://127.0.0.1:$PORT -dir "$tmp" -pid "$pid" -size "${SIZE:-1073741824}" -c "${CONC:-16}" -d "${DUR:-5s}"
