#!/usr/bin/env bash
# Set up and run kiln's whole test suite: unit, conformance, API tests with
# the real AWS clients, end-to-end tests, and every fuzz target briefly.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PATH:/usr/local/go/bin"
go vet ./...
CGO_ENABLED=0 go build -o bin/kiln ./cmd/kiln
# Real instances need root (CI runs as root); the Debian scenario needs the
# Debian mirror, which CI reaches.
export KILN_TEST_DEBIAN=${KILN_TEST_DEBIAN:-1}
go test -count=1 -timeout 25m ./...
FUZZTIME=${FUZZTIME:-5s} bash scripts/fuzz.sh
echo "all tests passed"
