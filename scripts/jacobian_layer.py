"""Per-sample Jacobians of one block or a chunk of blocks, streamed into each layer's statistics file."""
from pathlib import Path

import numpy as np
import torch

from resdyn.core.device import job_device
from resdyn.core.io import save_npz
from resdyn.core.logs import Progress, setup_logging
from resdyn.core.memory import fixed_mmap_threshold
from resdyn.data.corpus import read_jsonl
from resdyn.data.tokens import encode_all
from resdyn.dynamics.engines import engine_in_context_stats, engine_layer_stats
from resdyn.dynamics.jacobians import check_precision, single_token_layer_stats
from resdyn.dynamics.protocols import protocol_layer_arrays
from resdyn.models.architectures import engine_of
from resdyn.models.layer_files import single_token_block
from resdyn.models.sources import load_prepared, load_tokenizer, prepared_config

log = setup_logging(snakemake.log[0], "jacobian_layer")
device = job_device(log)  # pins IEEE float32, refuses a granted GPU torch cannot see, logs the device
fixed_mmap_threshold()  # peak memory flat in N
torch.set_num_threads(snakemake.threads)
run, p = snakemake.wildcards.run, snakemake.params
precision = check_precision(p.precision)
activations = np.load(snakemake.input.activations, mmap_mode="r")
engine = engine_of(prepared_config(Path(snakemake.input.model))["model_type"])  # block, gemma4 or generic
model = token_ids = None
if p.protocol != "single_token":  # the earlier tokens' states come from a forward pass of the full model
    model, tokenizer = load_prepared(snakemake.input.model, device=device)
elif engine == "gemma4":  # Gemma 4 reads each sample's last token (its per-layer input)
    tokenizer = load_tokenizer(snakemake.input.model)
if p.protocol != "single_token" or engine == "gemma4":
    token_ids = encode_all(tokenizer, read_jsonl(snakemake.input.corpus), p.bos)[: p.n_samples]

if engine != "block" and p.protocol == "single_token":  # Gemma 4's closed form, or autodiff through the layer
    for layer, path in zip(p.layers, p.layer_files):
        where = f"run {run}, layer {layer}"
        progress = Progress(log, len(activations[: p.n_samples]), f"{where} ({p.protocol}) Jacobians")
        result = engine_layer_stats(snakemake.input.model, layer, p.protocol, activations[: p.n_samples], token_ids,
                                    p.batch_size, where, progress, device=device, precision=precision)
        save_npz(path, **result)
        log.info("%s done: %d samples", where, len(result["kappa"]))
elif engine != "block":  # in context, autodiff through the layers: one forward pass per sample for the chunk
    progress = Progress(log, len(token_ids), f"run {run}, layers {p.layers[0]}-{p.layers[-1]} (in_context) samples")
    results = engine_in_context_stats(model, p.layers, token_ids, f"run {run}", progress, precision)
    for layer, path, result in zip(p.layers, p.layer_files, results):
        save_npz(path, **result)
        log.info("run %s, layer %d done: %d samples", run, layer, len(result["kappa"]))
elif p.protocol == "single_token":  # only each block's weights, read without importing transformers
    for layer, path in zip(p.layers, p.layer_files):
        where = f"run {run}, layer {layer}"
        states = activations[: p.n_samples, 2 * layer]  # the first jacobians.n_samples samples (None: all)
        block = single_token_block(snakemake.input.model, layer, device=device)
        result = single_token_layer_stats(block, states, p.batch_size, where,
                                          Progress(log, len(states), f"{where} (single_token) Jacobians"), precision)
        save_npz(path, **result)
        log.info("%s done: %d samples", where, len(result["kappa"]))
else:  # in context: one forward pass per sample gives every block's prefix states
    progress = Progress(log, len(token_ids), f"run {run}, layers {p.layers[0]}-{p.layers[-1]} (in_context) samples")
    arrays, _ = protocol_layer_arrays(model, token_ids, run, progress, precision, p.layers, protocols=("in_context",))
    for layer, path, result in zip(p.layers, p.layer_files, arrays["in_context"]):
        save_npz(path, **result)
        log.info("run %s, layer %d done: %d samples", run, layer, len(result["kappa"]))
