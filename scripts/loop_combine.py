"""Concatenate one loop table over models (each per-model table has a `model` or `checkpoint` column)."""
import pandas as pd

from resdyn.core.io import save_csv

save_csv(snakemake.output[0], pd.concat([pd.read_csv(p) for p in snakemake.input], ignore_index=True))
