"""plots: every figure, drawn from the tables and saved arrays alone (matplotlib, no torch).

Index (module: public names — figure of Fernando & Guitchounts (2026), "Dynamics of the
Transformer Residual Stream", unless another paper is named):
- common: ``save_figure`` (headless backend, house style, atomic PNG + PDF)
- spectra: ``eigenvalue_figure`` (Fig. 1, S1), ``profiles_figure`` (Fig. 2, S2), ``nonnormality_figure``
  (Fig. 3, S3), ``forward_alignment_figure`` (Fig. S6), ``regime_figure`` (Fig. 2d–f, 3d–g)
- cumulative: ``figure4``, ``figure_s7`` — Fig. 4, S7
- transport: ``figure_transport`` — the bottleneck as the model transports (§2.2)
- schur: ``figure5``, ``figure_s8`` — Fig. 5, S8
- communities: ``fig6`` — Fig. 6
- coupling: ``fig7``, ``fig8``, ``figS9`` — Fig. 7, 8, S9
- checkpoint_series: ``figure_checkpoint_series`` — Fig. 7d generalised to every headline finding
- protocol: ``figure_protocol_comparison`` — the two Jacobian protocols per layer
- lyapunov: ``ftle_profiles``, ``loop_convergence``, ``attribution_bars``, ``attention_spectra`` — the
  Lyapunov stage
- loops: ``spectrum_convergence``, ``state_change``, ``attribution_bars``, ``directions_heatmap``,
  ``cosine_heatmap``, ``checkpoint_series`` — Lyapunov Spectral Analysis of Loop Transformer Dynamics
  (anonymous, 2026)
- trajectories: ``phase_map``, ``traces`` — token-trajectory regimes (Bosange Batuli 2026)
"""
