"""Tests 1-3 of the topology-dynamics coupling for one run, every community method."""
import numpy as np
import pandas as pd

from resdyn.core.io import save_csv, save_npz
from resdyn.core.logs import setup_logging
from resdyn.coupling.tables import JacobianFiles, run_coupling, self_alignment_from_spectra

log = setup_logging(snakemake.log[0], "resdyn")
p, run = snakemake.params, snakemake.wildcards.run
jac = JacobianFiles(snakemake.input.jacobians, p.column_norm)
col_norms = jac.all_column_norms()  # both readings; p.column_norm is the one the summary counts
stores = {m: np.load(path) for m, path in zip(p.methods, snakemake.input.partitions)}
mems = {m: z["membership"] for m, z in stores.items()}
parts = {m: z["participation"] for m, z in stores.items()}
selfal = self_alignment_from_spectra(pd.read_csv(snakemake.input.spectra), len(jac), run)
tables = run_coupling(run, mems, parts, jac, col_norms, selfal, column_norm=p.column_norm, tail_ties=p.tail_ties,
                      tail_fraction=p.tail_fraction,
                      n_perm_rate=p.n_perm_rate, n_perm_units=p.n_perm_units,
                      n_random_partitions=p.n_random_partitions, alpha=p.alpha, seed=p.seed, log=log.info)
for name, table in tables.items():
    save_csv(getattr(snakemake.output, name), table)
# per-unit scatter data for Figure 7a: participation at each block's input snapshot and column norms
save_npz(snakemake.output.units, col_norm=np.stack(col_norms[p.column_norm]),
         **{f"col_norm_{r}": np.stack(c) for r, c in col_norms.items()},
         **{f"participation_{m}": parts[m][0::2] for m in p.methods})
