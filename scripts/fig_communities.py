"""Figure 6 from the saved graphs and partitions (primary community method)."""
import numpy as np

from resdyn.plots.common import save_figure
from resdyn.plots.communities import fig6

panels = []
for run, gpath, ppath in zip(snakemake.params.runs, snakemake.input.graphs, snakemake.input.partitions):
    with np.load(gpath) as g, np.load(ppath) as p:
        snap = int(g["showcase_snapshot"])
        panels.append({"run": run, "corr": g["showcase_corr"], "snapshot": snap, "membership": p["membership"][snap],
                       "nmi": p["nmi"], "method": snakemake.params.method})
save_figure(fig6(panels), snakemake.output)
