"""One run's generated trajectories: ct_t (FTLE through depth, kinematic), H_t, repeats per token."""
import time

import torch

from resdyn.core.device import job_device
from resdyn.core.io import save_csv
from resdyn.core.logs import setup_logging
from resdyn.models.sources import load_for_inference
from resdyn.trajectories.model_run import trajectory_tokens
from resdyn.trajectories.prompts import categorised_prompts

log = setup_logging(snakemake.log[0], "trajectory_generate")
job_device(log)  # pins IEEE float32, refuses a granted GPU torch cannot see, logs the device
p, run = snakemake.params.traj, snakemake.wildcards.run
torch.set_num_threads(snakemake.threads)
start = time.time()
prompts = categorised_prompts(p["categories"], p["prompts_per_category"], p["min_chars"], p["max_chars"])
model, tokenizer = load_for_inference(snakemake.input.model)
table = trajectory_tokens(model, tokenizer, prompts, run, prompt_tokens=p["prompt_tokens"], n_tokens=p["n_tokens"],
                          temperature=p["temperature"], seed=p["seed"],
                          ftle_seeds=range(p["ftle"]["seed"], p["ftle"]["seed"] + p["ftle"]["seeds"]),
                          cadence=p["ftle"]["cadence"], repeat_n=p["repeat"]["n"], repeat_window=p["repeat"]["window"],
                          bos=snakemake.params.bos)
save_csv(snakemake.output.table, table)
log.info("%s: %d prompts x 2 decodings x %d tokens, %.1f s", run, len(prompts), p["n_tokens"], time.time() - start)
