# The two commands of the README. Both create .venv if absent and install the project into it.
PYTHON ?= python3
VENV ?= .venv
# The CPU build of torch; on a GPU box use e.g. `make demo TORCH=torch` for the CUDA build.
TORCH ?= torch==2.13.0
CORES ?= all
BIN := $(VENV)/bin
# Tests run with the network cut where the kernel lets us (proves nothing downloads).
OFFLINE := $(shell unshare -n true 2>/dev/null && echo unshare -n)

.PHONY: demo test setup clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: setup
	$(BIN)/snakemake --cores $(CORES) --configfile config/config.yaml
	$(BIN)/snakemake --cores $(CORES) --configfile config/config.yaml --report report.html
	@echo "Report: $(CURDIR)/report.html   Outputs: $(CURDIR)/results/"

test: setup
	$(OFFLINE) $(BIN)/python -m pytest -q -rs

clean:
	rm -rf results resources .snakemake report.html
