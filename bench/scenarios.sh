# bench/scenarios.sh: the scenarios of `make bench` (sourced by bench/run.sh after lib.sh).
# Each scenario_* function runs its figure `runs` times (measure) and records table rows
# (result). A *_run function is one run: it prints one line of figures.
# Sizes come from run.sh (N_* and friends), so that --quick only changes numbers.

DAY1=2022-11-11 # the prefill day; measured runs use later days, so their ids are new

# --- raw ceilings ------------------------------------------------------------------------

# The load generator alone: zonetally-pub --preencode into a raw SUB (no daemon).
offered_run() {
	local log=$base/pub.log ep
	"$raw_pubsub" sink "$N_ORD" >"$base/sink" &
	local sink=$!
	until ep=$(sed -n 's/^endpoint: //p' "$base/sink") && [ -n "$ep" ]; do
		kill -0 "$sink" 2>/dev/null || fail "raw_pubsub sink exited"
		sleep 0.01
	done
	publish "$log" --endpoint "$ep" --generate "$N_ORD" --preencode --day "$DAY1"
	wait "$sink" || fail "raw_pubsub sink failed"
	echo "$(sed -n 's/^throughput: \([0-9.]*\) .*/\1/p' "$base/sink") $(jget "$log" event_bytes_mean)"
}

raw_pubsub_run() {
	"$raw_pubsub" "$N_RAW" "$MSG_BYTES" "$2" | sed -n 's/^throughput: \([0-9.]*\) .*/\1/p'
}

raw_unpack_run() {
	"$raw_unpack" "$N_UNPACK" | awk '/^unpack, arena:/ { a = $3 } /^unpack, malloc:/ { m = $3 }
		END { print a, m }'
}

# raw_lmdb_run RUN ordered|random N PREFILL
raw_lmdb_run() {
	local dir
	dir=$(mktemp -d "$base/lmdb.XXXXXX")
	if [ "$2" = ordered ]; then
		"$raw_lmdb" "$dir" ordered "$3"
	else
		"$raw_lmdb" "$dir" random "$3" "$4"
	fi | sed -n 's/^throughput: \([0-9.]*\) .*/\1/p'
	rm -rf "$dir"
}

scenario_ceilings() {
	measure offered offered_run
	MSG_BYTES=$(awk '{ s += $2 } END { printf "%.0f", s / NR }' "$base/extra.offered")
	measure raw2 raw_pubsub_run 2
	measure raw1 raw_pubsub_run 1
	RAW_PUBSUB=$(column raw2 1 | awk '{ print $1 }')
	result "raw PUB/SUB ceiling, 2 frames, $MSG_BYTES B" "msg/s" "$(column raw2 1)" - -
	result "raw PUB/SUB, 1 frame (reference)" "msg/s" "$(column raw1 1)" - -
	result "zonetally-pub --preencode -> raw SUB" "ev/s" "$(column offered 1)" \
		"$RAW_PUBSUB" "ge:2000000"
	measure unpack raw_unpack_run
	result "raw protobuf-c unpack, arena (1 core)" "msg/s" "$(column unpack 1)" - -
	result "raw protobuf-c unpack, malloc (1 core)" "msg/s" "$(column unpack 2)" - -
	measure lmdb_ord raw_lmdb_run ordered "$N_ORD"
	measure lmdb_rnd raw_lmdb_run random "$N_LMDB_RND" "$PRE_RND"
	RAW_LMDB_ORD=$(column lmdb_ord 1 | awk '{ print $1 }')
	RAW_LMDB_RND=$(column lmdb_rnd 1 | awk '{ print $1 }')
	result "raw LMDB, ordered keys, durable 10k txns" "keys/s" "$(column lmdb_ord 1)" - -
	result "raw LMDB, random keys into $(fmt "$PRE_RND")" "keys/s" "$(column lmdb_rnd 1)" - -
}

# --- the SUB path ------------------------------------------------------------------------

# sub_run RUN STATE N BEFORE PUB_ARGS...: N events into a running daemon on STATE, which
# already received BEFORE; prints committed events/s.
sub_run() {
	local state=$2 n=$3 before=$4 log=$base/pub.log
	shift 4
	watch_start "$state" "$((before + n))"
	publish "$log" --endpoint "$(ep "$state" sub)" --generate "$n" ${preencode:+--preencode} "$@"
	watch_rate "$state" "$log" "$n"
}

ordered_run() {
	local state=$base/ordered.$1
	daemon_start "$state"
	sub_run "$1" "$state" "$N_ORD" 0 --day "$DAY1" --seed "$1" --publisher "ord-$1"
	daemon_stop
	rm -rf "$state"
}

scenario_sub_ordered() {
	measure ordered ordered_run
	SUB_ORDERED=$(column ordered 1 | awk '{ print $1 }')
	result "SUB, time-ordered ids, $(fmt "$N_ORD") events" "ev/s" "$(column ordered 1)" \
		"$RAW_PUBSUB" "ge:1000000,rge:0.25"
}

# prefill STATE N PUB_ARGS...: a store holding N ids, filled by the daemon itself.
prefill() {
	local state=$1 n=$2
	shift 2
	echo "  prefill: $(fmt "$n") ids" >&2
	daemon_start "$state"
	local preencode= # a prefill of 50M would need 3.5 GB encoded ahead
	sub_run 0 "$state" "$n" 0 --publisher prefill "$@" >/dev/null
	daemon_stop
}

random_run() {
	local state=$base/random.$1
	cp -a --sparse=always "$base/prefill-random" "$state"
	daemon_start "$state"
	sub_run "$1" "$state" "$N_RND" "$PRE_RND" --random-ids --day "$DAY1" \
		--seed "$((100 + $1))" --publisher "rnd-$1"
	daemon_stop
	rm -rf "$state"
}

scenario_sub_random() {
	prefill "$base/prefill-random" "$PRE_RND" --random-ids --day "$DAY1" --seed 99
	measure random random_run
	result "SUB, random ids, $(fmt "$N_RND") into $(fmt "$PRE_RND")" "ev/s" \
		"$(column random 1)" "$RAW_LMDB_RND" "ge:200000"
	rm -rf "$base/prefill-random"
}

# big_run: N_ORD time-ordered events of a later day into the store holding PRE_BIG ids.
big_run() {
	local state=$base/prefill-big before
	before=$(counter "$state" received)
	daemon_start "$state"
	sub_run "$1" "$state" "$N_ORD" "$before" --day "2022-11-$((11 + $1))" --seed "$1" \
		--publisher "big-$1"
	daemon_stop
}

scenario_big_store() {
	prefill "$base/prefill-big" "$PRE_BIG" --day "$DAY1" --seed 98
	measure big big_run
	result "SUB, ordered, store of $(fmt "$PRE_BIG") ids" "ev/s" "$(column big 1)" \
		"$SUB_ORDERED" "rge:0.8"
	rm -rf "$base/prefill-big"
}

# --- the acknowledged path ---------------------------------------------------------------

acked_run() {
	local state=$base/acked.$1 log=$base/pub.log
	daemon_start "$state"
	publish "$log" --reliable --endpoint "$(ep "$state" ingest)" --window 10000 \
		--generate "$N_ACK" --preencode --day "$DAY1" --seed "$1" --publisher "ack-$1"
	daemon_stop
	rm -rf "$state"
	echo "$(jget "$log" events_per_s) $(jget "$log" ack_p99_ms) $(jget "$log" ack_p50_ms)"
}

scenario_acked() {
	measure acked acked_run
	result "acked, window 10k, $(fmt "$N_ACK") events" "ev/s" "$(column acked 1)" - \
		"ge:500000"
	result "acked: ack latency p50" "ms" "$(column acked 3)" - -
	result "acked: ack latency p99" "ms" "$(column acked 2)" - "le:20"
}

# --- steady load -------------------------------------------------------------------------

# STEADY_RATE events/s for STEADY_S seconds on the acknowledged path, so that every event's
# latency to its durable commit is measured (the ack is sent after the fsync); the daemon's
# own apply+fsync histogram and its anonymous RSS (sampled every second) beside it.
steady_run() {
	local state=$base/steady.$1 log=$base/pub.log rss=$base/rss.$1 n
	n=$((STEADY_RATE * STEADY_S))
	daemon_start "$state"
	rss_sample "$pid" "$rss"
	publish "$log" --reliable --endpoint "$(ep "$state" ingest)" --rate "$STEADY_RATE" \
		--generate "$n" --preencode --day "$DAY1" --seed "$1" --publisher "steady-$1"
	rss_stop
	local hist
	hist=$(hist_p99 "$(ep "$state" metrics)" zonetally_commit_duration_seconds)
	daemon_stop
	rm -rf "$state"
	# max RSS; growth over the second half of the run (flat: a few MiB at most)
	awk -v p99="$(jget "$log" ack_p99_ms)" -v h="$hist" '{ v[NR] = $1 / 1024 }
		END { m = 0; for (i = 1; i <= NR; i++) if (v[i] > m) m = v[i]
		      printf "%s %.1f %.1f %.1f %.1f\n", p99, m, v[NR] - v[int((NR + 1) / 2)],
		          v[1], h * 1000 }' "$rss"
}

scenario_steady() {
	measure steady steady_run
	local label
	label="steady $(fmt "$STEADY_RATE")/s ${STEADY_S}s"
	result "$label: send->commit->ack p99" "ms" "$(column steady 1)" - "le:20"
	result "$label: apply+fsync p99 (bucket)" "ms" "$(column steady 5)" - "le:20"
	result "$label: RssAnon max" "MiB" "$(column steady 2)" - "le:64"
	result "$label: RssAnon growth, 2nd half" "MiB" "$(column steady 3)" - "le:4"
}

# --- monitoring (issue 4): reader, remote get, feed --------------------------------------

# pcts FILE LABEL: "p50 p99 p999" of a bench/monitor output line.
pcts() {
	awk -v l="$2" 'index($0, l) == 1 { for (i = 1; i < NF; i++) {
		if ($i == "p50") a = $(i + 1); if ($i == "p99") b = $(i + 1)
		if ($i == "p999") c = $(i + 1) } print a, b, c }' "$1"
}

monitor_run() {
	local state=$base/monitor out=$base/monitor.out
	"$monitor" reader "$state" "$N_READER" >"$out" || fail "monitor reader failed"
	"$monitor" remote "$(ep "$state" query)" "$N_REMOTE" >>"$out" || fail "monitor remote failed"
	"$raw_rtt" "$N_REMOTE" >>"$out" || fail "raw_rtt failed"
	"$monitor" feed "$(ep "$state" sub)" "$(ep "$state" query)" "$N_FEED" >>"$out" ||
		fail "monitor feed failed"
	echo "$(pcts "$out" zt_reader_total) $(pcts "$out" 'raw mdb_get') $(pcts "$out" remote)" \
		"$(pcts "$out" feed) $(pcts "$out" 'raw zmq round trip')"
}

# One daemon holding events of today (the reader reads today's totals), batch max_ms = 5.
scenario_monitor() {
	local state=$base/monitor
	mkdir -p "$state"
	printf '[validation]\nfuture_tolerance_s = 90000\n[batch]\nmax_ms = 5\n' >"$state/bench.conf"
	daemon_start "$state" "$state/bench.conf"
	sub_run 0 "$state" "$N_MONITOR" 0 --day "$(TZ=Asia/Shanghai date +%F)" >/dev/null
	measure monitor monitor_run
	daemon_stop
	rm -rf "$state"
	RAW_GET_P99=$(column monitor 5 | awk '{ print $1 }')
	result "zt_reader get p50" "ns" "$(column monitor 1)" - -
	result "zt_reader get p99" "ns" "$(column monitor 2)" "$RAW_GET_P99" "rle:1.3"
	result "zt_reader get p999" "ns" "$(column monitor 3)" "$(column monitor 6 | awk '{ print $1 }')" -
	result "raw mdb_get p99 (same run)" "ns" "$(column monitor 5)" - -
	result "remote get p50" "us" "$(column monitor 7)" "$(column monitor 13 | awk '{ print $1 }')" -
	result "remote get p99" "us" "$(column monitor 8)" "$(column monitor 14 | awk '{ print $1 }')" "le:60"
	result "raw zmq round trip p99 (same run)" "us" "$(column monitor 14)" - -
	result "feed: publish -> watcher p50" "ms" "$(column monitor 10)" - -
	result "feed: publish -> watcher p99" "ms" "$(column monitor 11)" - "le:10"
}

# --- instructions per event --------------------------------------------------------------

scenario_callgrind() {
	local ipe
	if ! command -v valgrind >/dev/null; then
		echo "bench: valgrind not installed: no instructions/event figure" >&2
		return 0
	fi
	echo "  callgrind: decode + validate + apply" >&2
	ipe=$("$src/bench/callgrind.sh" "$apply_cost" "$src/data/zones.csv" "$N_CG" "$base/cg")
	result "decode+validate+apply, callgrind" "instr/ev" "$ipe $ipe $ipe" - -
	cp "$base/cg/callgrind.large" "$CG_KEEP" 2>/dev/null || true
}

# --- hostile batch shapes (issue 13) -----------------------------------------------------

# HOSTILE_SHAPES in the environment: a subset for a targeted run (ordered, the reference, first).
HOSTILE_SHAPES=${HOSTILE_SHAPES:-"ordered revunknown revsame oneid spread publishers gaps maxbatch"}
# The largest frame the ROUTER socket takes with the default max_message_bytes (4096): the
# larger of 4 MiB (ZT_SOCKET_MSG_FLOOR, daemon/daemon.h) and max_message_bytes x 1024 + 64.
HOSTILE_FRAME=$((4096 * 1024 + 64))
# router_window: several maximum-size EventBatches (about 91,000 minimal events each) may be
# unacknowledged at once; the same configuration for every shape, the reference included.
HOSTILE_WINDOW=1000000

# shape_label SHAPE: the row's name.
shape_label() {
	case $1 in
	ordered) echo "ordered (the reference)" ;;
	revunknown) echo "(a) reversals of unknown ids" ;;
	revsame) echo "(b) reversals of originals in the batch" ;;
	oneid) echo "(c) one id sent $(fmt "$N_HOST") times" ;;
	spread) echo "(d) every event another zone and day" ;;
	publishers) echo "(e) $(fmt "$N_PUBIDS") publisher ids" ;;
	gaps) echo "(f) a gap after every sequence" ;;
	maxbatch) echo "(g) max-size EventBatches, acked" ;;
	esac
}

# hostile_run RUN SHAPE: N_HOST messages of SHAPE (bench/hostile) into a fresh daemon;
# prints committed events/s, the daemon's VmHWM [MiB] and 1 if the run hit HOST_MAX_S (its
# rate is then what was committed by that time). The store must count what hostile expects.
hostile_run() {
	local shape=$2 state=$base/hostile.$2.$1 out=$base/hostile.out ep arg=$N_PUBIDS capped=0
	daemon_start "$state" "$base/hostile.conf"
	ep=$(ep "$state" sub)
	if [ "$shape" = maxbatch ]; then
		ep=$(ep "$state" ingest)
		arg=$HOSTILE_FRAME
	fi
	watch_start "$state" "$N_HOST" "$HOST_MAX_S"
	helper_start "$out" "$hostile" "$shape" "$ep" "$N_HOST" "$src/data/zones.csv" "$arg" \
		"$HOSTILE_WINDOW"
	local sender=$last_helper
	if watch_wait; then
		wait "$sender" || fail "hostile $shape failed: $(tail -n 3 "$out.err")"
		local want got
		want=$(sed -n 's/^expect: //p' "$out")
		got="accepted $(counter "$state" accepted) rejected $(counter "$state" rejected)"
		[ "$want" = "$got" ] || fail "hostile $shape: the store counted '$got', not '$want'"
	else
		capped=1
		sender_alive "$sender" "hostile $shape" "$out.err"
		echo "  hostile $shape: not committed in $HOST_MAX_S s: the rate of what was" >&2
	fi
	helpers_stop
	local t0 rate
	t0=$(sed -n 's/^start_mono_ns: //p' "$out")
	rate=$(rate_since "$(awk '{ print $2 }' "$base/committed")" "$t0")
	echo "$rate $(vmhwm "$pid") $capped"
	if [ $capped = 1 ]; then daemon_kill; else daemon_stop; fi
	rm -rf "$state"
}

scenario_hostile() {
	local s label
	printf '[ingest]\nrouter_window = %s\n' "$HOSTILE_WINDOW" >"$base/hostile.conf"
	table_begin hostile "hostile shapes (issue 13): $(fmt "$N_HOST") messages each, SUB path unless said, a fresh daemon per run; ceiling: the ordered row of this run" "peak RSS (VmHWM) [MiB]"
	# shellcheck disable=SC2086 # a list of words
	measure_each hostile hostile_run $HOSTILE_SHAPES
	local ref
	ref=$(column hostile_ordered 1 | awk '{ print $1 }')
	for s in $HOSTILE_SHAPES; do
		label=$(shape_label "$s")
		if awk '$3 == 1 { f = 1 } END { exit !f }' "$base/extra.hostile_$s"; then
			label="$label, capped"
		fi
		if [ "$s" = ordered ]; then
			result "$label" "ev/s" "$(column hostile_ordered 1)" - - \
				"$(column hostile_ordered 2)"
		else
			result "$label" "ev/s" "$(column "hostile_$s" 1)" "$ref" "rge:0.5" \
				"$(column "hostile_$s" 2)"
		fi
	done
	table=main
}

# --- isolation (issue 14) ----------------------------------------------------------------

# ISO_CONDITIONS in the environment: a subset for a targeted run (alone, the reference, first).
ISO_CONDITIONS=${ISO_CONDITIONS:-"alone flood watchers slowloris reader"}

iso_label() {
	case $1 in
	alone) echo "ingest alone" ;;
	flood) echo "beside a snapshot flood (2 x 32)" ;;
	watchers) echo "beside 50 stalled watchers" ;;
	slowloris) echo "beside 64 slow HTTP clients" ;;
	reader) echo "beside a stuck reader" ;;
	esac
}

# iso_start COND STATE: starts the misbehaving client of COND and waits until it does harm.
iso_start() {
	local out=$base/iso.client
	case $1 in
	alone) return 0 ;;
	flood) helper_start "$out" "$isolation" flood "$(ep "$2" query)" 2 32 ;;
	watchers) helper_start "$out" "$isolation" watchers "$(ep "$2" feed)" 50 ;;
	slowloris) helper_start "$out" "$isolation" slowloris "$(ep "$2" metrics)" 64 ;;
	reader) helper_start "$out" "$isolation" reader "$2" ;;
	esac
	helper_ready "$out" "$last_helper"
}

# iso_run RUN COND: N_ISO time-ordered events (zonetally-pub --preencode) into a fresh daemon
# beside COND's client; prints committed events/s, the daemon's commit p99 [ms] (the bound of
# its histogram's bucket), VmHWM [MiB], the store's used MiB, the client's own figure
# (snapshots answered/s, % of /metrics scrapes answered, else 0) and 1 if capped.
iso_run() {
	local cond=$2 state=$base/iso.$2.$1 capped=0 own=0
	daemon_start "$state"
	iso_start "$cond" "$state"
	watch_start "$state" "$N_ISO" "$ISO_MAX_S"
	helper_start "$base/iso.pub" "$pub" --zones "$src/data/zones.csv" --stats-json \
		--timeout 3600 --endpoint "$(ep "$state" sub)" --generate "$N_ISO" --preencode \
		--day "$DAY1" --seed "$1" --publisher "iso-$1"
	local sender=$last_helper
	if watch_wait; then
		wait "$sender" || fail "zonetally-pub failed: $(tail -n 3 "$base/iso.pub.err")"
	else
		capped=1
		sender_alive "$sender" zonetally-pub "$base/iso.pub.err"
		echo "  isolation $cond: not committed in $ISO_MAX_S s: the rate of what was" >&2
	fi
	helpers_stop # the client's summary line is written at its SIGTERM
	[ "$(counter "$state" rejected)" -eq 0 ] || fail "zonetallyd rejected events"
	case $cond in
	flood) own=$(sed -n 's/^snapshots: .*: \([0-9.]*\) \[answers\/s\]$/\1/p' "$base/iso.client") ;;
	slowloris) own=$(sed -n 's/^slowloris: .*: \([0-9.]*\) \[%\]$/\1/p' "$base/iso.client") ;;
	esac
	local rate p99
	rate=$(rate_since "$(awk '{ print $2 }' "$base/committed")" \
		"$(jget "$base/iso.pub.err" start_mono_ns)")
	p99=$(hist_p99 "$(ep "$state" metrics)" zonetally_commit_duration_seconds)
	echo "$rate $(awk -v h="$p99" 'BEGIN { printf "%.1f", h * 1000 }') $(vmhwm "$pid")" \
		"$(used_mib "$state") ${own:-0} $capped"
	if [ $capped = 1 ]; then daemon_kill; else daemon_stop; fi
	rm -rf "$state"
}

scenario_isolation() {
	local c label ref
	table_begin isolation "isolation (issue 14): $(fmt "$N_ISO") time-ordered events on the SUB path beside one misbehaving client each, a fresh daemon per run; ceiling: ingest alone in this run" \
		"commit p99 (bucket) [ms]" "peak RSS (VmHWM) [MiB]" "store used [MiB]"
	# shellcheck disable=SC2086 # a list of words
	measure_each iso iso_run $ISO_CONDITIONS
	ref=$(column iso_alone 1 | awk '{ print $1 }')
	for c in $ISO_CONDITIONS; do
		label=$(iso_label "$c")
		if awk '$6 == 1 { f = 1 } END { exit !f }' "$base/extra.iso_$c"; then
			label="$label, capped"
		fi
		local ceil=$ref targets=-
		[ "$c" != alone ] || ceil=-
		[ "$c" != flood ] || targets=rge:0.8
		result "$label" "ev/s" "$(column "iso_$c" 1)" "$ceil" "$targets" \
			"$(column "iso_$c" 2)" "$(column "iso_$c" 3)" "$(column "iso_$c" 4)"
	done
	if [ -s "$base/extra.iso_flood" ]; then
		result "snapshot flood: snapshots answered" "answers/s" "$(column iso_flood 5)" - - \
			- - -
	fi
	if [ -s "$base/extra.iso_slowloris" ]; then
		result "slow HTTP clients: /metrics scrapes answered" "%" \
			"$(column iso_slowloris 5)" - "ge:100" - - -
	fi
	table=main
}
