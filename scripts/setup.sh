#!/usr/bin/env bash
# Installs what kiln and its tests need on a fresh Debian machine (as root):
# the Debian packages in scripts/apt-packages.txt, and checks for Go >= 1.26.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
while read -r pkg; do
	pkg=${pkg%%#*}; pkg=$(echo "$pkg" | xargs)
	[ -z "$pkg" ] && continue
	dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done < scripts/apt-packages.txt
python3 -c 'import boto3' 2>/dev/null || need+=(python3-boto3)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "setup: need root to install: ${need[*]}" >&2
		exit 1
	fi
	echo "setup: installing ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

export PATH="$PATH:/usr/local/go/bin:$HOME/go/bin"
if ! command -v go >/dev/null; then
	echo "setup: Go 1.26 or newer is required (https://go.dev/dl/); not found in PATH or /usr/local/go" >&2
	exit 1
fi
