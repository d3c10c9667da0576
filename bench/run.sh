#!/usr/bin/env bash
# bench/run.sh BUILD_DIR [--quick]: end-to-end ingest throughput against its raw ceiling.
#
# Three figures, each the median of 3 runs (min and max shown):
#   raw      bench/raw_pubsub: the ingest socket pair (XPUB connect -> SUB bind, TCP
#            loopback) with the same two-frame messages and no processing: the ceiling;
#   ordered  zonetallyd fed by `zonetally-pub --generate N` with time-ordered event ids;
#   random   the same with --random-ids (dedup inserts scattered over the B-tree).
# A daemon figure is committed events/s (durable commits), from the publisher's start to
# the moment `zonetally stats` reports all N received, polled every few milliseconds; each
# run uses a fresh state dir under BENCH_DIR (default TMPDIR), so its file system counts.
set -euo pipefail

usage() {
	echo "usage: $0 BUILD_DIR [--quick|--monitor]   (Release build; BENCH_DIR=dir for the state dirs)" >&2
	exit 2
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
build=$1
n=2000000
only_monitor=
if [ $# -eq 2 ]; then
	case $2 in
	--quick) n=200000 ;;
	--monitor) only_monitor=1 ;; # only the monitoring figures (see monitor_figures)
	*) usage ;;
	esac
fi
src=$(cd "$(dirname "$0")/.." && pwd)
runs=3
base=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/zonetally-bench.XXXXXX")
pid=

cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$base"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "bench: $*" >&2
	exit 1
}

find_bin() {
	local p
	p=$(find "$build" -maxdepth 4 -type f -name "$1" -perm -u+x 2>/dev/null | head -n 1)
	[ -n "$p" ] || fail "$1 not found under $build (make bench builds it)"
	printf '%s\n' "$p"
}

[ -n "$only_monitor" ] || raw=$(find_bin raw_pubsub)
daemon=$(find_bin zonetallyd)
cli=$(find_bin zonetally)
pub=$(find_bin zonetally-pub)
btype=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
[ "$btype" = Release ] || echo "bench: warning: $build is a '$btype' build, not Release" >&2

now() { date +%s.%N; }

received() {
	"$cli" --state-dir "$1" stats --json 2>/dev/null |
		grep -o '"received": *[0-9]*' | head -n 1 | grep -o '[0-9]*$' || echo 0
}

# raw_run: one ceiling measurement, msgs/s.
raw_run() {
	"$raw" "$n" 70 | sed -n 's/^throughput: \([0-9.]*\) .*/\1/p'
}

# daemon_run [PUB FLAGS...]: one end-to-end measurement on a fresh state dir, events/s.
daemon_run() {
	local state log t0 t1 deadline got endpoint
	state=$(mktemp -d "$base/run.XXXXXX")
	log=$state/zonetallyd.log
	"$daemon" --foreground -c /dev/null --state-dir "$state" --zones "$src/data/zones.csv" \
		--sub-bind 'tcp://127.0.0.1:*' \
		--router-bind 'tcp://127.0.0.1:*' --feed-bind 'tcp://127.0.0.1:*' \
		--query-bind 'tcp://127.0.0.1:*' --metrics-listen 127.0.0.1:0 --log-level warning >"$log" 2>&1 &
	pid=$!
	deadline=$((SECONDS + 30))
	until [ -s "$state/zonetallyd.endpoints" ]; do
		kill -0 "$pid" 2>/dev/null || fail "zonetallyd exited: $(tail -n 5 "$log")"
		[ $SECONDS -lt $deadline ] || fail "zonetallyd not ready after 30 s"
		sleep 0.01
	done
	endpoint=$(awk '$1 == "sub" { print $2; exit }' "$state/zonetallyd.endpoints")
	t0=$(now)
	"$pub" --endpoint "$endpoint" --generate "$n" --day 2022-11-11 --seed 1 "$@" \
		2>"$state/pub.log" || fail "zonetally-pub failed: $(cat "$state/pub.log")"
	deadline=$((SECONDS + 900))
	while got=$(received "$state") && [ "$got" -lt "$n" ]; do
		[ $SECONDS -lt $deadline ] || fail "$got of $n committed after 900 s"
		sleep 0.002
	done
	t1=$(now)
	kill -TERM "$pid"
	wait "$pid" || fail "zonetallyd exited with status $? after SIGTERM"
	pid=
	rm -rf "$state"
	awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f\n", n / (b - a) }'
}

# summary FIGURES...: "median min max" of the runs.
summary() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)], v[1], v[NR] }'
}

measure() {
	local fn=$1 label=$2 i vals=()
	shift 2
	for ((i = 1; i <= runs; i++)); do
		[ ! -t 2 ] || printf '  %s, run %d/%d...\r' "$label" "$i" "$runs" >&2
		vals+=("$("$fn" "$@")")
		[ -n "${vals[-1]}" ] || fail "$label run $i produced no figure"
	done
	[ ! -t 2 ] || printf '%60s\r' '' >&2
	summary "${vals[@]}"
}

# monitor_figures: the monitoring side (issue 4), on one daemon holding 200,000 events of
# today: zt_reader_total() beside a raw mdb_get() in the same process, a remote get over
# the query socket, and the feed latency from publishing an event to a watcher receiving
# its TotalsUpdate (batch wait and fsync included).
monitor_figures() {
	local state log sub query
	state=$(mktemp -d "$base/monitor.XXXXXX")
	log=$state/zonetallyd.log
	printf '[validation]\nfuture_tolerance_s = 90000\n' >"$state/bench.conf"
	"$daemon" --foreground -c "$state/bench.conf" --state-dir "$state" \
		--zones "$src/data/zones.csv" --sub-bind 'tcp://127.0.0.1:*' \
		--feed-bind 'tcp://127.0.0.1:*' --query-bind 'tcp://127.0.0.1:*' \
		--router-bind 'tcp://127.0.0.1:*' --metrics-listen 127.0.0.1:0 --log-level warning >"$log" 2>&1 &
	pid=$!
	until [ -s "$state/zonetallyd.endpoints" ]; do
		kill -0 "$pid" 2>/dev/null || fail "zonetallyd exited: $(tail -n 5 "$log")"
		sleep 0.01
	done
	sub=$(awk '$1 == "sub" { print $2; exit }' "$state/zonetallyd.endpoints")
	query=$(awk '$1 == "query" { print $2; exit }' "$state/zonetallyd.endpoints")
	"$pub" --endpoint "$sub" --generate 200000 --day "$(TZ=Asia/Shanghai date +%F)" \
		--seed 1 2>/dev/null || fail "zonetally-pub failed"
	while [ "$(received "$state")" -lt 200000 ]; do sleep 0.05; done
	echo
	echo "monitoring benchmark (one daemon, 200,000 events of today)"
	"$monitor" reader "$state" 2000000
	"$monitor" remote "$query" 20000
	"$monitor" feed "$sub" "$query" 300
	kill -TERM "$pid"
	wait "$pid" || true
	pid=
}

monitor=$(find_bin monitor)
if [ -n "$only_monitor" ]; then
	monitor_figures
	exit 0
fi

echo "zonetally ingest benchmark: $n events per run, median of $runs runs"
read -r raw_med raw_min raw_max < <(measure raw_run "raw ZeroMQ ceiling")
read -r ord_med ord_min ord_max < <(measure daemon_run "zonetallyd, ordered ids")
read -r rnd_med rnd_min rnd_max < <(measure daemon_run "zonetallyd, random ids" --random-ids)

# fmt N: thousands separators, independent of the locale.
fmt() { printf '%s' "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }
row() {
	printf "%-34s %14s  %-25s %14s  %5.2f\n" "$1" \
		"$(fmt "$2")" "($(fmt "$3") .. $(fmt "$4"))" "$(fmt "$raw_med")" \
		"$(awk -v a="$2" -v b="$raw_med" 'BEGIN { print a / b }')"
}

printf "\n%-34s %14s  %-25s %14s  %5s\n" "figure" "value [ev/s]" "(min .. max)" \
	"ceiling [ev/s]" "ratio"
row "raw ZeroMQ PUB->SUB (no processing)" "$raw_med" "$raw_min" "$raw_max"
row "zonetallyd, time-ordered ids" "$ord_med" "$ord_min" "$ord_max"
row "zonetallyd, random ids" "$rnd_med" "$rnd_min" "$rnd_max"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
printf '\nmachine: %s, %s cores, state dir on %s (%s)\n' "${cpu:-unknown CPU}" "$(nproc)" \
	"$(stat -f -c %T "$base")" "$base"
monitor_figures
