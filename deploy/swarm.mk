# The production Swarm stack on this machine (deploy/testbed/README.md), included by the
# root Makefile. Not part of `make test`: it needs root, a Docker engine and ~20 minutes.
#
#   make swarm-up [SHAPE=allinone|split]   engine (installed/started if missing), images built
#                                          offline, the stack's Swarm secrets, then
#                                          `make deploy` of tag a; the API on
#                                          http://127.0.0.1:$(SWARM_HTTP_PORT)
#   make swarm-down                        remove the stack, its volumes and secrets; stop the
#                                          engine if swarm-up started it
#   make swarm-e2e                         deploy both shapes, rolling update, rollback,
#                                          scale-out, self-healing, secrets; then swarm-down
#   make swarm-integration                 `make integration` on the test bed's stand-ins

.PHONY: swarm-up swarm-down swarm-e2e swarm-integration

SWARM_HTTP_PORT ?= 8080
SWARM_PY := SWARM_HTTP_PORT=$(SWARM_HTTP_PORT) $(BIN)/python deploy/testbed/swarm.py

swarm-up: $(STAMP) ## Deploy the production stack on this machine's Swarm (SHAPE=allinone|split), API on :8080
	$(SWARM_PY) up $(or $(SHAPE),allinone)

swarm-down: $(STAMP) ## Remove the test bed's stack (and stop the engine swarm-up started)
	$(SWARM_PY) down

swarm-e2e: $(STAMP) ## Both shapes, rolling update, rollback, scale-out, self-healing on a real Swarm
	$(SWARM_PY) e2e $(SWARM_STEPS)

swarm-integration: $(STAMP) ## `make integration` with the test bed's stand-in images (Debian docker-compose)
	$(SWARM_PY) integration
