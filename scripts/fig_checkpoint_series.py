"""The checkpoint-series figure (each headline finding against training step), from its table alone."""
import pandas as pd

from resdyn.plots.checkpoint_series import figure_checkpoint_series
from resdyn.plots.common import save_figure

table = pd.read_csv(snakemake.input[0])
save_figure(figure_checkpoint_series(table, snakemake.params.null_runs), snakemake.output)
