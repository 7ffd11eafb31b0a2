"""Per-sample Jacobians of one block, streamed into the layer's statistics file."""
import numpy as np
import torch

from resdyn.activations import prefix_states, tokenize
from resdyn.corpus import read_jsonl
from resdyn.io import save_npz
from resdyn.jacobians import JacobianAccumulator, in_context_jacobian, single_token_jacobians
from resdyn.logs import Progress, setup_logging
from resdyn.models.architectures import architecture_of
from resdyn.models.block import Block
from resdyn.models.sources import compute_device, load_prepared

log = setup_logging(snakemake.log[0], "jacobian_layer")
torch.set_num_threads(snakemake.threads)
run, layer = snakemake.wildcards.run, int(snakemake.wildcards.layer)
protocol, batch = snakemake.params.protocol, snakemake.params.batch_size
device = compute_device()
model, tokenizer = load_prepared(snakemake.input.model, device=device)
block = Block(model, layer, architecture_of(model.config.model_type))
states = np.load(snakemake.input.activations, mmap_mode="r")[:, 2 * layer]
acc = JacobianAccumulator(d=states.shape[1])
progress = Progress(log, len(states), f"{run} layer {layer} ({protocol}) Jacobians")
if protocol == "single_token":
    for start in range(0, len(states), batch):
        ids = np.arange(start, min(start + batch, len(states)))
        acc.add(single_token_jacobians(block, torch.from_numpy(states[ids].copy()).to(device)), ids, f"run {run}, layer {layer}")
        progress(len(ids))
else:
    token_ids = tokenize(tokenizer, read_jsonl(snakemake.input.corpus))
    for i, ids in enumerate(token_ids):
        jac = in_context_jacobian(block, prefix_states(model, ids, layer))
        acc.add(jac[None], [i], f"run {run}, layer {layer}")
        progress()
save_npz(snakemake.output[0], **acc.result())
log.info("done: %d samples", acc.n)
