"""Last-token residual snapshots of every sample -> activations.npy (N, 2L, d), and the run's
next-token loss on the first samples from the same forward passes -> model_health.csv."""
import pandas as pd
import torch

from resdyn.core.device import job_device
from resdyn.core.io import save_csv, save_npy
from resdyn.core.logs import Progress, setup_logging
from resdyn.data.activations import extract_with_loss
from resdyn.data.corpus import read_jsonl
from resdyn.data.health import check_health
from resdyn.data.tokens import encode_all
from resdyn.models.sources import load_prepared

log = setup_logging(snakemake.log[0], "extract_activations")
device = job_device(log)  # pins IEEE float32, refuses a granted GPU torch cannot see, logs the device
p, run = snakemake.params, snakemake.wildcards.run
torch.set_num_threads(snakemake.threads)
model, tokenizer = load_prepared(snakemake.input.model, device=device)
token_ids = encode_all(tokenizer, read_jsonl(snakemake.input.corpus), p.bos)
progress = Progress(log, len(token_ids), f"{run} samples")
acts, tally = extract_with_loss(model, token_ids, p.batch_size, p.health["samples"], progress)
health = tally.row(run, p.bos)
log.info("%s: loss %.3f nats/token over %d tokens (ln V = %.2f)", run, health["loss"], health["n_tokens"], health["ln_vocab"])
check_health(health, p.trained, p.health["max_loss_fraction"])  # before any output exists
save_csv(snakemake.output.health, pd.DataFrame([health]))
save_npy(snakemake.output.activations, acts)
log.info("saved %s", acts.shape)
