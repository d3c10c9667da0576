#!/usr/bin/env bash
# bench/run.sh BUILD_DIR [--quick] [--only SCENARIO,...]: issue 7's benchmark, one table.
#
# Every scenario runs the real binaries of BUILD_DIR (a Release build: `make bench`) on
# fresh state dirs under BENCH_DIR (default TMPDIR), and the raw ceilings it is compared
# with are measured in the same run (bench/raw_*.c: libzmq, protobuf-c, LMDB alone). Each
# figure is the median of `runs` runs, with min and max. Scenarios (lib.sh, scenarios.sh):
#   ceilings   raw PUB/SUB (and the load generator into a raw SUB), protobuf-c, LMDB
#   ordered    SUB path, time-ordered ids, committed events/s
#   random     SUB path, random ids into a store already holding PRE_RND ids
#   acked      acknowledged path, window 10k: acked events/s, ack latency
#   steady     a paced load: latency to the durable commit, daemon RSS
#   big        SUB path, time-ordered ids into a store holding PRE_BIG ids
#   monitor    zt_reader get vs raw mdb_get, remote get, feed latency
#   callgrind  instructions per event of decode + validate + apply
#   hostile    issue 13's hostile batch shapes beside the ordered reference (own table)
#   isolation  issue 14: ingest alone, then beside each misbehaving client (own table)
# --quick: small sizes, one run each: a smoke test of seconds that fails on errors only.
# N_HOST, N_PUBIDS, HOST_MAX_S (hostile) and N_ISO, ISO_MAX_S (isolation) in the
# environment override their sizes: events per shape, publisher ids of shape (e), and the
# seconds after which a run's rate is taken from what it committed so far ("capped").
# The table's "met?" column never changes the exit status: this machine is shared and
# noisy, and a benchmark is not a test.
set -euo pipefail

usage() {
	echo "usage: $0 BUILD_DIR [--quick] [--only SCENARIO,...]   (BENCH_DIR=dir for the state dirs)" >&2
	exit 2
}

[ $# -ge 1 ] || usage
build=$1
shift
quick=
only=ceilings,ordered,random,acked,steady,big,monitor,callgrind,hostile,isolation
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--only)
		[ $# -ge 2 ] || usage
		only=$2
		shift
		;;
	*) usage ;;
	esac
	shift
done

src=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "$quick" ]; then
	runs=1
	N_RAW=200000 N_UNPACK=500000 N_ORD=100000 N_LMDB_RND=20000
	N_RND=50000 PRE_RND=200000 PRE_BIG=200000 N_ACK=100000
	STEADY_RATE=100000 STEADY_S=5
	N_MONITOR=20000 N_READER=100000 N_REMOTE=2000 N_FEED=30 N_CG=4000
	sizes_host=(100000 10000 10 100000 10)
else
	runs=3
	N_RAW=2000000 N_UNPACK=10000000 N_ORD=2000000 N_LMDB_RND=1000000
	N_RND=5000000 PRE_RND=5000000 PRE_BIG=50000000 N_ACK=1000000
	STEADY_RATE=100000 STEADY_S=60
	N_MONITOR=200000 N_READER=2000000 N_REMOTE=20000 N_FEED=300 N_CG=100000
	sizes_host=(1000000 100000 60 2000000 60)
fi
# The hostile and isolation sizes may be set from the environment (a targeted run).
N_HOST=${N_HOST:-${sizes_host[0]}} N_PUBIDS=${N_PUBIDS:-${sizes_host[1]}}
HOST_MAX_S=${HOST_MAX_S:-${sizes_host[2]}} N_ISO=${N_ISO:-${sizes_host[3]}}
ISO_MAX_S=${ISO_MAX_S:-${sizes_host[4]}}
MSG_BYTES=70 # replaced by the generator's mean event size once measured
RAW_PUBSUB=- RAW_LMDB_RND=- SUB_ORDERED=-
preencode=1 # sub_run sends pre-encoded events; prefill() turns it off to save memory

base=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/zonetally-bench.XXXXXX")
results=$base/results.tsv
CG_KEEP=$build/bench/callgrind.out # the profile stays for callgrind_annotate
: >"$results"

# shellcheck source=bench/lib.sh
. "$src/bench/lib.sh"
# shellcheck source=bench/scenarios.sh
. "$src/bench/scenarios.sh"
# shellcheck source=bench/report.sh
. "$src/bench/report.sh"

cleanup() {
	stop_all
	rm -rf "$base"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

daemon=$(find_bin zonetallyd)
cli=$(find_bin zonetally)
pub=$(find_bin zonetally-pub)
raw_pubsub=$(find_bin raw_pubsub)
raw_unpack=$(find_bin raw_unpack)
raw_lmdb=$(find_bin raw_lmdb)
raw_rtt=$(find_bin raw_rtt)
committed=$(find_bin committed)
monitor=$(find_bin monitor)
apply_cost=$(find_bin apply_cost)
hostile=$(find_bin hostile)
isolation=$(find_bin isolation)
btype=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
[ "$btype" = Release ] || echo "bench: warning: $build is a '$btype' build, not Release" >&2

echo "zonetally benchmark ($([ -n "$quick" ] && echo quick || echo full): median of $runs run(s)); progress on stderr"
start=$SECONDS
for s in ${only//,/ }; do
	case $s in
	ceilings) scenario_ceilings ;;
	ordered) scenario_sub_ordered ;;
	random) scenario_sub_random ;;
	acked) scenario_acked ;;
	steady) scenario_steady ;;
	big) scenario_big_store ;;
	monitor) scenario_monitor ;;
	callgrind) scenario_callgrind ;;
	hostile) scenario_hostile ;;
	isolation) scenario_isolation ;;
	*) fail "unknown scenario '$s'" ;;
	esac
done
print_table "$results" "$base/tables"
machine_line "$base" "$((SECONDS - start))"
