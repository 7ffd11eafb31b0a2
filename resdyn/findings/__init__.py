"""findings: what the run set shows against what the paper says: the scorecard, the checkpoint
series and the protocol comparison. No module imports torch.

The claims are data (``claims.yaml``: the paper's sentence by section, its values, the strength
it is stated at and the direction alone, the tables needed); each has one small rule function
registered by its id. A verdict reads holds (at the paper's strength), holds in direction only,
differs, not resolved (the number's band, over an arbitrary choice, straddles the threshold) or
not testable with these runs (with the reason).

Sections are those of Fernando & Guitchounts (2026), "Dynamics of the Transformer Residual
Stream". Index (module: public names — paper section):
- scorecard: ``scorecard(tables, runs, null_of, ...)`` (every claim over its runs), ``to_markdown(card)``, ``to_html(card)`` (the report page)
  — §2-3, App. B-E
- claims: ``load_claims()`` — claims.yaml as ``Claim`` rows
- verdicts: ``decide(strength, direction)`` and the verdict names — the verdict of a rule's two answers
- registry: ``rule(claim_id)`` — the decorator that registers a claim's rule function in ``RULES``
- context: ``Context`` (the tables and run roles one scorecard reads), ``regime_means``, ``depth_trend``
  — the look-ups rules share
- bands: ``band``, ``pick_method``, ``within``, ``less``, ``falls_monotonically`` — a number known within
  a band (Schur surgery over eigenvalue orders) and threshold tests that may be undecided
- rules_spectra: §2-2.1, Fig. 1-3, Table 2, App. B (eigenvalues, κ regimes, self-alignment, Henrici)
- rules_bottleneck: §2.2-2.3, App. C (cumulative erank, transport, Schur/polar surgery, controls)
- rules_topology: §3, App. D (communities, NMI, mesoscale, boundary coupling, rate-level coupling)
- rules_series: training claims over a declared checkpoint order (Fig. 7d, Fig. 4d, Table 2)
- checkpoint_series: ``series_table``, ``run_quantities``, ``trend``, ``grows``, ``run_rows`` — Tables 1-2,
  Fig. 7d (headline quantities over a declared training order)
- protocol_tables: ``protocol_tables`` — A.2 (one protocol's layer_spectra, cumulative and coupling
  tables by the main stages' functions)
- protocol_comparison: ``protocol_comparison``, ``ProtocolTables`` — A.2 (each per-layer finding in
  both protocols)
"""
