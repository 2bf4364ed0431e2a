# Every target CI or a user needs; CI calls only these.
VENV ?= .venv
PY := $(VENV)/bin/python
CB := $(VENV)/bin/convbench
STAMP := $(VENV)/.installed

.PHONY: install run test lint format bench bench-layer clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

run: install
	$(CB) run configs/quick.yaml
	$(CB) plot results/quick.csv

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check convbench tests
	$(VENV)/bin/ruff format --check convbench tests

format: install
	$(VENV)/bin/ruff format convbench tests
	$(VENV)/bin/ruff check --fix convbench tests

bench-layer: install
	$(PY) benchmarks/bench_layer.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
