#!/usr/bin/env bash
# Issue 2 benchmark: DescribeKeyPairs (10 key pairs) under wrk, 8 connections,
# replaying one signed request, against kiln and moto_server in the same run;
# plus kiln's start-up time on an existing data dir and its idle RSS.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin"
DUR=${DUR:-10s}
command -v wrk >/dev/null || { echo "wrk missing: bash scripts/setup.sh" >&2; exit 1; }
CGO_ENABLED=0 go build -o bin/kiln ./cmd/kiln
tmp=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

wait_http() { for _ in $(seq 1 200); do curl -fs -o /dev/null "$1" && return 0; sleep 0.05; done; echo "timeout: $1" >&2; return 1; }

KPORT=45661 MPORT=45662
./bin/kiln accounts create bench --account-id 123456789012 --access-key-id BENCHKEY --secret-access-key BENCHSECRET --data-dir "$tmp/kiln" >/dev/null
./bin/kiln up --data-dir "$tmp/kiln" --listen 127.0.0.1:$KPORT --log-level warn --instances=false >"$tmp/kiln.out" 2>&1 & pids+=($!)
wait_http http://127.0.0.1:$KPORT/_kiln/health
python3 bench/api/signed_request.py http://127.0.0.1:$KPORT BENCHKEY BENCHSECRET yes >"$tmp/kiln.lua"

moto_server -p $MPORT >"$tmp/moto.out" 2>&1 & pids+=($!)
wait_http http://127.0.0.1:$MPORT/moto-api/ || true
python3 bench/api/signed_request.py http://127.0.0.1:$MPORT testing testing yes >"$tmp/moto.lua"

rate() { wrk -t2 -c8 -d"$DUR" -s "$2" "$1" | tee "$tmp/last" | awk '/Requests\/sec/ {print $2}'; }
k=$(rate http://127.0.0.1:$KPORT/ "$tmp/kiln.lua"); grep -q "non2xx=0" "$tmp/last" || { echo "kiln answered non-2xx:"; cat "$tmp/last"; exit 1; }
kp99=$(awk '/Latency/ {print $2}' "$tmp/last")
m=$(rate http://127.0.0.1:$MPORT/ "$tmp/moto.lua"); grep -q "non2xx=0" "$tmp/last" || { echo "moto answered non-2xx:"; cat "$tmp/last"; exit 1; }

# Start-up on the existing data dir, and idle RSS.
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
t0=$(date +%s%N)
./bin/kiln up --data-dir "$tmp/kiln" --listen 127.0.0.1:$KPORT --log-level warn --instances=false >"$tmp/kiln2.out" 2>&1 & pids+=($!)
for _ in $(seq 1 2000); do curl -fs -o /dev/null http://127.0.0.1:$KPORT/_kiln/health && break; sleep 0.002; done
t1=$(date +%s%N)
sleep 2
rss=$(awk '/VmRSS/ {print $2}' /proc/${pids[-1]}/status)

printf '\n%-44s %12s\n' "DescribeKeyPairs, 10 key pairs, wrk -c8" "req/s"
printf '%-44s %12s   (mean latency %s)\n' "kiln" "$k" "$kp99"
printf '%-44s %12s\n' "moto_server (same run)" "$m"
awk -v k="$k" -v m="$m" 'BEGIN { printf "%-44s %11.1fx   (goal >= 50x; target >= 5000 req/s)\n", "ratio kiln/moto", k/m }'
printf '%-44s %9d ms   (target < 1000 ms)\n' "kiln up ready on an existing data dir" $(( (t1 - t0) / 1000000 ))
printf '%-44s %9d MB   (target < 60 MB)\n' "kiln idle RSS" $(( rss / 1024 ))
