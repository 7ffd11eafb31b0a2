"""Figures 2/S2, 3/S3 (with regime means) and S6, from the layer table."""
import pandas as pd

from resdyn.plots.common import save_figure
from resdyn.plots.spectra import (forward_alignment_figure, nonnormality_figure, profiles_figure,
                                  regime_figure)

table = pd.read_csv(snakemake.input.table)
means = pd.read_csv(snakemake.input.means)
out = snakemake.output
save_figure(profiles_figure(table), out.profiles)
save_figure(regime_figure(means, {"kappa_median": "κ (median)", "frac_expanding": "fraction |λ| > 1",
                                  "mean_abs_eig": "mean |λ|"}, log_columns=("kappa_median",)), out.regimes)
save_figure(nonnormality_figure(table), out.nonnormality)
save_figure(regime_figure(means, {"self_alignment_J": "J self-alignment", "self_alignment_R": "R self-alignment",
                                  "residual_norm_ratio": "‖R‖_F/‖J‖_F", "henrici_J": "Henrici δ(J)"}),
            out.nonnormality_regimes)
save_figure(forward_alignment_figure(table), out.forward)
