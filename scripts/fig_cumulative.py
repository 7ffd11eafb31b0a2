"""Figures 4 (a-d) and S7, from the cumulative tables alone."""
import pandas as pd

from resdyn.plots.common import save_figure
from resdyn.plots.cumulative import figure4, figure_s7

tables = {name: pd.read_csv(path) for name, path in snakemake.input.items()}
save_figure(figure4(tables["table"], tables["summary"], tables["spectra"], snakemake.params.figure_run), snakemake.output.fig4)
save_figure(figure_s7(tables["table"], tables["summary"], tables["spectra"]), snakemake.output.figS7)
