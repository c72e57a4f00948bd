# Two commands do all the set-up on a fresh machine:
#   make demo   -> creates .venv, installs semready, runs the demo (sample + semantic-poor items -> teacher ->
#                  split -> three schemes -> runs/demo/run/report.html)
#   make test   -> creates .venv, installs semready + test tools, runs the test suite
# torch/torchvision are pinned here to the builds this team's machines hold on local disk; users installing
# with plain pip get any torch>=2.2 (see README).
VENV   ?= .venv
PYTHON ?= python3
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.semready-installed

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

.PHONY: install demo test bench lint mutants
install: $(STAMP)

demo: $(STAMP)
	rm -rf runs/demo
	$(BIN)/semready demo --out runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/clustering.py --out benchmarks/results/clustering.json

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

# Mutation testing of the core modules ([tool.mutmut] in pyproject.toml; scores and survivors: docs/testing.md).
mutants: $(STAMP)
	$(BIN)/pip install -q -e '.[mutation]'
	rm -rf mutants
	# one thread per test process: torch thread pools do not survive the fork mutmut runs each mutant in
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/mutmut run --max-children 2
	$(BIN)/python benchmarks/mutation_score.py
