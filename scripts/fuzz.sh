#!/bin/sh
# Builds the libFuzzer targets (clang, ASan+UBSan) in BUILD_DIR and runs each for SECONDS.
# Usage: scripts/fuzz.sh BUILD_DIR SECONDS TARGET...
# New inputs go to BUILD_DIR/corpus/<target>/ (the committed seeds in tests/fuzz/corpus/
# are read, never written); a crash leaves BUILD_DIR/artifacts/<target>-crash-* and fails.
# A finding becomes a regression test by copying that file into tests/fuzz/corpus/<target>/
# once fixed: the replay tests run it under ctest from then on.
set -eu
build=$1
seconds=$2
shift 2

if [ ! -f "$build/CMakeCache.txt" ]; then
	gen=""
	command -v ninja >/dev/null 2>&1 && gen="-G Ninja"
	# shellcheck disable=SC2086
	CC=clang cmake -S . -B "$build" $gen -DCMAKE_BUILD_TYPE=Debug -DZT_FUZZ=ON \
	    -DZT_SANITIZE=address,undefined
fi
cmake --build "$build" -j 2 --target fuzz

failed=""
for t in "$@"; do
	mkdir -p "$build/corpus/$t" "$build/artifacts"
	echo "fuzz: $t for $seconds s"
	if ! "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" \
	    "$build/corpus/$t" "tests/fuzz/corpus/$t" >"$build/fuzz-$t.log" 2>&1; then
		tail -40 "$build/fuzz-$t.log"
		echo "fuzz: $t FAILED; reproduce with $build/tests/fuzz/fuzz_$t $build/artifacts/$t-*" >&2
		failed="$failed $t"
	else
		grep -E '^stat::number_of_executed_units|^Done' "$build/fuzz-$t.log" || true
	fi
done
if [ -n "$failed" ]; then
	echo "fuzz: crashes in:$failed" >&2
	exit 1
fi
echo "fuzz: no crash in $*"
