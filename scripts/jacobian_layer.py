"""Per-sample Jacobians of one block, streamed into the layer's statistics file."""
import numpy as np
import torch

from resdyn.activations import prefix_states, tokenize
from resdyn.corpus import read_jsonl
from resdyn.io import save_npz
from resdyn.jacobians import JacobianAccumulator, in_context_jacobian, single_token_layer_stats
from resdyn.logs import Progress, setup_logging
from resdyn.memory import fixed_mmap_threshold
from resdyn.models.architectures import architecture_of
from resdyn.models.block import Block
from resdyn.models.layer_files import single_token_block
from resdyn.models.sources import compute_device, load_prepared

log = setup_logging(snakemake.log[0], "jacobian_layer")
fixed_mmap_threshold()  # peak memory flat in N
torch.set_num_threads(snakemake.threads)
run, layer = snakemake.wildcards.run, int(snakemake.wildcards.layer)
protocol, batch = snakemake.params.protocol, snakemake.params.batch_size
where = f"run {run}, layer {layer}"
device = compute_device()
states = np.load(snakemake.input.activations, mmap_mode="r")[:, 2 * layer]
progress = Progress(log, len(states), f"{where} ({protocol}) Jacobians")
if protocol == "single_token":  # only this block's weights, read without importing transformers
    block = single_token_block(snakemake.input.model, layer, device=device)
    result = single_token_layer_stats(block, states, batch, where, progress)
else:  # the earlier tokens' states come from a forward pass of the full model
    acc = JacobianAccumulator(d=states.shape[1])
    model, tokenizer = load_prepared(snakemake.input.model, device=device)
    block = Block(model, layer, architecture_of(model.config.model_type))
    for i, ids in enumerate(tokenize(tokenizer, read_jsonl(snakemake.input.corpus))):
        acc.add(in_context_jacobian(block, prefix_states(model, ids, layer))[None], [i], where)
        progress()
    result = acc.result()
save_npz(snakemake.output[0], **result)
log.info("done: %d samples", len(result["kappa"]))
