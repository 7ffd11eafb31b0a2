"""Single-probe lambda_1 of one checkpoint of a training series (loop paper Fig. 3)."""
from resdyn.core.device import job_device
from resdyn.core.io import save_csv
from resdyn.core.logs import setup_logging
from resdyn.loops.jobs import load_job
from resdyn.loops.measurements import checkpoint_table, set_threads

log = setup_logging(snakemake.log[0], "loop_checkpoint")
job_device(log)  # pins IEEE float32, refuses a granted GPU torch cannot see, logs the device
p, c, e, name = snakemake.params, snakemake.params.checkpoints, snakemake.params.entry, snakemake.wildcards.model
set_threads(snakemake.threads)
model, prompts = load_job(snakemake.input.model, p.spec, p.dtype, snakemake.input.prompts, p.max_tokens,
                          n_prompts=c["n_prompts"])
table = checkpoint_table(model, prompts, name, checkpoint_step=e["step"], final=e.get("final", False),
                         n_steps=c["loop_steps"], seed=c["seed"], loop_state=p.loop_state, init_seed=p.init_seed)
save_csv(snakemake.output.table, table)
log.info("%s (step %d): lambda1 %.4f over %d prompts", name, e["step"], table["lambda1"].mean(), len(table))
