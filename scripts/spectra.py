"""Per-layer spectral table and eigenvalues of one run."""
import numpy as np

from resdyn.core.io import save_csv, save_npz
from resdyn.core.logs import setup_logging
from resdyn.dynamics.layer_table import layer_spectra

log = setup_logging(snakemake.log[0], "spectra")
layers = (np.load(path) for path in snakemake.input)
table, eigs = layer_spectra(snakemake.wildcards.run, layers, snakemake.params.k, snakemake.params.regime_bounds,
                            snakemake.params.regime_layers)
save_csv(snakemake.output.table, table)
save_npz(snakemake.output.eigenvalues, **eigs)
log.info("%d layers", len(table))
