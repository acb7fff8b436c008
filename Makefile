# One command each: `make serve` (the app) and `make test` (everything CI runs).
# Each sets up its own virtual environment in .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup serve lab demo test bench solutions system-deps clean

$(STAMP): requirements.txt requirements-test.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-test.txt -e .
	$(BIN)/python -m coupling_lab.cache   # compile the step loop once; numba caches it on disk
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m coupling_lab

# The lessons as a Voila app on http://localhost:8866/ (landing page links every
# lesson). Class settings and their defaults live in coupling_lab/serve.py;
# change them here, e.g. make serve SERVE_ARGS="--port 9000 --max-kernels 60".
SERVE_ARGS ?=
serve: $(STAMP)
	$(BIN)/python -m coupling_lab.serve $(SERVE_ARGS)

# The same lessons in JupyterLab, to read and change the code (this machine
# only; open the URL with the token it prints). JupyterLab refuses root without --allow-root.
LAB_PORT ?= 8888
LAB_ARGS ?=
lab: $(STAMP)
	$(BIN)/python -m jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.port=$(LAB_PORT) \
	  --ServerApp.root_dir="$(CURDIR)" --ServerApp.default_url=/lab/tree/notebooks/00-start-here.ipynb \
	  $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

# Debian's chromium for the browser tests (downloads of browser builds fail here).
system-deps:
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q

# The worked solutions to the instructor's guide's exercises (docs/instructor-guide.md), for the
# instructor only: written to build/ (never served; the app serves notebooks/ only).
SOLUTIONS ?= build/instructor-solutions.md
solutions: $(STAMP)
	$(BIN)/python -m coupling_lab.exercises $(SOLUTIONS)

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_engine.py

clean:
	rm -rf $(VENV) test-artifacts
