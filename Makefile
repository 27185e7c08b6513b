# The two set-up commands: `make run` and `make test`. Everything else builds on them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: install lock run test test-load test-host browser haproxy demo bench clean

# The versions CI tested: every dependency from requirements.lock (hash-checked), then the
# apps themselves, editable, without resolving anything again.
$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

# Refresh requirements.lock from pyproject.toml's ranges (newest versions that fit).
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv>=0.5"
	$(BIN)/uv pip compile pyproject.toml --extra site --extra test --generate-hashes \
		--python-version 3.11 --universal --upgrade -o requirements.lock

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py ensure_superuser
	@echo ""
	@echo "  AI Assistant for Django is starting: log in at http://127.0.0.1:$(PORT)/accounts/login/"
	@echo "  (Ctrl-C stops it.)"
	@echo ""
	@exec $(BIN)/uvicorn config.asgi:application --host 127.0.0.1 --port $(PORT) --no-server-header

# `make run` with an offline provider: the fake OpenAI-compatible server of tests/fakes on a
# free port, configured as the provider "Demo (offline)"; it stops when the app stops.
demo: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py ensure_superuser
	@fake_port=$$($(BIN)/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'); \
	$(BIN)/python manage.py setup_demo --base-url "http://127.0.0.1:$$fake_port/v1" || exit 1; \
	$(BIN)/python -m tests.fakes.openai_server --demo --port $$fake_port --delay 0.03 & fake_pid=$$!; \
	trap 'kill $$fake_pid 2>/dev/null' EXIT INT TERM; \
	echo ""; \
	echo "  Demo: log in at http://127.0.0.1:$(PORT)/accounts/login/ and open the Assistant;"; \
	echo "  pick \"Demo model (offline)\" (no API key needed) and ask it to \"list the books low in stock\"."; \
	echo "  (Ctrl-C stops the app and the fake provider.)"; \
	echo ""; \
	$(BIN)/uvicorn config.asgi:application --host 127.0.0.1 --port $(PORT) --no-server-header

# Debian's Chromium drives the browser tests (never a downloaded browser build).
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's chromium for the browser tests…"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
			|| echo "Could not install chromium with apt-get."; \
	fi

# Debian's haproxy balances the load tests' two app servers (tests/support/balanced_servers.py).
haproxy:
	@if [ ! -x /usr/sbin/haproxy ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's haproxy for the load tests…"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null) \
			|| echo "Could not install haproxy with apt-get."; \
	fi

# The static checks first (seconds: lint, format, types, the import contract), then the
# suite. pytest's exit code 5 means "no tests collected": never green by accident.
test: install browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	@$(BIN)/pytest -m "not load" $(PYTEST_ARGS); rc=$$?; \
		if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing."; exit 1; fi; exit $$rc

# The built wheel installed into a second Django project (tests/host/), as a team would.
test-host: install browser
	tests/host/run

test-load: install haproxy
	@$(BIN)/pytest -m load -s $(PYTEST_ARGS); rc=$$?; \
		if [ $$rc -eq 5 ]; then echo "pytest collected no load tests: failing."; exit 1; fi; exit $$rc

# Performance (bench/, results in bench/RESULTS.md): `make bench`; `make bench PEERS=1` also
# measures LiteLLM's proxy (installed on first use into bench/.peers/, its own virtualenv).
bench: install
	$(BIN)/python -m bench $(if $(filter 1,$(PEERS)),--peers,)

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
