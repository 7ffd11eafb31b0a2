"""The transport figure, from cumulative_transport.csv alone."""
import pandas as pd

from resdyn.plots.common import save_figure
from resdyn.plots.transport import figure_transport

save_figure(figure_transport(pd.read_csv(snakemake.input.table)), snakemake.output.figure)
