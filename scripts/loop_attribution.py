"""Per-sublayer attribution of one loop model's exponents (loop paper Fig. 2, Fig. 5a)."""
import time

from resdyn.core.device import job_device
from resdyn.core.io import save_csv
from resdyn.core.logs import setup_logging
from resdyn.loops.jobs import load_job
from resdyn.loops.measurements import attribution_tables, set_threads

log = setup_logging(snakemake.log[0], "loop_attribution")
job_device(log)  # pins IEEE float32, refuses a granted GPU torch cannot see, logs the device
p, a, name = snakemake.params, snakemake.params.attribution, snakemake.wildcards.model
set_threads(snakemake.threads)
start = time.time()
model, prompts = load_job(snakemake.input.model, p.spec, p.dtype, snakemake.input.prompts, p.max_tokens)
attr, dirs = attribution_tables(model, prompts, name, k=a["k"], heatmap_k=a["heatmap_k"], n_steps=a["loop_steps"],
                                seed=a["seed"], loop_state=p.loop_state, init_seed=p.init_seed)
save_csv(snakemake.output.directions, dirs)
save_csv(snakemake.output.attribution, attr)
log.info("%s: %d prompts, max |sum - exponent| %.1e, %.1f s", name, len(prompts), attr["sum_gap"].abs().max(),
         time.time() - start)
