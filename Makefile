# Every target CI or a user needs; CI calls only these.
VENV ?= .venv
PY := $(VENV)/bin/python
CB := $(VENV)/bin/convbench
STAMP := $(VENV)/.installed

.PHONY: install run test lint format bench bench-layer bench-auto clean report study
.PHONY: gate gate-stored gate-baseline gate-quality

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

run: install
	$(CB) run configs/quick.yaml --overwrite
	$(CB) plot results/quick.csv

STUDY_CSVS := results/study-2d.csv results/study-depth5-stride2.csv results/study-depth10-stride5.csv

# Regenerate results/REPORT.md from the committed study CSVs (no re-measuring).
report: install
	$(CB) report $(STUDY_CSVS) -o results/REPORT.md

# Re-measure the three study sweeps (each <= ~20 min on 2 cores), then plot and report.
# They replace the committed CSVs on purpose (--overwrite).
study: install
	$(CB) run configs/study-2d.yaml --overwrite
	$(CB) run configs/study-depth5-stride2.yaml --overwrite
	$(CB) run configs/study-depth10-stride5.yaml --overwrite
	$(CB) plot $(STUDY_CSVS)
	$(CB) plot --metric memory $(STUDY_CSVS)
	$(CB) report $(STUDY_CSVS) -o results/REPORT.md

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check convbench tests benchmarks
	$(VENV)/bin/ruff format --check convbench tests benchmarks

format: install
	$(VENV)/bin/ruff format convbench tests
	$(VENV)/bin/ruff check --fix convbench tests

bench-layer: install
	$(PY) benchmarks/bench_layer.py

bench-auto: install
	$(PY) benchmarks/bench_auto.py configs/bench-auto.yaml

# The regression gate: the working tree against BASE, both measured here and now, side by side
# (README, "compare"). BASE defaults to where this branch left main (origin/main, else main):
# the gate then judges exactly your changes, as a pull request's gate would; on main with a
# clean tree that is HEAD, an A/A gate. `make gate BASE=HEAD~1` gates the last commit instead.
BASE ?= $(shell git merge-base HEAD origin/main 2>/dev/null || git merge-base HEAD main 2>/dev/null || echo HEAD)
gate: install
	$(CB) gate configs/ci.yaml --base $(BASE) -o results/ci.csv --markdown results/ci-gate.md

# The stored-baseline gate (no git needed): the sweep against runs made earlier on this machine,
# flagged cells re-measured in fresh processes. gate-baseline re-makes those runs.
GATE_RUNS ?= 5
GATE_BASELINES ?= $(wildcard results/baseline/ci-*.csv)
gate-stored: install
	$(CB) gate configs/ci.yaml $(foreach b,$(GATE_BASELINES),--baseline $(b)) -o results/ci.csv --markdown results/ci-gate.md

gate-baseline: install
	rm -f results/baseline/ci-*.csv results/baseline/ci-*.meta.json
	for i in $$(seq 1 $(GATE_RUNS)); do $(CB) run configs/ci.yaml -o results/baseline/ci-$$i.csv --no-progress --overwrite || exit 1; done

# False alarms and detection of `gate --base` on this machine: 40 A/A and 10 slowed gates, quiet
# and with a noisy neighbour (~6 h on 2 cores; resumable: records in results/gate-quality/records,
# see benchmarks/gate_quality.py).
gate-quality: install
	$(PY) benchmarks/gate_quality.py --aa 40 --slowed 10 --out results/gate-quality

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
