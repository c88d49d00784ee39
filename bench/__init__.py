"""Benchmarks: `make bench` (quick, ≤ 3 minutes) or `make bench BENCH_MODE=full`.

Every figure is a ratio against a baseline measured in the same invocation, on
loopback, written to `bench/results/latest.json`. See `bench/README.md`.
"""
