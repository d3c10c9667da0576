#!/usr/bin/env bash
# run.sh BUILD_DIR: zonetallyd in the foreground on ./.demo/state (for `make run`).
#
# Binds the default endpoint (tcp://127.0.0.1:7601), so in another terminal
#   BUILD_DIR/.../zonetally-pub --generate 10000 --day 2022-11-11
#   BUILD_DIR/.../zonetally --state-dir .demo/state get 000000 --day 2022-11-11
# show it working. Ctrl-C stops it cleanly; the state is kept for the next run.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build=$1
src=$(cd "$(dirname "$0")/.." && pwd)
daemon=$(find "$build" -maxdepth 4 -type f -name zonetallyd -perm -u+x 2>/dev/null | head -n 1)
if [ -z "$daemon" ]; then
	echo "run: zonetallyd not found under $build (build first: make)" >&2
	exit 1
fi

mkdir -p .demo/state
echo "zonetallyd on ./.demo/state (Ctrl-C to stop)"
exec "$daemon" --foreground --state-dir .demo/state --zones "$src/data/zones.csv" --log-level info
