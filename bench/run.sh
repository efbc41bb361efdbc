#!/usr/bin/env bash
# Runs every benchmark in bench/.
set -euo pipefail
cd "$(dirname "$0")"
bash api/run.sh
if [ -x toe/run.sh ]; then bash toe/run.sh; fi
bash s3/run.sh
bash seal/run.sh
if [ "$(id -u)" = 0 ]; then bash instances/run.sh; else echo "bench/instances skipped: needs root"; fi
if [ "$(id -u)" = 0 ]; then bash ebs/run.sh; else echo "bench/ebs skipped: needs root"; fi
