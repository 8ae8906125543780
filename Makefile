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
	rm -rf $(DEMO)
	TQDM_DISABLE=1 $(BIN)/workbench examples $(DEMO)/example --patients 3
	$(BIN)/workbench deid $(DEMO)/example/delivery $(DEMO)/out --profile uk-pet-core-lab \
		--lookup $(DEMO)/example/subjects.csv --store $(DEMO)/state/workbench.sqlite; \
	  rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 2 ] || exit $$rc
	$(BIN)/workbench verify $(DEMO)/example/delivery $(DEMO)/out --profile uk-pet-core-lab \
		--store $(DEMO)/state/workbench.sqlite

test: $(STAMP)
	TQDM_DISABLE=1 $(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/deid_throughput.py

clean:
	rm -rf $(VENV) $(DEMO) test-output
