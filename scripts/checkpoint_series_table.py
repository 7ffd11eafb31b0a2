"""checkpoint_series.csv: the headline findings of every run of each declared checkpoint series."""
import pandas as pd

from resdyn.core.io import save_csv
from resdyn.findings.checkpoint_series import series_table

p = snakemake.params
tables = {name: pd.read_csv(path) for name, path in snakemake.input.items()}
save_csv(snakemake.output[0], series_table(tables, p.series, p.method, p.column_norm))
