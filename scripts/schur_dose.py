"""Non-normality surgery dose sweep of one run and mode (J or R), polar or Schur: the dose and its controls."""
from resdyn.core.io import save_csv
from resdyn.core.logs import setup_logging
from resdyn.dynamics.cumulative import MeanJacobians
from resdyn.dynamics.schur import LayerSchurForms, dose_sweep

log = setup_logging(snakemake.log[0], "schur_sweep")
wc, p = snakemake.wildcards, snakemake.params

forms = LayerSchurForms(MeanJacobians(snakemake.input.jacobians), wc.mode, p.surgery)
table = dose_sweep(
    forms, wc.mode, p.constructions, p.doses, draws=p.draws, seed=p.seed, method=p.method, rank=p.rank,
    precision=p.precision, order_draws=p.order_draws,
)
table.insert(0, "run", wc.run)
save_csv(snakemake.output[0], table)
