# bench/lib.sh: what the benchmark scenarios share (sourced by bench/run.sh): finding the
# binaries, one daemon at a time on a fresh state dir, the publisher's figures, the repeat
# and median of runs, and the results file the table is printed from.
# Globals set by run.sh: build, src, base, runs, results.

pid=     # the running zonetallyd, if any
sampler= # the running RSS sampler, if any
watcher= # the running bench/committed, if any
helpers= # other background processes of a run (publishers, misbehaving clients)
table=main # the table result() adds rows to (table_begin)

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

# stop_all: ends what this script started (the EXIT trap calls it too).
stop_all() {
	[ -z "$watcher" ] || kill "$watcher" 2>/dev/null || true
	helpers_stop
	if [ -n "$sampler" ]; then
		kill "$sampler" 2>/dev/null || true
		wait "$sampler" 2>/dev/null || true
		sampler=
	fi
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	pid=
}

# daemon_start STATE [CONFIG]: zonetallyd on STATE (created if missing) with every socket on
# a free loopback port; returns once its endpoints file is written.
daemon_start() {
	local state=$1 conf=${2:-/dev/null} deadline=$((SECONDS + 60))
	mkdir -p "$state"
	rm -f "$state/zonetallyd.endpoints"
	"$daemon" --foreground -c "$conf" --state-dir "$state" --zones "$src/data/zones.csv" \
		--sub-bind 'tcp://127.0.0.1:*' --router-bind 'tcp://127.0.0.1:*' \
		--feed-bind 'tcp://127.0.0.1:*' --query-bind 'tcp://127.0.0.1:*' \
		--metrics-listen 127.0.0.1:0 --log-level warning >>"$state/zonetallyd.log" 2>&1 &
	pid=$!
	until [ -s "$state/zonetallyd.endpoints" ]; do
		kill -0 "$pid" 2>/dev/null || fail "zonetallyd exited: $(tail -n 5 "$state/zonetallyd.log")"
		[ $SECONDS -lt $deadline ] || fail "zonetallyd not ready after 60 s"
		sleep 0.01
	done
}

# daemon_stop: SIGTERM, and the exit status must be 0 (a crash is an error, not a figure).
daemon_stop() {
	kill -TERM "$pid"
	wait "$pid" || fail "zonetallyd exited with status $? after SIGTERM"
	pid=
}

# daemon_kill: SIGKILL, for a capped run: its figure is taken, and a clean stop would first
# commit the backlog the daemon is slow on (minutes for a quadratic shape).
daemon_kill() {
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true
	pid=
}

# ep STATE NAME: an endpoint the daemon reported (sub, ingest, feed, query, metrics).
ep() {
	awk -v n="$2" '$1 == n { print $2; exit }' "$1/zonetallyd.endpoints"
}

# counter STATE NAME: one of the store's counters (received, accepted, ...), via the CLI: the
# first occurrence in `stats --json` (the top-level one: per-publisher counters follow it).
# Matched in bash, not with grep | head: under pipefail, head leaving early would fail the
# pipeline when the output is long (many publishers).
counter() {
	local out re="\"$2\": *([0-9]+)"
	out=$("$cli" --state-dir "$1" stats --json 2>/dev/null) || true
	if [[ $out =~ $re ]]; then
		echo "${BASH_REMATCH[1]}"
	else
		echo 0
	fi
}

# jget FILE KEY: a number from zonetally-pub's --stats-json line in FILE.
jget() {
	grep -o "\"$2\": *-\?[0-9.]*" "$1" | tail -n 1 | sed 's/.*: *//'
}

# publish LOG ARGS...: zonetally-pub with ARGS and --stats-json; its stderr goes to LOG.
# --timeout 3600: zonetally-pub lingers that long at exit for its queue to drain; the
# default 30 s drops the tail of a large run into a slow (random-id) daemon.
publish() {
	local log=$1
	shift
	"$pub" --zones "$src/data/zones.csv" --stats-json --timeout 3600 "$@" 2>"$log" ||
		fail "zonetally-pub $* failed: $(tail -n 3 "$log")"
}

# watch_start STATE TARGET [TIMEOUT_S]: in the background, waits until the store received
# TARGET messages and notes when (bench/committed; "received R accepted A rejected J at T"
# in $base/committed, also when it gives up after TIMEOUT_S, default 1800). Started before
# the publisher, so that the moment of the last commit is seen as it happens.
watch_start() {
	"$committed" "$1" "$2" "${3:-1800}" >"$base/committed" &
	watcher=$!
}

# watch_wait: waits for the watcher; returns its status (1: timed out).
watch_wait() {
	local rc=0
	wait "$watcher" || rc=$?
	watcher=
	return $rc
}

# rate_since N T0: events/s of N from T0 (CLOCK_MONOTONIC ns) to the watcher's last poll.
rate_since() {
	awk -v n="$1" -v a="$2" '{ printf "%.0f\n", n / (($NF - a) / 1e9) }' "$base/committed"
}

# watch_rate STATE PUBLOG N: waits for the watcher; checks that nothing was rejected;
# prints the committed events/s of the last N, from the publisher's first send (its
# start_mono_ns, the same clock) to the commit that completed them.
watch_rate() {
	watch_wait || fail "not all events committed: $(tail -n 3 "$1/zonetallyd.log")"
	[ "$(counter "$1" rejected)" -eq 0 ] || fail "zonetallyd rejected events (zonetally rejects)"
	rate_since "$3" "$(jget "$2" start_mono_ns)"
}

# helper_start OUT CMD...: CMD in the background, stdout to OUT, stderr to OUT.err.
helper_start() {
	local out=$1
	shift
	"$@" >"$out" 2>"$out.err" &
	helpers="$helpers $!"
	last_helper=$!
}

# helper_ready OUT PID: waits (30 s at most) until the helper printed "ready".
helper_ready() {
	local deadline=$((SECONDS + 30))
	until grep -q '^ready$' "$1" 2>/dev/null; do
		kill -0 "$2" 2>/dev/null || fail "$(head -c 300 "$1.err") (helper exited)"
		[ $SECONDS -lt $deadline ] || fail "helper not ready after 30 s: $(head -c 300 "$1.err")"
		sleep 0.05
	done
}

# sender_alive PID WHAT ERRFILE: a capped run's sender must still be sending: one that has
# exited failed to send (an error, not a slow daemon), unless it exited 0.
sender_alive() {
	kill -0 "$1" 2>/dev/null || wait "$1" || fail "$2 failed: $(tail -n 3 "$3")"
}

# helpers_stop: SIGTERM to every helper (SIGCONT first, should one be stopped), then waits.
helpers_stop() {
	local h
	for h in $helpers; do
		kill -CONT "$h" 2>/dev/null || true
		kill -TERM "$h" 2>/dev/null || true
	done
	for h in $helpers; do
		wait "$h" 2>/dev/null || true
	done
	helpers=
}

# vmhwm PID: the process's peak resident set (VmHWM) [MiB].
vmhwm() {
	awk '/^VmHWM:/ { printf "%.1f\n", $2 / 1024 }' "/proc/$1/status"
}

# used_mib STATE: the store's used bytes (`zonetally stats`) [MiB].
used_mib() {
	awk -v b="$(counter "$1" used_bytes)" 'BEGIN { printf "%.1f\n", b / 1048576 }'
}

# summary FIGURES...: "median min max".
summary() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)], v[1], v[NR] }'
}

# measure LABEL FN ARGS...: runs FN RUN_NUMBER ARGS... `runs` times. FN prints one line of
# space-separated figures per run, kept in $base/extra.LABEL; `column` summarizes them.
# FN runs in this shell (not in a $(...) subshell), so that a daemon it starts is one the
# EXIT trap knows about; its output goes through a file.
measure() {
	local label=$1 fn=$2 i
	shift 2
	: >"$base/extra.$label"
	for ((i = 1; i <= runs; i++)); do
		measure_once "$label" "$fn" "$i" "$@"
	done
}

# measure_each PREFIX FN ITEM...: measure for each ITEM (label PREFIX_ITEM, FN RUN ITEM), the
# runs interleaved (run 1 of every item, then run 2...): a noisy moment of the shared machine
# then spreads over the items compared, instead of hitting every run of one of them.
measure_each() {
	local prefix=$1 fn=$2 i it
	shift 2
	for it in "$@"; do
		: >"$base/extra.${prefix}_$it"
	done
	for ((i = 1; i <= runs; i++)); do
		for it in "$@"; do
			measure_once "${prefix}_$it" "$fn" "$i" "$it"
		done
	done
}

# measure_once LABEL FN RUN ARGS...: one run, its line appended to $base/extra.LABEL.
measure_once() {
	local label=$1 fn=$2 i=$3 out
	shift 3
	echo "  $label: run $i/$runs" >&2
	"$fn" "$i" "$@" >"$base/out"
	out=$(head -n 1 "$base/out")
	[ -n "$out" ] || fail "$label run $i produced no figure"
	printf '%s\n' "$out" >>"$base/extra.$label"
}

# column LABEL K: "median min max" of the K-th figure (1-based) of the runs of LABEL.
column() {
	summary $(awk -v k="$2" '{ print $k }' "$base/extra.$1")
}

# table_begin NAME TITLE [SIDE_HEADER...]: rows of result() go to table NAME from now on,
# printed after the main table under TITLE; each row gives one "MED MIN MAX" per side
# column (e.g. "peak RSS [MiB]").
table_begin() {
	table=$1
	shift
	(
		IFS=$'\t'
		printf '%s\t%s\n' "$table" "$*"
	) >>"$base/tables"
}

# result NAME UNIT "MED MIN MAX" CEILING TARGETS [SIDE...]: one row of the current table.
# CEILING is a number or "-"; TARGETS is "-" or a comma list of ge:X, le:X (the value) and
# rge:X, rle:X (value/ceiling); each SIDE is "MED MIN MAX" or "-".
result() {
	local name=$1 unit=$2 ceil=$4 targets=$5 med min max
	read -r med min max <<<"$3"
	shift 5
	(
		IFS=$'\t'
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$table" "$name" "$med" "$min" \
			"$max" "$unit" "$ceil" "$targets" "$*"
	) >>"$results"
}

# rss_sample PID FILE: the daemon's anonymous RSS [kB], once a second, in the background.
rss_sample() {
	(while [ -r "/proc/$1/status" ]; do
		awk '/^RssAnon:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true
		sleep 1
	done) >"$2" &
	sampler=$!
}

# rss_stop: ends the sampler.
rss_stop() {
	kill "$sampler" 2>/dev/null || true
	wait "$sampler" 2>/dev/null || true
	sampler=
}

# hist_p99 ADDR:PORT NAME: the upper bound [s] of the bucket holding the 99th percentile of a
# Prometheus histogram the daemon serves (its buckets are coarse: 5, 10, 25 ms...).
# A failed scrape is tried again for 10 s: just after slow HTTP clients leave, the listener
# may still hold their slots for a moment.
hist_p99() {
	python3 -c 'import sys, time, urllib.request
for attempt in range(100):
    try:
        body = urllib.request.urlopen("http://" + sys.argv[1] + "/metrics", timeout=5).read().decode()
        break
    except OSError:
        if attempt == 99:
            raise
        time.sleep(0.1)
b = [(l.split("le=\"")[1].split("\"")[0], float(l.split()[-1])) for l in body.splitlines()
     if l.startswith(sys.argv[2] + "_bucket{")]
n = b[-1][1]
print(next(le for le, c in b if c >= 0.99 * n) if n > 0 else "nan")' "$1" "$2"
}
