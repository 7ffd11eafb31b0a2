"""Figures 7, 8 and S9 from the combined coupling tables and per-unit arrays."""
import numpy as np
import pandas as pd

from resdyn.plots.common import save_figure
from resdyn.plots.coupling import fig7, fig8, figS9

p, inp = snakemake.params, snakemake.input
coupling, summary = pd.read_csv(inp.coupling), pd.read_csv(inp.summary)
units = {}
for run, path in zip(p.runs, inp.units):
    with np.load(path) as z:
        units[run] = {key: z[key] for key in z.files}
save_figure(fig7(coupling, summary, units, p.runs, p.null_runs, p.method, p.null_of, p.column_norm),
            snakemake.output.fig7)
save_figure(fig8(coupling, summary, p.runs, p.method, p.regime_bounds, p.column_norm, p.regime_layers), snakemake.output.fig8)
save_figure(figS9(pd.read_csv(inp.mesoscale), pd.read_csv(inp.rate), p.runs, p.method), snakemake.output.figS9)
