# Every target creates .venv and installs what it needs; nothing is assumed on the machine but python3.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo demo-online test test-postgres lint docs dist fuzz fuzz-cov bench clean specs verifier wallet

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# atheris (coverage-guided fuzzing; a manylinux wheel, nothing to build) for the fuzz targets and make test's smoke.
$(VENV)/.fuzz: pyproject.toml | $(VENV)/.dev
	$(BIN)/pip install -q -e '.[dev,fuzz]'
	touch $@

# MkDocs, Material and mkdocstrings for the documentation site (make docs, and the strict build in make test).
$(VENV)/.docs: pyproject.toml | $(VENV)/.dev
	$(BIN)/pip install -q -e '.[dev,docs]'
	touch $@

demo: $(VENV)/.dev
	$(BIN)/python examples/demo.py

# The mock issuer and the age-gated shop (OpenID4VP), running until Ctrl-C; prints what to open.
demo-online: $(VENV)/.dev
	$(BIN)/python examples/age_gated_shop/demo_online.py

test: lint docs $(VENV)/.fuzz
	$(BIN)/python -m pytest -q

# The same, with the storage tests also on a local PostgreSQL (installed and started from Debian's packages; root).
test-postgres: $(VENV)/.dev
	DIDLIB_TEST_POSTGRES=$$(scripts/postgres-up) $(MAKE) test

# The documentation site in site/: guides, the API reference from the docstrings of the public names, the error
# codes table generated from the code. Strict: a warning (a broken link, a missing reference, a public name
# without a docstring) fails the build. Offline: nothing is fetched while building. Not --quiet: it drops the
# warnings before --strict counts them, and the build passes whatever is wrong.
docs: $(VENV)/.docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/mypy

# The wheel and sdist in dist/, then the wheel alone installed into a new virtual environment and every
# entry point run from outside the checkout (scripts/check-dist).
dist: $(VENV)/.dev
	rm -rf dist
	$(BIN)/python -m build -o dist . >/dev/null
	scripts/check-dist dist/didlib-*.whl

# Long hypothesis runs against every parser (minutes); make test runs a short smoke of the same tests.
fuzz: $(VENV)/.dev
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q tests/test_fuzz.py

# Coverage-guided fuzzing (atheris) of each parser of outside input, one harness at a time at the lowest
# priority, SECONDS each: make fuzz-cov [HARNESS="cbor qr"] [SECONDS=600]. Logs in .fuzz/logs, what the
# fuzzer learnt in .fuzz/corpus, findings in .fuzz/crashes (tests/fuzz/run.py says what to do with them).
SECONDS ?= 300
fuzz-cov: $(VENV)/.fuzz
	@mkdir -p .fuzz/logs
	@for h in $${HARNESS:-$$($(BIN)/python tests/fuzz/run.py --list 2>/dev/null)}; do \
	  echo "== $$h: $(SECONDS) s"; \
	  nice -n 19 $(BIN)/python tests/fuzz/run.py $$h -max_total_time=$(SECONDS) -print_final_stats=1 \
	    > .fuzz/logs/$$h.log 2>&1 || { tail -40 .fuzz/logs/$$h.log; exit 1; }; \
	  grep -E "DONE|^Done|stat::number_of_executed_units" .fuzz/logs/$$h.log; \
	done

bench: $(VENV)/.dev
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python bench/run.py

# The verifier app on a desktop, with trust data from a local issuer service (start one with didlib-issuer),
# or: make verifier VERIFIER_ARGS="--trust pki/iaca.pem --trust pki/ds.pem"
VERIFIER_ARGS ?= --issuer http://127.0.0.1:8000
verifier: $(VENV)/.dev
	$(BIN)/python -m verifier_app $(VERIFIER_ARGS)

# The wallet on a desktop (data in ~/.didlib-wallet); add credentials from a local didlib-issuer.
wallet: $(VENV)/.dev
	$(BIN)/python -m wallet_app

clean:
	rm -rf $(VENV) site .pytest_cache .ruff_cache .mypy_cache .hypothesis build dist *.egg-info

# Regenerate the generated parts of specs/ (the element tables of specs/mdoc.md) from the registry.
specs: $(VENV)/.dev
	$(BIN)/python -m didlib.mdoc.registry --update specs/mdoc.md
