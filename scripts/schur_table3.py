"""The paper's Table 3 (erank of P_{0:L-1} at c = 0, 1, 2; c0/c1 in modes J and R), CSV + Markdown."""
import pandas as pd

from resdyn.core.io import save_csv, save_text
from resdyn.dynamics.schur import table3, table3_markdown

table = table3(pd.read_csv(snakemake.input[0]))
save_csv(snakemake.output.csv, table)
save_text(snakemake.output.md, table3_markdown(table))
