# `make bench`: benchmarks in bench/ — every figure a ratio against a baseline run in
# the same invocation, written to bench/results/latest.json (see bench/README.md).
# Quick mode takes 3-4 minutes; `make bench BENCH_MODE=full` runs longer.

BENCH_MODE  ?= quick
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: bench

$(BENCH_STAMP): $(STAMP) pyproject.toml requirements/constraints.txt
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[dev,bench]'
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP) ## Benchmarks → bench/results/latest.json (BENCH_MODE=quick|full)
	@command -v wrk >/dev/null 2>&1 || apt-get install -y --no-install-recommends wrk >/dev/null 2>&1 \
		|| { apt-get update -qq && apt-get install -y --no-install-recommends wrk; } \
		|| { echo "bench: wrk is needed (apt-get install wrk)" >&2; exit 1; }
	BENCH_COMMAND="make bench BENCH_MODE=$(BENCH_MODE)" $(BIN)/python -m bench --mode $(BENCH_MODE)
