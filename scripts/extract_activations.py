"""Last-token residual snapshots of every sample -> activations.npy (N, 2L, d)."""
import torch

from resdyn.activations import extract_last_token, tokenize
from resdyn.corpus import read_jsonl
from resdyn.io import save_npy
from resdyn.logs import Progress, setup_logging
from resdyn.models.sources import compute_device, load_prepared

log = setup_logging(snakemake.log[0], "extract_activations")
torch.set_num_threads(snakemake.threads)
device = compute_device()
model, tokenizer = load_prepared(snakemake.input.model, device=device)
token_ids = tokenize(tokenizer, read_jsonl(snakemake.input.corpus))
progress = Progress(log, len(token_ids), f"{snakemake.wildcards.run} samples")
acts = extract_last_token(model, token_ids, snakemake.params.batch_size, progress)
save_npy(snakemake.output[0], acts)
log.info("saved %s", acts.shape)
