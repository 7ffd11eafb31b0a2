"""Names of the per-sample statistics in a Jacobian layer file, shared by its writer
(resdyn.dynamics.jacobians, torch) and its reader (resdyn.dynamics.layer_table, pandas): here
rather than in either, so that the Jacobian jobs load no pandas and the spectra jobs (graph env)
no torch.

Implements Fernando & Guitchounts (2026), "Dynamics of the Transformer Residual Stream",
Appendix A.3 (per-sample singular values).
"""

STAT_NAMES = ("sigma_max", "sigma_min", "kappa", "pr", "fro")
FLAG_NAMES = ("kappa_unresolved", "kappa_censored")  # per-sample booleans in the layer file
