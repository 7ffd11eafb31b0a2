"""Concatenate one table over all runs (each per-run table already has a `run` column)."""
import pandas as pd

from resdyn.core.io import save_csv

tables = [pd.read_csv(path) for path in snakemake.input]
save_csv(snakemake.output[0], pd.concat(tables, ignore_index=True))
