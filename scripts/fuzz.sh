#!/usr/bin/env bash
# Runs every Go fuzz target in the repository for $FUZZTIME (default 5s).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
t=${FUZZTIME:-5s}
grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(' . | sort | while read -r f; do
	dir=$(dirname "$f")
	for name in $(grep -oE '^func Fuzz[A-Za-z0-9_]+' "$f" | sed 's/^func //'); do
		echo "fuzz: $dir $name ($t)"
		go test -run='^$' -fuzz="^${name}\$" -fuzztime="$t" "$dir" >/dev/null || {
			echo "fuzz: $dir $name FAILED" >&2
			go test -run='^$' -fuzz="^${name}\$" -fuzztime="$t" "$dir" | tail -30 >&2
			exit 1
		}
	done
done
