#!/usr/bin/env bash
# bench/callgrind.sh APPLY_COST ZONES_CSV N OUTDIR: instructions per event of decode +
# validate + apply (bench/apply_cost), counted by callgrind over apply_all() only, for N/2
# and N events; the difference divided by N/2 leaves out what both runs pay once (the first
# pages of a new store, the zone registry). Prints the figure; OUTDIR keeps both profiles
# (callgrind.small, callgrind.large: `callgrind_annotate OUTDIR/callgrind.large` shows where
# the instructions go).
set -euo pipefail

[ $# -eq 4 ] || {
	echo "usage: $0 APPLY_COST ZONES_CSV N OUTDIR" >&2
	exit 2
}
bin=$1 zones=$2 n=$3 out=$4
half=$((n / 2))
[ "$half" -gt 0 ] || {
	echo "callgrind.sh: N must be at least 2" >&2
	exit 2
}
mkdir -p "$out"

# instructions SIZE NAME: the instructions callgrind collected in apply_all().
instructions() {
	valgrind --tool=callgrind '--toggle-collect=apply_all*' \
		--callgrind-out-file="$out/callgrind.$2" "$bin" "$zones" "$1" >"$out/$2.log" 2>&1 || {
		echo "callgrind.sh: apply_cost $1 failed under valgrind: $(tail -n 3 "$out/$2.log")" >&2
		exit 1
	}
	sed -n 's/^summary: *//p' "$out/callgrind.$2"
}

small=$(instructions "$half" small)
large=$(instructions "$n" large)
awk -v a="$small" -v b="$large" -v k="$((n - half))" 'BEGIN { printf "%.0f\n", (b - a) / k }'
