# Specloop: `make demo` runs the whole loop against the built-in GitHub double; `make test` runs the tests.
# Each target installs what it needs: Debian packages (redis-server, chromium, git), then a virtualenv
# with the runtime dependencies at the versions requirements.lock pins (the image installs the same).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SYSTEM_PACKAGES := redis-server chromium git bubblewrap

.PHONY: demo test bench bench-tools lint system venv clean

demo: system venv
	$(BIN)/specloop demo

test: system venv
	$(BIN)/python -m pytest

bench: system bench-tools venv
	$(BIN)/python -m benchmarks

# The ingest benchmark drives the servers with wrk (its Probot peer needs node and npm, and is skipped
# with a message where they are missing).
bench-tools:
	@command -v wrk >/dev/null || { echo "Installing system packages: wrk"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq wrk >/dev/null; }

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy app handlers jobs

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock -e '.[dev]'
	touch $@

# Installs only what is missing, so a machine that has them does no apt work.
system:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v git >/dev/null || missing="$$missing git"; \
	command -v bwrap >/dev/null || missing="$$missing bubblewrap"; \
	{ command -v chromium >/dev/null || command -v chromium-browser >/dev/null || [ -n "$$CHROMIUM_PATH" ]; } || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing system packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

clean:
	rm -rf $(VENV) .specloop reports
