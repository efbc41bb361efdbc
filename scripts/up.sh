#!/usr/bin/env bash
# Set up, build and start kiln on its embedded defaults. Extra arguments go
# to `kiln up` (e.g. --listen 0.0.0.0:4566 --data-dir /var/lib/kiln).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PATH:/usr/local/go/bin"
CGO_ENABLED=0 go build -o bin/kiln ./cmd/kiln
exec ./bin/kiln up "$@"
