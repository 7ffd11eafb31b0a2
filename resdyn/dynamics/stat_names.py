"""Names of the per-sample statistics in a Jacobian layer file (torch-free: the spectra and
table rules run in the graph env, which has no torch).

Implements Fernando & Guitchounts (2026), "Dynamics of the Transformer Residual Stream",
Appendix A.3 (per-sample singular values).
"""

STAT_NAMES = ("sigma_max", "sigma_min", "kappa", "pr", "fro")
FLAG_NAMES = ("kappa_unresolved", "kappa_censored")  # per-sample booleans in the layer file
