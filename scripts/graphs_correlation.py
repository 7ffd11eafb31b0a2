"""Sparse signed top-k correlation graph of every snapshot of one run (+ one dense matrix for Fig. 6)."""
import numpy as np

from resdyn.core.io import save_npz
from resdyn.core.logs import setup_logging
from resdyn.topology.graphs import correlation_matrix, pack_graphs, showcase_snapshot, snapshot_graphs

log = setup_logging(snakemake.log[0], "resdyn")
acts = np.load(snakemake.input.activations, mmap_mode="r")
if acts.ndim != 3 or acts.shape[1] % 2:
    raise ValueError(f"{snakemake.input.activations}: expected (N, 2L, d), got shape {acts.shape}")
graphs = snapshot_graphs(acts, snakemake.params.knn, log=log.info)
show = showcase_snapshot(acts.shape[1], snakemake.params.showcase_depth)
save_npz(
    snakemake.output.graphs,
    **pack_graphs(graphs),
    knn=np.array(snakemake.params.knn),
    showcase_snapshot=np.array(show),
    showcase_corr=correlation_matrix(np.asarray(acts[:, show, :])).astype(np.float16),
)
