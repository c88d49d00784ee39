# Reliability and security suites (issue 9). `make test` runs both too, except the
# tests marked `slow` (the 5-minute soak, the broker stalled 20 s under 500 tasks).
.PHONY: reliability security

reliability: $(STAMP) ## Faults (broker stalled, SIGKILL, PostgreSQL dropped, SIGTERM) and soak, full size (~15 min)
	CTH_RELIABILITY_FULL=1 $(BIN)/python -m pytest tests/reliability -m "slow or not slow" -q -s -p no:warnings $(PYTEST_ARGS)

security: $(STAMP) ## Authorization matrix, hostile input, hardening, schemathesis fuzzing (deeper: CTH_FUZZ_EXAMPLES=100)
	$(BIN)/python -m pytest tests/security -q -s -p no:warnings $(PYTEST_ARGS)
