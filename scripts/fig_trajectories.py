"""Token-trajectory figures from the pooled tables."""
import pandas as pd

from resdyn.plots import trajectories as plots
from resdyn.plots.common import save_figure

inp, out = snakemake.input, snakemake.output
save_figure(plots.phase_map(pd.read_csv(inp.regimes)), out.phase)
save_figure(plots.traces(pd.read_csv(inp.tokens)), out.traces)
