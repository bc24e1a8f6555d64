# Every target bootstraps what it needs: a fresh clone only needs python3 and network to PyPI.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
# This machine's pip config lists local indexes that may not exist: hide that noise, keep errors.
QUIET_PIP := 2>&1 | { grep -v "^WARNING: Location .* is ignored" || true; }
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
# Lambda runs python3.13; `sam build` needs that interpreter on PATH (pyenv provides it here).
export PYENV_VERSION ?= 3.11.7:3.12.1:3.13.0

.PHONY: demo sandbox test unit integration infra simulation chaos lint typecheck template bench bench-cost build clean

$(VENV)/.stamp: requirements-dev.txt layers/deadman/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt -e . $(QUIET_PIP)
	touch $@

$(SAM_VENV)/.stamp:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q --disable-pip-version-check aws-sam-cli==1.170.0 $(QUIET_PIP)
	touch $@

$(CHECKOV_VENV)/.stamp:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q --disable-pip-version-check checkov==3.3.30 $(QUIET_PIP)
	touch $@

demo: $(VENV)/.stamp
	$(PY) -m sandbox.demo

# The sandbox with its local API, refreshers and a toy trader, until Ctrl-C; it prints what to export
# in another shell (then `. .venv/bin/activate` for `deadman`). ARGS=--two-person tries that rule.
sandbox: $(VENV)/.stamp
	$(PY) -m sandbox.local_api --scheduler --trader $(ARGS)

lint: $(VENV)/.stamp
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m tests.architecture.layers
	$(PY) -m infra.template --check

# template.yaml's per-venue parts, rewritten for every venue of the registry from
# infra/venue_blocks.yaml.tmpl (the rest of template.yaml is edited by hand).
template: $(VENV)/.stamp
	$(PY) -m infra.template

typecheck: $(VENV)/.stamp
	$(PY) -m mypy layers/deadman/deadman sandbox functions tests/architecture infra

unit: $(VENV)/.stamp
	$(PY) -m pytest tests/unit

integration: $(VENV)/.stamp
	$(PY) -m pytest tests/integration

infra: $(VENV)/.stamp $(SAM_VENV)/.stamp $(CHECKOV_VENV)/.stamp
	$(PY) -m pytest tests/infra

# The fault campaign: scenarios from seeds, faults from every layer, the promises checked in
# virtual time. `make test` runs a bounded one; `make chaos N=20000 [SEED=0] [VENUE=name]` any size.
N ?= 2000
SEED ?= 0
VENUE ?=
CAMPAIGN = $(PY) -m sandbox.sim.campaign --scenarios $(N) --seed $(SEED) --workers 2 $(if $(VENUE),--venue $(VENUE))

simulation: $(VENV)/.stamp
	$(PY) -m pytest tests/simulation

chaos: $(VENV)/.stamp
	$(CAMPAIGN)

# The three virtual environments are built side by side, then lint and typecheck; then pytest and the
# campaign run together, the campaign at the lowest priority: it takes the CPU pytest's real-time
# sandbox tests leave idle and never slows them. Its report is printed when both are done; the
# target fails if either does, and an interrupted run stops the campaign it started.
test:
	$(MAKE) --no-print-directory -j3 --output-sync=target $(VENV)/.stamp $(SAM_VENV)/.stamp $(CHECKOV_VENV)/.stamp
	$(MAKE) --no-print-directory -j2 --output-sync=target lint typecheck
	@log=$$(mktemp); nice -n 19 $(CAMPAIGN) >"$$log" 2>&1 & camp=$$!; \
	trap 'kill $$camp 2>/dev/null; rm -f "$$log"' EXIT; \
	$(PY) -m pytest; tests=$$?; \
	echo "waiting for the campaign ($(N) scenarios, seed $(SEED))..."; wait $$camp; chaos=$$?; \
	cat "$$log"; test $$tests -eq 0 && test $$chaos -eq 0

BENCH_VENV := .venv-bench

$(BENCH_VENV)/.stamp: bench/requirements.txt layers/deadman/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q --disable-pip-version-check -r bench/requirements.txt -e . $(QUIET_PIP)
	touch $@

# deadman against ccxt / hyperliquid-python-sdk / python-kraken-sdk (in .venv-bench, never shipped),
# the sandbox's ticks (in .venv) and the cost model: one table, docs/bench/bench.json and *.png.
bench: $(VENV)/.stamp $(BENCH_VENV)/.stamp
	$(BENCH_VENV)/bin/python -m bench --project-python $(PY)

# The cost model alone, on the measurements the last `make bench` stored (bench.json's cost and table;
# the cost charts too when .venv-bench, which has matplotlib, is there).
bench-cost: $(VENV)/.stamp
	$$(test -x $(BENCH_VENV)/bin/python && echo $(BENCH_VENV)/bin/python || echo $(PY)) -m bench --cost-only

build: $(SAM_VENV)/.stamp
	$(SAM_VENV)/bin/sam build --template template.yaml

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) $(BENCH_VENV) .aws-sam .mypy_cache .ruff_cache .pytest_cache
