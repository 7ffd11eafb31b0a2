"""core: what every stage stands on: atomic files, logs, the job's device, config checks, the
roles of runs, and the formulas several analyses share. Imports nothing else of resdyn.

Sections are those of Fernando & Guitchounts (2026), "Dynamics of the Transformer Residual
Stream", unless another paper is named.

Index (module: public names — paper section — torch?):
- io: ``atomic_path``, ``atomic_folder``, ``save_npy``/``save_npz``/``save_csv``/``save_text``/``save_json``,
  ``give_umask_mode`` — (outputs appear whole or not at all) — no torch
- logs: ``setup_logging``, ``Progress`` — (one log file per job) — no torch
- memory: ``fixed_mmap_threshold`` — (flat peak memory of streaming jobs) — no torch
- device: ``job_device``, ``choose_device``, ``require_memory``, ``in_batches_that_fit``, ``pin_ieee_float32``
  — (a GPU job's device, IEEE float32; ``python -m resdyn.core.device``) — torch
- run_roles: ``null_of``, ``null_runs``, ``is_null`` (a run's untrained null, Fig. 5-8),
  ``declared_series`` (checkpoint order, Tables 1-2, Fig. 7d) — no torch
- config_checks: ``check_config``, ``check_prepared_model``, ``check_width``, ``declared_layers``,
  ``canonicalise_in_place``, ``ConfigError`` — (config keys beyond the schema) — no torch
- config_docs: ``render``, ``schema_keys``, ``documented_keys`` — (config/README.md from the schema;
  ``python -m resdyn.core.config_docs``) — no torch
- linalg: ``henrici_departure`` (A.3, C.1), ``effective_rank`` (A.3), ``spearman`` (A.5, Fig. S7; NaN
  where undefined), ``haar_unitary`` (C.1, Control B) — no torch
- sv_extremes: ``singular_extremes`` — A.3 (σ_max, σ_min, κ, PR of one Jacobian) — no torch
"""
