"""Per-run community tables: per-snapshot summaries and long-form pairwise NMI, all methods."""
import numpy as np
import pandas as pd

from resdyn.core.io import save_csv

run = snakemake.wildcards.run
summary = pd.concat([pd.read_csv(path) for path in snakemake.input.tables], ignore_index=True)
nmi_rows = []
for method, path in zip(snakemake.params.methods, snakemake.input.partitions):
    with np.load(path) as z:
        nmi = z["nmi"]
    a, b = np.triu_indices(len(nmi), k=1)
    nmi_rows.append(pd.DataFrame({"run": run, "method": method, "snapshot_a": a, "snapshot_b": b, "nmi": nmi[a, b]}))
cols = ["run"] + [c for c in summary.columns if c != "run"]
save_csv(snakemake.output.communities, summary[cols])
save_csv(snakemake.output.nmi, pd.concat(nmi_rows, ignore_index=True))
