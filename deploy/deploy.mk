# Deployment targets, included by the root Makefile (`-include deploy/deploy.mk`).
# The root Makefile defines BIN (.venv/bin) and STAMP (.venv/.installed).
#
#   make build | build-one SERVICE=x | push | scan        the one image
#   make integration                                      the integration suite in containers
#   make deploy TAG=x | rollback TAG=x [SHAPE=split]      the Swarm stack (run on a manager,
#                                                         or with DOCKER_HOST=ssh://...)
#   make lint-deploy                                      every deploy-file validator, offline

.PHONY: build build-one push scan integration deploy rollback smoke lint-deploy secrets-baseline

DOCKER      ?= docker
COMPOSE     ?= docker compose
IMAGE       ?= ghcr.io/cloudtaskhub/cloudtaskhub
STACK       ?= cloudtaskhub
STACK_FILE  := deploy/stack.yml
# An override merged onto the stack file (the test bed's: deploy/testbed/stack.yml).
STACK_OVERRIDE ?=
# An override merged onto deploy/compose.tests.yml by `make integration` (the test bed's).
COMPOSE_OVERRIDE ?=
COMPOSE_FILES = -f deploy/compose.tests.yml$(if $(COMPOSE_OVERRIDE), -f $(COMPOSE_OVERRIDE))
# false: wait for every service to converge (no timeout). The test bed polls readiness itself.
DEPLOY_DETACH ?= false
ENV_FILE    ?= .env
SHAPE       ?=
TAG         ?=
SERVICE     ?=
URL         ?=
VERSION     := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -n 1)
GIT_SHA     := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
MODULES     := auth project billing notification analytics gateway
SHAPES      := allinone split
# Swarm configs are immutable: their names carry a hash of these files.
CONFIG_FILES := deploy/postgres/init-module-databases.sh deploy/traefik/dynamic.yml \
                deploy/prometheus/prometheus.yml \
                deploy/prometheus/rules/cloudtaskhub.yml \
                deploy/grafana/provisioning/datasources/cloudtaskhub.yml \
                deploy/grafana/provisioning/dashboards/cloudtaskhub.yml
TRIVY_CACHE := $(VENV)/.trivy-cache
# Every file git would see, less the local venv, data and caches.
SECRET_SCAN_FILES := git ls-files -co --exclude-standard \
	| grep -Ev '^(\.venv|var|tmp|bench/results|modules/[a-z_]+/migrations|\.mypy_cache|\.ruff_cache|\.pytest_cache|\.import_linter_cache)/|__pycache__/|^\.secrets\.baseline$$'
BUILD_ARGS  := --build-arg VERSION=$(VERSION) --build-arg VCS_REF=$(GIT_SHA)

# The environment `docker stack deploy` sees: the env file, then the shape's variables.
# $(1): the env file. The shape is SHAPE=..., else CTH_SHAPE from the env file, else allinone
# (a shell variable `shape` set before this snippet wins over both).
define stack_env
shape=$${shape:-$(SHAPE)}; \
set -a; \
if [ -f "$(1)" ]; then . "$(abspath $(1))"; fi; \
CTH_SHAPE=$${shape:-$${CTH_SHAPE:-allinone}}; \
shape_file=deploy/shapes/$${CTH_SHAPE:-allinone}.env; \
[ -f "$$shape_file" ] || { echo "unknown shape '$$CTH_SHAPE' (one of: $(SHAPES))" >&2; exit 2; }; \
. "./$$shape_file"; \
CTH_STACK=$(STACK); \
CTH_CONFIG_VERSION=$$(cat $(CONFIG_FILES) | sha256sum | cut -c1-12); \
set +a
endef

# Deploy (or roll back to) $(TAG): record it in the env file, then hand it to the stack.
define stack_deploy
	@deploy/release-env.sh check "$(TAG)"
	deploy/release-env.sh record "$(ENV_FILE)" "$(TAG)"
	$(call stack_env,$(ENV_FILE)); CTH_IMAGE_TAG=$(TAG) $(DOCKER) stack deploy --with-registry-auth --detach=$(DEPLOY_DETACH) --prune \
		-c $(STACK_FILE)$(if $(STACK_OVERRIDE), -c $(STACK_OVERRIDE)) $(STACK)
endef

build: ## Build the one image for every module, tagged <version> and <git sha> (IMAGE=...)
	$(DOCKER) build -f deploy/Dockerfile --target runtime $(BUILD_ARGS) \
		-t $(IMAGE):$(VERSION) -t $(IMAGE):$(GIT_SHA) .

build-one: ## Build the image with SERVICE=x as its default module, tagged <version>-x
	@case " $(MODULES) " in *" $(SERVICE) "*) ;; \
		*) echo "SERVICE must be one of: $(MODULES)" >&2; exit 2 ;; esac
	$(DOCKER) build -f deploy/Dockerfile --target runtime $(BUILD_ARGS) \
		--build-arg CTH_MODULES=$(SERVICE) -t $(IMAGE):$(VERSION)-$(SERVICE) .

push: ## Push the <version> and <git sha> tags (CI pushes latest too; deploys never use it)
	$(DOCKER) push $(IMAGE):$(VERSION)
	$(DOCKER) push $(IMAGE):$(GIT_SHA)

scan: $(STAMP) ## Trivy: HIGH/CRITICAL vulnerabilities in the image (TAG=x, default git sha) and the deploy files
	$(BIN)/trivy image --cache-dir $(TRIVY_CACHE) --exit-code 1 --severity HIGH,CRITICAL \
		--ignore-unfixed $(IMAGE):$(or $(TAG),$(GIT_SHA))
	$(BIN)/trivy config --cache-dir $(TRIVY_CACHE) --exit-code 1 --severity HIGH,CRITICAL \
		--config-check deploy/policy --misconfig-scanners dockerfile,yaml --check-namespaces user deploy

integration: ## Run the integration suite in containers (PostgreSQL, Kafka, the image): deploy/compose.tests.yml
	$(COMPOSE) $(COMPOSE_FILES) -p cloudtaskhub-tests up --build \
		--abort-on-container-exit --exit-code-from tests; \
	rc=$$?; $(COMPOSE) $(COMPOSE_FILES) -p cloudtaskhub-tests down -v; exit $$rc

deploy: ## Deploy release TAG=x to the Swarm stack (shape from CTH_SHAPE in ENV_FILE=.env, or SHAPE=allinone|split)
	$(stack_deploy)

rollback: ## Redeploy an earlier release TAG=x (the env file's CTH_PREVIOUS_IMAGE_TAG names the last one)
	$(stack_deploy)

smoke: ## Check a running deployment through Traefik: URL=https://host [SMOKE_FLAGS=--insecure]
	@test -n "$(URL)" || { echo "URL is required" >&2; exit 2; }
	python3 deploy/smoke.py $(SMOKE_FLAGS) $(URL)

lint-deploy: $(STAMP) ## Validate deploy files offline: stack (both shapes), compose, workflows, Dockerfile, trivy, secrets
	$(BIN)/yamllint --strict .
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec $(STACK_FILE) deploy/compose.tests.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/actionlint -shellcheck= -pyflakes=
	$(BIN)/hadolint deploy/Dockerfile
	$(BIN)/trivy config --quiet --skip-check-update --cache-dir $(TRIVY_CACHE) --exit-code 1 \
		--severity HIGH,CRITICAL --config-check deploy/policy --misconfig-scanners dockerfile,yaml --check-namespaces user \
		--skip-dirs deploy/testbed deploy
	@# detect-secrets against a copy of the baseline (the hook rewrites what it reads). Test
	@# fixtures carry dummy passwords by design (ruff's S105/S106 are off there too), so
	@# tests/ is scanned by every detector but the keyword one.
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	echo "detect-secrets: every file (tests/ without KeywordDetector)" && \
	cp .secrets.baseline "$$tmp/baseline" && \
	$(SECRET_SCAN_FILES) | grep -v '^tests/' \
		| xargs $(BIN)/detect-secrets-hook --baseline "$$tmp/baseline" && \
	cp .secrets.baseline "$$tmp/baseline" && \
	$(SECRET_SCAN_FILES) | grep '^tests/' \
		| xargs $(BIN)/detect-secrets-hook --baseline "$$tmp/baseline" --disable-plugin KeywordDetector
	@if command -v $(DOCKER) >/dev/null 2>&1; then \
		for shape in $(SHAPES); do \
			echo "docker stack config: shape $$shape"; \
			( $(call stack_env,.env.example); \
			  CTH_IMAGE_TAG=lint $(DOCKER) stack config -c $(STACK_FILE) >/dev/null ) || exit 1; \
		done; \
	else echo "docker client not found: skipping docker stack config"; fi

secrets-baseline: $(STAMP) ## Rescan into .secrets.baseline, then audit: detect-secrets audit .secrets.baseline
	$(SECRET_SCAN_FILES) | grep -v '^tests/' | xargs $(BIN)/detect-secrets scan --baseline .secrets.baseline
