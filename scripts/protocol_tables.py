"""One run's Jacobians in both protocols on the same first samples, each protocol's tables, and the transport table."""
import numpy as np
import pandas as pd
import torch

from resdyn.core.device import job_device, require_memory
from resdyn.core.io import save_csv
from resdyn.core.logs import Progress, setup_logging
from resdyn.data.corpus import read_jsonl
from resdyn.data.tokens import encode_all
from resdyn.dynamics.protocols import PROTOCOLS, device_bytes_needed, protocol_layer_arrays
from resdyn.dynamics.transport import TransportSums, transport_table
from resdyn.findings.protocol_tables import protocol_tables
from resdyn.models.sources import load_prepared

log = setup_logging(snakemake.log[0], "protocol_tables")
device = job_device(log)  # pins IEEE float32, refuses a granted GPU torch cannot see, logs the device
p, run = snakemake.params, snakemake.wildcards.run
torch.set_num_threads(snakemake.threads)
model, tokenizer = load_prepared(snakemake.input.model)  # on the host first: the card's size is checked before
require_memory(device, device_bytes_needed(model), f"protocol_tables ({run})")
model = model.to(device)
token_ids = encode_all(tokenizer, read_jsonl(snakemake.input.corpus)[: p.n_samples], p.bos)
transport = {protocol: TransportSums() for protocol in PROTOCOLS}
arrays, rel_diff = protocol_layer_arrays(model, token_ids, run, Progress(log, len(token_ids), f"{run} samples"),
                                         p.precision, transport=transport)
stores = {m: np.load(path) for m, path in zip(p.methods, snakemake.input.partitions)}
mems = {m: z["membership"] for m, z in stores.items()}
parts = {m: z["participation"] for m, z in stores.items()}
for protocol in PROTOCOLS:
    tables = protocol_tables(run, arrays[protocol], mems, parts, k=p.k, regime_bounds=p.regime_bounds,
                             regime_layers=p.regime_layers, cumulative_method=p.cumulative["method"],
                             rank=p.cumulative["rank"], coupling=p.coupling)
    for name, table in tables.items():
        table.insert(1, "protocol", protocol)
        save_csv(getattr(snakemake.output, f"{protocol}_{name}"), table)
log.info("%s: median relative difference of the two Jacobians per layer: %s", run,
         np.array2string(np.median(rel_diff, axis=1), precision=2))
save_csv(snakemake.output.relative_difference, pd.DataFrame(
    {"run": run, "layer": np.repeat(np.arange(rel_diff.shape[0]), rel_diff.shape[1]),
     "sample": np.tile(np.arange(rel_diff.shape[1]), rel_diff.shape[0]), "relative_difference": rel_diff.ravel()}))
save_csv(snakemake.output.transport, pd.concat(
    [transport_table(run, protocol, transport[protocol], [a["mean_J_f64"] for a in arrays[protocol]])
     for protocol in ("in_context", "single_token")], ignore_index=True))
