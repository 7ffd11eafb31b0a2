"""Lyapunov spectra of attention products: random softmax matrices and this run's own."""
import time

import torch

from resdyn.core.device import job_device
from resdyn.core.io import save_csv
from resdyn.core.logs import setup_logging
from resdyn.lyapunov.model_runs import attention_table, prepare

log = setup_logging(snakemake.log[0], "lyapunov_attention")
job_device(log)  # pins IEEE float32, refuses a granted GPU torch cannot see, logs the device
p, run = dict(snakemake.params.attention), snakemake.wildcards.run
torch.set_num_threads(snakemake.threads)
start = time.time()
model, samples, _ = prepare(snakemake.input.model, snakemake.input.corpus, p.pop("n_samples"),
                            p["real_tokens"], snakemake.params.bos)
table = attention_table(model, samples, run, **p)
save_csv(snakemake.output.table, table)
log.info("%s: %d rows, %.1f s", run, len(table), time.time() - start)
