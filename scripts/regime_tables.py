"""Regime means of the layer table, and the paper's Table 2 (self-alignment by regime)."""
import pandas as pd

from resdyn.core.io import save_csv, save_text
from resdyn.dynamics.layer_table import regime_means, self_alignment_table

table = pd.read_csv(snakemake.input[0])
save_csv(snakemake.output.means, regime_means(table))
table2 = self_alignment_table(table)
save_csv(snakemake.output.table2, table2)
save_text(snakemake.output.table2_md, table2.to_markdown(index=False, floatfmt=".4g") + "\n")
