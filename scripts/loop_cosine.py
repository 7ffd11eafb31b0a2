"""Cosine similarity of one loop model's residual states across loops (loop paper Fig. 4)."""
from resdyn.core.device import job_device
from resdyn.core.io import save_csv
from resdyn.core.logs import setup_logging
from resdyn.loops.jobs import load_job
from resdyn.loops.measurements import cosine_table, set_threads

log = setup_logging(snakemake.log[0], "loop_cosine")
job_device(log)  # pins IEEE float32, refuses a granted GPU torch cannot see, logs the device
p, name = snakemake.params, snakemake.wildcards.model
set_threads(snakemake.threads)
model, prompts = load_job(snakemake.input.model, p.spec, p.dtype, snakemake.input.prompts, p.max_tokens)
save_csv(snakemake.output.cosine, cosine_table(model, prompts, name, n_loops=p.loops, init_seed=p.init_seed))
log.info("%s: %d prompts, %d loops", name, len(prompts), p.loops)
