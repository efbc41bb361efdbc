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
		# Keep the failing run's own output: a re-run explores other inputs
		# and may well pass. The failing input is saved under testdata/fuzz.
		if ! out=$(go test -run='^$' -fuzz="^${name}\$" -fuzztime="$t" "$dir" 2>&1); then
			echo "fuzz: $dir $name FAILED" >&2
			printf '%s\n' "$out" | tail -40 >&2
			exit 1
		fi
	done
done
