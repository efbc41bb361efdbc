#!/usr/bin/env bash
# IMDS throughput and latency over loopback (see main.go).
set -euo pipefail
cd "$(dirname "$0")/../.."
go run ./bench/imds "$@"
