# Thin wrapper around CMake, in the spirit of neovim's: configure once, then forward.
# A newcomer on a fresh Debian 12 machine types `make demo` or `make test`; both install
# the missing packages first (scripts/install-deps.sh).

BUILD_TYPE ?= Debug
BUILD_DIR ?= build
CMAKE_EXTRA_FLAGS ?=
CTEST_FLAGS ?= --output-on-failure
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

ifneq ($(shell command -v ninja 2>/dev/null),)
  CMAKE_GENERATOR ?= Ninja
else
  CMAKE_GENERATOR ?= Unix Makefiles
endif

.PHONY: all deps build demo run test bench bench-quick clean distclean format package fuzz

all: build

deps:
	@./scripts/install-deps.sh

$(BUILD_DIR)/.configured:
	cmake -S . -B $(BUILD_DIR) -G "$(CMAKE_GENERATOR)" \
	    -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_EXTRA_FLAGS)
	@touch $@

build: $(BUILD_DIR)/.configured
	cmake --build $(BUILD_DIR) -j $(JOBS)

demo: deps
	@$(MAKE) --no-print-directory build
	./scripts/demo.sh $(BUILD_DIR)

run: build
	./scripts/run.sh $(BUILD_DIR)

test: deps
	@$(MAKE) --no-print-directory build
	cd $(BUILD_DIR) && ctest $(CTEST_FLAGS) -j $(JOBS)

# Issue 7's benchmark on a Release build: every scenario and its raw ceilings in one run,
# one table (bench/run.sh). BENCH_ARGS=--quick: small sizes, seconds, fails on errors only.
bench: deps
	@$(MAKE) --no-print-directory BUILD_DIR=build-release BUILD_TYPE=Release build
	./bench/run.sh build-release $(BENCH_ARGS)

bench-quick:
	@$(MAKE) --no-print-directory bench BENCH_ARGS=--quick

# A .deb of a Release build installed under /usr (the unit's paths follow the prefix).
package: deps
	cmake -S . -B build-deb -G "$(CMAKE_GENERATOR)" -DCMAKE_BUILD_TYPE=Release \
	    -DCMAKE_INSTALL_PREFIX=/usr -DBUILD_TESTING=OFF $(CMAKE_EXTRA_FLAGS)
	cmake --build build-deb -j $(JOBS) --target package

# libFuzzer targets (clang, ASan+UBSan) in build-fuzz, each run for FUZZ_SECONDS; a crash
# fails and leaves its input in build-fuzz/artifacts/.
FUZZ_SECONDS ?= 30
FUZZ_TARGETS ?= decode config registry ndjson query

fuzz: deps
	./scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	-cmake --build $(BUILD_DIR) --target clean

distclean:
	rm -rf $(BUILD_DIR) build-release build-asan build-deb build-fuzz
