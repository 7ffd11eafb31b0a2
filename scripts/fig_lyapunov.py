"""Lyapunov figures from the combined tables."""
import pandas as pd

from resdyn.plots import lyapunov as plots
from resdyn.plots.common import save_figure

inp, out = snakemake.input, snakemake.output
save_figure(plots.ftle_profiles(pd.read_csv(inp.profile)), out.profiles)
save_figure(plots.loop_convergence(pd.read_csv(inp.convergence)), out.convergence)
save_figure(plots.attribution_bars(pd.read_csv(inp.attribution)), out.attribution)
save_figure(plots.attention_spectra(pd.read_csv(inp.attention)), out.attention)
