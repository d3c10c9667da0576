#!/usr/bin/env bash
# run.sh BUILD_DIR [ZONETALLYD_OPTION...]: zonetallyd in the foreground on ./.demo/state
# (for `make run`), from the source tree alone: no system configuration is read (the
# configuration is .demo/run.conf, written here, as the demo uses -c /dev/null), the
# registry is ./data/zones.csv and the dashboard is served from ./dashboard.
#
# Binds the default endpoints (tcp://127.0.0.1:7601 ... 7604, http://127.0.0.1:9464/), so in
# another terminal
#   BUILD_DIR/clients/zonetally-pub/zonetally-pub --generate 10000
#   BUILD_DIR/clients/zonetally/zonetally --state-dir .demo/state get 000000 --all
# show it working. Extra options go to zonetallyd (e.g. --metrics-listen 127.0.0.1:9465).
# Ctrl-C stops it cleanly; the state is kept for the next run.
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [ZONETALLYD_OPTION...]" >&2; exit 2; }
build=$1
shift
src=$(cd "$(dirname "$0")/.." && pwd)
daemon=$(find "$build" -maxdepth 4 -type f -name zonetallyd -perm -u+x 2>/dev/null | head -n 1)
if [ -z "$daemon" ]; then
	echo "run: zonetallyd not found under $build (build first: make)" >&2
	exit 1
fi

mkdir -p .demo/state
printf '# written by scripts/run.sh: the source tree'"'"'s dashboard, nothing from /etc\n[metrics]\ndashboard_dir = %s/dashboard\n' \
	"$src" >.demo/run.conf
echo "zonetallyd on ./.demo/state, dashboard on http://127.0.0.1:9464/ (Ctrl-C to stop)"
exec "$daemon" --foreground -c .demo/run.conf --state-dir .demo/state \
	--zones "$src/data/zones.csv" --log-level info "$@"
