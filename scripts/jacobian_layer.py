"""Per-sample Jacobians of one block or a chunk of blocks, streamed into each layer's statistics file."""
import numpy as np
import torch

from resdyn.core.device import job_device
from resdyn.core.io import save_npz
from resdyn.core.logs import setup_logging
from resdyn.core.memory import fixed_mmap_threshold
from resdyn.dynamics.engines import layer_stats_by_engine

log = setup_logging(snakemake.log[0], "jacobian_layer")
device = job_device(log)  # pins IEEE float32, refuses a granted GPU torch cannot see, logs the device
fixed_mmap_threshold()  # peak memory flat in N
torch.set_num_threads(snakemake.threads)
run, p = snakemake.wildcards.run, snakemake.params
files = dict(zip(p.layers, p.layer_files))
layers = layer_stats_by_engine(
    snakemake.input.model, p.layers, p.protocol, np.load(snakemake.input.activations, mmap_mode="r"),
    snakemake.input.corpus, run=run, bos=p.bos, n_samples=p.n_samples, batch_size=p.batch_size,
    precision=p.precision, device=device, log=log,
)
for layer, arrays in layers:
    save_npz(files[layer], **arrays)
    log.info("run %s, layer %d done: %d samples", run, layer, len(arrays["kappa"]))
