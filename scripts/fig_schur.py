"""Figures 5 (a-c) and S8, from the schur_dose table alone."""
import pandas as pd

from resdyn.plots.common import save_figure
from resdyn.plots.schur import figure5, figure_s8

dose = pd.read_csv(snakemake.input[0])
save_figure(figure5(dose), snakemake.output.fig5)
save_figure(figure_s8(dose), snakemake.output.figS8)
