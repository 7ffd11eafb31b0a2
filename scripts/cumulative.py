"""Cumulative products P_l = J_{L-1} ... J_l of one run: per-layer table, summary, spectra."""
import pandas as pd

from resdyn.core.io import save_csv
from resdyn.core.logs import setup_logging
from resdyn.dynamics.cumulative import MeanJacobians, cumulative_products, cumulative_tables

log = setup_logging(snakemake.log[0], "cumulative")
run = snakemake.wildcards.run
method, rank = snakemake.params.method, snakemake.params.rank

jacobians = MeanJacobians(snakemake.input.jacobians)
result = cumulative_products(jacobians, method=method, rank=rank)
log.info("run %s: %d layers, d = %d, %s composition, erank(P_0) = %.3f", run, len(jacobians), result.dim, method, result.erank[0])

per_layer, summary, spectra = cumulative_tables(run, result, pd.read_csv(snakemake.input.spectra), method)
save_csv(snakemake.output.table, per_layer)
save_csv(snakemake.output.summary, summary)
save_csv(snakemake.output.spectra, spectra)
