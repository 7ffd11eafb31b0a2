"""Partition every snapshot graph of one run with one method; participation and NMI too."""
import numpy as np
import pandas as pd

from resdyn.core.io import save_csv, save_npz
from resdyn.core.logs import setup_logging
from resdyn.topology.communities import partition_snapshots
from resdyn.topology.graphs import unpack_graphs

log = setup_logging(snakemake.log[0], "resdyn")
p = snakemake.params
with np.load(snakemake.input.graphs) as store:
    graphs = unpack_graphs(store)
mems, part, quality, nmi, rows = partition_snapshots(
    graphs, snakemake.wildcards.method, gamma=p.gamma, gamma_neg=p.gamma_neg, seed=p.seed,
    min_size=p.min_size, log=log.info,
)
save_npz(snakemake.output.partition, membership=mems, participation=part, quality=quality, nmi=nmi)
save_csv(snakemake.output.table, pd.DataFrame(rows).assign(run=snakemake.wildcards.run))
