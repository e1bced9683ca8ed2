# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ITERATIONS ?= 300
# pytest-xdist workers for `make test` (auto: one per core)
TEST_WORKERS ?= auto

.PHONY: install run test test-fast test-profile lint bench clean

# Byte-compile the project's own modules: where PYTHONDONTWRITEBYTECODE is set (CI images often
# do) every `evolve` process and every worker would compile them from source again (0.1-0.2 s each).
PYC = $(BIN)/python -m compileall -q -j 0 evolve problems evaluators tests benchmarks > /dev/null

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Main job: evolve an SMTT heuristic offline (built-in proposer), then replay the best program
# on the held-out test sets next to EDD, MDD and MDDC.
run: $(STAMP)
	@$(PYC)
	$(BIN)/evolve problem=smtt search.iterations=$(ITERATIONS)
	$(BIN)/evolve-replay runs/smtt/latest --split test --baselines edd,mdd,mddc

# Everything, in parallel: tests that share a server (PostgreSQL, the Ray cluster) or a module's
# fixture run in one worker (xdist_group marks, tests/conftest.py), the rest spread freely.
# The summary names the 25 tests with the most CPU (children included) and wall time: where the
# suite's time goes, in every CI log.
test: $(STAMP)
	@$(PYC)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup --cpu-durations=25 --durations=25

# The in-process tests only (engine parts with candidates scored in this process, no sandbox,
# no subprocess): the quick loop while changing the engine. `make test` runs them too.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

# Where the suite's time goes: the 40 tests that use the most CPU (their child processes
# included), a measure that stays put when the machine is busy (tests/conftest.py).
test-profile: $(STAMP)
	$(BIN)/python -m pytest -q --cpu-durations=40 --durations=40

# ruff over the whole tree, then mypy over the installed `evolve` package. mypy cannot follow the
# package-dir mapping in pyproject.toml (problems/ -> evolve.problems, ...), so it runs on a tree of
# symlinks that has the installed layout; its paths are mapped back to the repository's.
MYPY_TREE := build/mypy
lint: $(STAMP)
	@rm -rf $(MYPY_TREE)/evolve && mkdir -p $(MYPY_TREE)/evolve
	@for f in evolve/*; do [ "$${f##*/}" = __pycache__ ] || ln -s "$(CURDIR)/$$f" $(MYPY_TREE)/evolve/; done
	@ln -s "$(CURDIR)/problems" $(MYPY_TREE)/evolve/problems
	@ln -s "$(CURDIR)/evaluators" $(MYPY_TREE)/evolve/evaluators
	@echo "ruff check ."; $(BIN)/ruff check .; ruff=$$?; \
		echo "mypy -p evolve"; cd $(MYPY_TREE) && $(CURDIR)/$(BIN)/mypy \
		--config-file "$(CURDIR)/pyproject.toml" --cache-dir "$(CURDIR)/build/mypy_cache" \
		-p evolve > out.txt 2>&1; mypy=$$?; \
		sed -e 's#^evolve/problems/#problems/#' -e 's#^evolve/evaluators/#evaluators/#' out.txt; \
		[ $$ruff = 0 ] && [ $$mypy = 0 ]

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
