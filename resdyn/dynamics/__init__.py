"""dynamics: the Jacobians J of each block and what they do to a perturbation: spectra, cumulative
products, transport, non-normality surgery, and the single-token against the in-context protocol.

Sections are those of Fernando & Guitchounts (2026), "Dynamics of the Transformer Residual
Stream", unless another paper is named.

Index (module: public names — paper section — torch?):
- jacobians: ``single_token_jacobians``, ``in_context_jacobian`` (A.2), ``JacobianAccumulator`` (A.2 mean J,
  A.5 column norms), ``singular_value_stats`` (A.3 κ, PR), ``single_token_layer_stats``, ``check_precision`` — torch
- engines: ``engine_layer_stats``, ``engine_in_context_stats`` — A.2, for Gemma 4's closed form and the
  generic (autodiff) layers — torch
- stat_names: ``STAT_NAMES``, ``FLAG_NAMES`` — A.3 (the per-sample arrays of a layer file) — no torch
- spectra: ``eigen_conditioned``, ``eigen_summary``, ``perturbation_radius``, ``robust_complex``,
  ``top_singular_subspaces``, ``self_alignment``, ``forward_alignment``, ``regime_labels`` — A.3, App. B — no torch
- layer_table: ``layer_spectra`` (A.3), ``regime_means``, ``self_alignment_table`` (Table 2) — no torch
- cumulative: ``cumulative_products``, ``cumulative_tables``, ``ExactProduct``, ``TruncatedProduct``,
  ``MeanJacobians`` — A.3, Fig. 4, Fig. S7 — no torch
- transport: ``TransportSums``, ``transport_table`` — §2.2 (E_n of per-sample products against the
  product of means) — torch
- schur: ``complex_schur``, ``dose_sweep``, ``table3``, ``table3_markdown`` — App. C (Schur surgery,
  Controls A and B), Table 3 — no torch
- polar_surgery: ``polar_form``, ``polar_matrices`` — App. C, order-free (polar) surgery — no torch
- protocols: ``protocol_layer_arrays``, ``device_bytes_needed``, ``relative_difference`` — A.2 (both
  protocols on the same samples) — torch
"""
