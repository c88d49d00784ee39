# Observability targets, included by the root Makefile (`-include deploy/observability.mk`).
# The root Makefile defines BIN (.venv/bin) and STAMP (.venv/.installed).
#
#   make prometheus-install     the Debian `prometheus` package (prometheus + promtool), if missing
#   make lint-observability     promtool: config, rules, rule unit tests (deploy/prometheus)
#   make test-observability     traces over OTLP, /metrics, dashboards/rules vs exported metrics
#   make prometheus-e2e         a real Prometheus scrapes the split shape and answers PromQL

.PHONY: prometheus-install lint-observability test-observability prometheus-e2e

PROMTOOL   ?= promtool
PROM_DIR   := deploy/prometheus
# apt-get as root, or through sudo when there is one.
APT_GET    := $(if $(filter 0,$(shell id -u)),,sudo) apt-get

prometheus-install: ## Install Prometheus and promtool (Debian package) unless present
	@if command -v $(PROMTOOL) >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then \
		echo "prometheus: $$(prometheus --version 2>&1 | head -n 1)"; \
	else \
		$(APT_GET) update -qq && \
		DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq --no-install-recommends prometheus; \
	fi

lint-observability: prometheus-install ## promtool check config / check rules / test rules on deploy/prometheus
	cd $(PROM_DIR) && $(PROMTOOL) check config prometheus.yml
	cd $(PROM_DIR) && $(PROMTOOL) check rules rules/*.yml
	cd $(PROM_DIR) && $(PROMTOOL) test rules rules-tests.yml

test-observability: $(STAMP) prometheus-install ## Observability tests (OTLP receiver, /metrics, deploy files)
	$(BIN)/python -m pytest -q -p no:warnings tests/observability -m "not e2e" $(PYTEST_ARGS)

prometheus-e2e: $(STAMP) prometheus-install ## A real Prometheus scrapes the split shape (Tansu + one process per module)
	$(BIN)/python -m pytest -q -p no:warnings tests/observability -m e2e $(PYTEST_ARGS)
