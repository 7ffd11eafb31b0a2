"""Spearman bridge between lambda_1 summaries (seed means) and a user outcome table."""
import pandas as pd

from resdyn.core.io import save_csv
from resdyn.core.logs import setup_logging
from resdyn.lyapunov.bridge import bridge_table

log = setup_logging(snakemake.log[0], "lyapunov_bridge")
b = snakemake.params.bridge
ftle = pd.read_csv(snakemake.input.ftle)
pred = (ftle.groupby(["run", "sample"], as_index=False)[["lambda1", "slope", "layer_var"]].mean())
table = bridge_table(pred, pd.read_csv(snakemake.input.outcomes), n_boot=b["n_boot"], seed=b["seed"],
                     alpha=b["alpha"], min_abs_rho=b["min_abs_rho"])
save_csv(snakemake.output.table, table)
log.info("%d tests, %d pass", len(table), int(table["passes"].sum()))
