"""Token trajectories during generation: per-token instability ct_t along
generated text, its normalisation, per-trajectory summaries, regimes on the
(level, variability) plane, a variance decomposition and low-entropy collapse episodes.

prompts, generation and token_metrics need torch; normalise, regimes, variance and
collapse are pandas/statsmodels only (the CPU statistics rule imports just those).
"""
