#!/usr/bin/env bash
# Issue 3 instance benchmark (see main.go): launches, user data, 50
# concurrent launches, IMDS from inside an instance's namespace, memory per
# idle instance, against runc/ctr anchors measured in the same run. As root.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin"
[ "$(id -u)" = 0 ] || { echo "bench/instances: run as root" >&2; exit 1; }
for bin in containerd runc busybox nsenter nft; do
	command -v "$bin" >/dev/null || { echo "bench/instances: $bin missing: bash scripts/setup.sh" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
CGO_ENABLED=0 go build -o "$tmp/kiln" ./cmd/kiln # PID 1 of the instances: static
go build -o "$tmp/instances" ./bench/instances
"$tmp/instances" -init "$tmp/kiln" "$@"
