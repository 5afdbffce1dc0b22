# Two entry points for a fresh machine: `make demo` and `make test` (CI runs `make lint` first).
# Each creates .venv (once), installs vaekit into it, then does its job.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Pinned so pip never picks a newer multi-GB CUDA build by itself; override
# with e.g. `make demo TORCH_SPEC="torch>=2.2"` to use your own torch.
TORCH_SPEC ?= torch==2.13.0

.PHONY: demo test test-fast lint docs install clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: install
	$(BIN)/vaekit demo --out runs/demo --overwrite

test: install
	$(BIN)/python -m pytest -q

# The suite without the tests marked slow: under a minute on two cores.
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

# Import rules (ruff: PLC0415 wants a reason for every import inside a function), the
# package's layers (import-linter: [tool.importlinter] in pyproject.toml), and mypy on
# code written against the public API (vaekit ships py.typed).
lint: install
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/lint-imports
	$(BIN)/mypy --follow-imports=silent --ignore-missing-imports tests/typing/public_api.py

# The documentation site (mkdocs.yml, pages in docs/site, hooks in docs/hooks), built strictly into
# site/: a broken link, reference or missing docstring fails it. Needs no network.
docs: install
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	$(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) runs .pytest_cache
