"""Pooled token table (with CLIPPED_MAD scores), trajectory summaries, regimes and their threshold
sensitivity, variance shares, collapse."""
import pandas as pd

from resdyn.core.io import save_csv
from resdyn.core.logs import setup_logging
from resdyn.trajectories.collapse import collapse_table
from resdyn.trajectories.normalise import add_scores, summaries
from resdyn.trajectories.regimes import regime_table, sensitivity_table
from resdyn.trajectories.variance import variance_table

log = setup_logging(snakemake.log[0], "trajectory_statistics")
p, out = snakemake.params, snakemake.output
tokens = add_scores(pd.concat([pd.read_csv(f) for f in snakemake.input], ignore_index=True), p.clip)
summary = summaries(tokens, p.spike)
regimes = regime_table(summary, p.regimes["thresholds"])
c = p.collapse
collapse = collapse_table(tokens, c["entropy_threshold"], c["min_length"], c["n_boot"], c["seed"], c["alpha"])
save_csv(out.tokens, tokens)
save_csv(out.summary, summary)
save_csv(out.regimes, regimes)
save_csv(out.regime_sensitivity, sensitivity_table(summary, p.regimes["thresholds"], p.regimes["sensitivity_factors"]))
save_csv(out.variance, variance_table(summary))
save_csv(out.collapse, collapse)
log.info("%d tokens, %d trajectories", len(tokens), summary.groupby(["run", "prompt", "decoding"]).ngroups)
