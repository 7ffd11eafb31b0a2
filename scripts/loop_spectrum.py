"""Top-k Benettin spectrum of one loop model over its loop steps (loop paper Fig. 1)."""
import time

from resdyn.core.device import job_device
from resdyn.core.io import save_csv
from resdyn.core.logs import setup_logging
from resdyn.loops.jobs import load_job
from resdyn.loops.measurements import set_threads, spectrum_tables

log = setup_logging(snakemake.log[0], "loop_spectrum")
job_device(log)  # pins IEEE float32, refuses a granted GPU torch cannot see, logs the device
p, s, name = snakemake.params, snakemake.params.spectrum, snakemake.wildcards.model
set_threads(snakemake.threads)
start = time.time()
model, prompts = load_job(snakemake.input.model, p.spec, p.dtype, snakemake.input.prompts, p.max_tokens)
spec, conv = spectrum_tables(model, prompts, name, k=s["k"], n_steps=s["loop_steps"], seed=s["seed"],
                             loop_state=p.loop_state, n_running=s["n_running"], init_seed=p.init_seed)
save_csv(snakemake.output.convergence, conv)
save_csv(snakemake.output.spectrum, spec)
log.info("%s: %d prompts, k=%d, T=%d, %.1f s", name, len(prompts), s["k"], s["loop_steps"], time.time() - start)
