"""Figure 1/S1 for one run, from its eigenvalue file."""
import numpy as np

from resdyn.plots.common import save_figure
from resdyn.plots.spectra import eigenvalue_figure

with np.load(snakemake.input[0]) as f:
    eigs, robust = f["eig_J"], (f["robust_J"] if "robust_J" in f else None)
save_figure(eigenvalue_figure(eigs, snakemake.wildcards.run, robust=robust), snakemake.output)
