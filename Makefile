# The two commands of the README, plus the pieces they are made of.
#   make demo   installs what is missing, builds, runs the chaos suite against the reference daemon
#   make test   installs what is missing, builds, runs the whole test suite
PRESET ?= ci
BUILD := build/$(PRESET)
JOBS ?= $(shell nproc)

.PHONY: all deps configure build test test-fast demo bench format format-check clean

all: build

deps:
	@bash ci/deps.sh

configure: deps
	@cmake --preset $(PRESET) > /dev/null

build: configure
	@cmake --build --preset $(PRESET) -j $(JOBS)

test: build
	@ctest --preset $(PRESET) -j $(JOBS)

test-fast: build
	@ctest --preset $(PRESET) -j $(JOBS) -L fast

demo: build
	@bash ci/demo.sh $(BUILD)

# The benchmarks behind the README's figures; each prints ratios against a baseline it measures
# in the same run. Run them on an otherwise idle machine.
bench: build
	$(BUILD)/tests/bench/duende-bench-supervisor
	$(BUILD)/tests/bench/duende-bench-spawn
	$(BUILD)/tests/bench/load_bench
	$(BUILD)/tests/bench/load_histogram_bench
	$(BUILD)/tests/bench/policy_bench
	$(BUILD)/tests/bench/faults_proxy_bench
	$(BUILD)/tests/bench/fiu_shim_bench
	$(BUILD)/tests/framework/kvd_bench
	bash tests/bench/injection_lag_bench.sh $(BUILD)/harness/cli/duende
	bash tests/bench/mutate_bench.sh $(BUILD)/harness/cli/duende
	bash tests/bench/lean_bench.sh $(BUILD)/harness/cli/duende $(BUILD)/tests/bench/lean-bench-bare-parent

format:
	@git ls-files '*.h' '*.cc' '*.c' | xargs clang-format -i

format-check:
	@git ls-files '*.h' '*.cc' '*.c' | xargs clang-format --dry-run -Werror

clean:
	rm -rf build
