# Two commands: `make demo` and `make test`. Each bootstraps .venv from pyproject.toml.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   ?= demo

.PHONY: demo test bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	TQDM_DISABLE=1 $(BIN)/workbench demo $(DEMO)

test: $(STAMP)
	TQDM_DISABLE=1 $(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/deid_throughput.py
	$(BIN)/python bench/review_open.py

clean:
	rm -rf $(VENV) $(DEMO) test-output
