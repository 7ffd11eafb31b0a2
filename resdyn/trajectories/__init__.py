"""Token trajectories during generation (after Bosange Batuli 2026, "Four Dynamical Regimes in
Large Language Models: An Empirical Phase Map"; definitions here are this project's): per-token instability ct_t along
generated text, its normalisation, per-trajectory summaries, regimes on the
(level, variability) plane, a variance decomposition and low-entropy collapse episodes.

Modules: ``prompts`` (categorised prompts), ``generation`` (greedy and sampled decoding),
``token_metrics`` (ct_t through depth, kinematic, H_t, repeats), ``model_run`` (one run's
trajectory table), ``normalise``, ``regimes``, ``variance``, ``collapse`` (the statistics).

generation, token_metrics and model_run need torch; prompts does not; normalise, regimes, variance and
collapse are pandas/statsmodels only (the CPU statistics rule imports just those).
"""
