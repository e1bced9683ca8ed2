# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ITERATIONS ?= 300

.PHONY: install run test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Main job: evolve an SMTT heuristic offline (built-in proposer), then replay the best program
# on the held-out test sets next to EDD, MDD and MDDC.
run: $(STAMP)
	$(BIN)/evolve problem=smtt search.iterations=$(ITERATIONS)
	$(BIN)/evolve-replay runs/smtt/latest --split test --baselines edd,mdd,mddc

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
