"""Per-sample Jacobians of one block or a chunk of blocks, streamed into each layer's statistics file."""
import numpy as np
import torch

from resdyn.activations import prefix_states, tokenize
from resdyn.corpus import read_jsonl
from resdyn.io import save_npz
from resdyn.jacobians import JacobianAccumulator, check_precision, double_block, in_context_jacobian, single_token_layer_stats
from resdyn.logs import Progress, setup_logging
from resdyn.memory import fixed_mmap_threshold
from resdyn.models.architectures import architecture_of
from resdyn.models.block import Block
from resdyn.models.layer_files import single_token_block
from resdyn.models.sources import compute_device, load_prepared

log = setup_logging(snakemake.log[0], "jacobian_layer")
fixed_mmap_threshold()  # peak memory flat in N
torch.set_num_threads(snakemake.threads)
run, p = snakemake.wildcards.run, snakemake.params
device = compute_device()
precision = check_precision(p.precision)
activations = np.load(snakemake.input.activations, mmap_mode="r")
if p.protocol != "single_token":  # the earlier tokens' states come from a forward pass of the full model
    model, tokenizer = load_prepared(snakemake.input.model, device=device)
    token_ids = tokenize(tokenizer, read_jsonl(snakemake.input.corpus), p.bos)[: p.n_samples]

for layer, path in zip(p.layers, p.layer_files):
    where = f"run {run}, layer {layer}"
    states = activations[: p.n_samples, 2 * layer]  # the first jacobians.n_samples samples (None: all)
    progress = Progress(log, len(states), f"{where} ({p.protocol}) Jacobians")
    if p.protocol == "single_token":  # only this block's weights, read without importing transformers
        block = single_token_block(snakemake.input.model, layer, device=device)
        result = single_token_layer_stats(block, states, p.batch_size, where, progress, precision)
    else:  # in-context: float32 Jacobians, the unresolved ones (auto) or all (double) again in float64
        acc = JacobianAccumulator(d=states.shape[1])
        block = Block(model, layer, architecture_of(model.config.model_type))
        block64 = None if precision == "single" else double_block(block)
        for i, ids in enumerate(token_ids):
            prefix = prefix_states(model, ids, layer)
            again = None if block64 is None else (lambda rows, x=prefix: in_context_jacobian(block64, x)[None])
            jac = again(None) if precision == "double" else in_context_jacobian(block, prefix)[None]
            acc.add(jac, [i], where, again)
            progress()
        result = acc.result()
    save_npz(path, **result)
    log.info("%s done: %d samples", where, len(result["kappa"]))
