# Browser tests of the web console (tests/console): Debian's `chromium`, driven by
# Playwright for Python through `executable_path`. Playwright's own browser download
# (`playwright install`) is never used. Included from the Makefile.

CHROMIUM ?= /usr/bin/chromium
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: console-deps console-tests console-screenshots

console-deps: $(STAMP) ## Install Debian's chromium and the console-tests extra (Playwright)
	@test -x $(CHROMIUM) || $(SUDO) apt-get install -y --no-install-recommends chromium \
		|| { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y --no-install-recommends chromium; }
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[dev,console-tests]'

console-tests: console-deps ## Browser tests of the console: all-in-one, and the split shape behind Traefik
	CTH_TEST_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest -q -p no:warnings tests/console

console-screenshots: console-deps ## Refresh the README's console screenshots in tests/console/screenshots/
	CTH_TEST_CHROMIUM=$(CHROMIUM) CONSOLE_SCREENSHOTS_DIR=tests/console/screenshots \
		$(BIN)/python -m pytest -q -p no:warnings tests/console
