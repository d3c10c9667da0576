#!/usr/bin/env bash
# demo.sh BUILD_DIR: a synthetic 11 November 2022 through the real daemon, for a person to read.
#
# Starts zonetallyd on a temporary state dir (removed on exit), publishes DEMO_EVENTS
# (default 1,000,000) generated declarations with zonetally-pub, waits until the daemon has
# committed every one, prints the national totals, the top 10 zones, the province table and
# the measured ingest rate, then stops the daemon with SIGTERM. The daemon's log goes to a
# file and is shown only if something fails.
set -euo pipefail

usage() {
	echo "usage: $0 BUILD_DIR   (DEMO_EVENTS=N for another number of events)" >&2
	exit 2
}

[ $# -eq 1 ] || usage
build=$1
src=$(cd "$(dirname "$0")/.." && pwd)
events=${DEMO_EVENTS:-1000000}
day=2022-11-11
case $events in '' | *[!0-9]* | 0) usage ;; esac

# find_bin NAME: the executable NAME in the build tree (its subdirectory is the owner's choice).
find_bin() {
	local p
	p=$(find "$build" -maxdepth 4 -type f -name "$1" -perm -u+x 2>/dev/null | head -n 1)
	[ -n "$p" ] || { echo "demo: $1 not found under $build (build first: make)" >&2; exit 1; }
	printf '%s\n' "$p"
}

daemon=$(find_bin zonetallyd)
cli=$(find_bin zonetally)
pub=$(find_bin zonetally-pub)
state=$(mktemp -d "${TMPDIR:-/tmp}/zonetally-demo.XXXXXX")
log=$state/zonetallyd.log
pid=

cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# fail MESSAGE: explains, shows the end of the daemon log, exits non-zero (cleanup runs).
fail() {
	echo "demo: $*" >&2
	if [ -s "$log" ]; then
		echo "--- last lines of the daemon log ---" >&2
		tail -n 20 "$log" >&2
	fi
	exit 1
}

now() { date +%s.%N; }

# received: the daemon's committed message count, read from the store.
received() {
	"$cli" --state-dir "$state" stats --json 2>/dev/null |
		grep -o '"received": *[0-9]*' | head -n 1 | grep -o '[0-9]*$' || echo 0
}

start_daemon() {
	"$daemon" --foreground -c /dev/null --state-dir "$state" --zones "$src/data/zones.csv" \
		--sub-bind 'tcp://127.0.0.1:*' \
		--router-bind 'tcp://127.0.0.1:*' --feed-bind 'tcp://127.0.0.1:*' \
		--query-bind 'tcp://127.0.0.1:*' --metrics-listen 127.0.0.1:0 --log-level info >"$log" 2>&1 &
	pid=$!
	local deadline=$((SECONDS + 30))
	until [ -s "$state/zonetallyd.endpoints" ]; do
		kill -0 "$pid" 2>/dev/null || { pid=; fail "zonetallyd exited during start-up"; }
		[ $SECONDS -lt $deadline ] || fail "zonetallyd not ready after 30 s"
		sleep 0.02
	done
	endpoint=$(awk '$1 == "sub" { print $2; exit }' "$state/zonetallyd.endpoints")
}

# publish_and_wait: sends the synthetic day, then waits for the last commit.
publish_and_wait() {
	t0=$(now)
	"$pub" --endpoint "$endpoint" --generate "$events" --day "$day" --seed 20221111 \
		--dup-ratio 0.01 --kind-mix 0.005 2>"$state/pub.log" || fail "zonetally-pub failed: $(cat "$state/pub.log")"
	local deadline=$((SECONDS + 600)) n=0
	while n=$(received) && [ "$n" -lt "$events" ]; do
		kill -0 "$pid" 2>/dev/null || { pid=; fail "zonetallyd died while ingesting"; }
		[ $SECONDS -lt $deadline ] || fail "only $n of $events events committed after 600 s"
		sleep 0.01
	done
	t1=$(now)
}

heading() { printf '\n== %s ==\n' "$*"; }

# counts a person reads get thousands separators, as the CLI prints them
thousands() { printf '%s' "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }
echo "zonetally demo: $(thousands "$events") messages of Singles' Day, $day (CST),"
echo "with 1 % resent by the publisher and 0.5 % cancellations or returns"
start_daemon
echo "daemon ready on $endpoint; publishing..."
publish_and_wait

heading "National totals, $day"
"$cli" --state-dir "$state" get 000000 --day "$day"
heading "Top 10 zones by total value, $day"
"$cli" --state-dir "$state" top --by total -n 10 --day "$day"
heading "Provinces, $day"
"$cli" --state-dir "$state" provinces --day "$day"
heading "What the daemon saw"
"$cli" --state-dir "$state" stats
heading "Ingest"
awk -v n="$events" -v a="$t0" -v b="$t1" 'BEGIN { s = b - a
	printf "%d messages committed in %.2f s: %.0f events/s", n, s, n / s
	print " (first send to last commit)" }' |
	sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'

kill -TERM "$pid"
wait "$pid" || fail "zonetallyd exited with status $? after SIGTERM"
pid=
echo "daemon stopped cleanly."
