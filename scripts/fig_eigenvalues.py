"""Figure 1/S1 for one run, from its eigenvalue file."""
import numpy as np

from resdyn.plots.common import save_figure
from resdyn.plots.spectra import eigenvalue_figure

eigs = np.load(snakemake.input[0])["eig_J"]
save_figure(eigenvalue_figure(eigs, snakemake.wildcards.run), snakemake.output)
