"""Benettin top-k spectra of one run through depth and through loops of its stack."""
import time

import torch

from resdyn.core.device import job_device
from resdyn.core.io import save_csv
from resdyn.core.logs import setup_logging
from resdyn.lyapunov.model_runs import prepare, spectrum_tables

log = setup_logging(snakemake.log[0], "lyapunov_spectrum")
job_device(log)  # pins IEEE float32, refuses a granted GPU torch cannot see, logs the device
p, run = snakemake.params.spectrum, snakemake.wildcards.run
torch.set_num_threads(snakemake.threads)
start = time.time()
model, samples, ids = prepare(snakemake.input.model, snakemake.input.corpus, p["n_samples"],
                              snakemake.params.max_tokens, snakemake.params.bos)
table, conv = spectrum_tables(model, samples, ids, run, k=p["k"], loop_steps=p["loop_steps"], seed=p["seed"],
                              loop_final_norm=p["loop_final_norm"], loop_state=p["loop_state"],
                              n_running=p["n_running"])
save_csv(snakemake.output.convergence, conv)
save_csv(snakemake.output.table, table)
log.info("%s: %d samples, k=%d, 0 non-finite, %.1f s", run, len(samples), p["k"], time.time() - start)
