"""Lyapunov exponents of the residual stream: through depth, through loops, and of
products of attention matrices.

Implements Mohammad (2026), "Depth-Dynamics Signatures of Conversational Collapse: Finite-Time
Lyapunov Analysis of Transformer Forward Passes" (FTLE, bridge statistics), Gibbs (2025),
"Lyapunov Exponents for Attention Composition: A Dynamical Systems Perspective on Deep
Transformers" (attention products) and the Benettin spectra and attribution of anonymous
authors (2026), "Lyapunov Spectral Analysis of Loop Transformer Dynamics".

Modules (each one job): ``qr_flow`` (QR renormalisation, probes, finiteness checks),
``benettin`` (top-k spectra by re-orthogonalised tangent flows, per-map attribution),
``ftle`` (top-1 finite-time exponent with a layerwise log-growth profile),
``systems`` (reference dynamical systems with published exponents),
``attention_products`` (spectra of products of row-stochastic matrices),
``bridge`` (rank correlations of exponent summaries with outcomes), ``model_runs`` (one run's
tables on a prepared model: ``ftle_tables``, ``spectrum_tables``, ``attribution_table``,
``attention_table``). The decoder as maps on a
token's residual state is resdyn.models.decoder_map.
"""
