"""Per-sublayer attribution of one run's exponents (QR after every sublayer)."""
import time

import torch

from resdyn.core.device import job_device
from resdyn.core.io import save_csv
from resdyn.core.logs import setup_logging
from resdyn.lyapunov.model_runs import attribution_table, prepare

log = setup_logging(snakemake.log[0], "lyapunov_attribution")
job_device(log)  # pins IEEE float32, refuses a granted GPU torch cannot see, logs the device
p, run = snakemake.params.attribution, snakemake.wildcards.run
torch.set_num_threads(snakemake.threads)
start = time.time()
model, samples, ids = prepare(snakemake.input.model, snakemake.input.corpus, p["n_samples"],
                              snakemake.params.max_tokens, snakemake.params.bos)
table = attribution_table(model, samples, ids, run, k=p["k"], loop_steps=p["loop_steps"], seed=p["seed"],
                          loop_final_norm=snakemake.params.loop_final_norm)
save_csv(snakemake.output.table, table)
log.info("%s: contributions sum to the exponents; %.1f s", run, time.time() - start)
