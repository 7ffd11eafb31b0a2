"""coupling: the topology against the dynamics, the paper's three tests. No module imports torch.

Sections are those of Fernando & Guitchounts (2026), "Dynamics of the Transformer Residual
Stream", unless another paper is named.

Index (module: public names — paper section):
- rate: ``layer_changes``, ``rate_rows`` — Test 1, §3.3, A.5, App. D, Table 4 (1 − NMI against
  |Δσ_max(K)|, |Δ variance captured|)
- mesoscale: ``coarse_grain``, ``variance_captured``, ``mesoscale_test``, ``mesoscale_rows`` — Test 2,
  §3.2, A.5 (K = C_outᵀ J C_in against random partitions)
- boundary: ``boundary_test``, ``boundary_rows``, ``selfalign_coupling`` — Test 3, A.5, Fig. 8
  (Cohen's d of column norms, participation tails; d against self-alignment)
- snapshots: ``block_snapshots``, ``rng_for`` — A.4/A.5 (which snapshots a block reads and writes)
- stats: ``permutation_p``, ``benjamini_hochberg``, ``cohens_d``, ``cohens_d_permutation``,
  ``tail_indices``, ``spearman_permutation``, ``z_test_greater`` — A.5
- tables: ``run_coupling`` (Tests 1-3 of one run, every method), ``JacobianFiles``,
  ``self_alignment_from_spectra`` — A.5
"""
