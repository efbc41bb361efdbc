#!/usr/bin/env bash
# Issue 4 image benchmark (see main.go): CreateImage of 10/100/1000 MB of
# changes, of an unchanged instance, and CopyImage of the 1000 MB image to
# another region plain and encrypted, against cp + fsync of the same bytes
# on the same filesystem in the same run. As root.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin"
[ "$(id -u)" = 0 ] || { echo "bench/ebs: run as root" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
CGO_ENABLED=0 go build -o "$tmp/kiln" ./cmd/kiln
go build -o "$tmp/ebs" ./bench/ebs
"$tmp/ebs" -init "$tmp/kiln" "$@"
