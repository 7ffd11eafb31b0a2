"""FTLE lambda_1 profiles of one run (JVP tangents, QR every `cadence` layers)."""
import time

import torch

from resdyn.core.device import job_device
from resdyn.core.io import save_csv
from resdyn.core.logs import setup_logging
from resdyn.lyapunov.model_runs import ftle_tables, prepare

log = setup_logging(snakemake.log[0], "lyapunov_ftle")
job_device(log)  # pins IEEE float32, refuses a granted GPU torch cannot see, logs the device
p, run = snakemake.params, snakemake.wildcards.run
torch.set_num_threads(snakemake.threads)
start = time.time()
model, samples, ids = prepare(snakemake.input.model, snakemake.input.corpus, p.n_samples, p.max_tokens, p.bos)
seeds = range(p.ftle["seed"], p.ftle["seed"] + p.ftle["seeds"])
table, profile = ftle_tables(model, samples, ids, run, seeds=seeds, cadence=p.ftle["cadence"],
                             position=p.position, span_tokens=p.span_tokens, norm=p.ftle["norm"],
                             profile=p.ftle["profile"])
save_csv(snakemake.output.profile, profile)
save_csv(snakemake.output.table, table)
log.info("%s: %d samples x %d seeds, 0 non-finite, %.1f s", run, len(samples), len(seeds), time.time() - start)
