"""The findings scorecard: the paper's headline claims, this run set's numbers, a verdict each.

The claims are data (``claims.yaml``: the paper's sentence by section, its values, the strength
it is stated at and the direction alone, the tables needed); each has one small rule function
registered by its id. A verdict reads holds (at the paper's strength), holds in direction only,
differs, not resolved (the number's band, over an arbitrary choice, straddles the threshold) or
not testable with these runs (with the reason).

Index (no module imports torch):
- ``scorecard(tables, runs, null_of, ...)`` — every claim over its runs (scorecard.py)
- ``to_markdown(card)`` — the scorecard as Markdown with the verdict counts
- ``load_claims()`` — claims.yaml as ``Claim`` rows (claims.py)
- ``decide(strength, direction)`` — the verdict of a rule's two answers (verdicts.py)
- rules_spectra: §2-2.1, Fig. 1-3, Table 2, App. B (eigenvalues, κ regimes, self-alignment, Henrici)
- rules_bottleneck: §2.2-2.3, App. C (cumulative erank, transport, Schur/polar surgery, controls)
- rules_topology: §3, App. D (communities, NMI, mesoscale, boundary coupling, rate-level coupling)
- rules_series: training claims over a declared checkpoint order (Fig. 7d, Fig. 4d, Table 2)
"""
from resdyn.findings.claims import Claim, load_claims
from resdyn.findings.scorecard import COLUMNS, scorecard, to_markdown
from resdyn.findings.verdicts import (DIFFERS, DIRECTION_ONLY, HOLDS, NO_RESOLUTION, NOT_RESOLVED, NOT_TESTABLE,
                                      VERDICTS, decide)

__all__ = ["COLUMNS", "Claim", "DIFFERS", "DIRECTION_ONLY", "HOLDS", "NO_RESOLUTION", "NOT_RESOLVED",
           "NOT_TESTABLE", "VERDICTS", "decide", "load_claims", "scorecard", "to_markdown"]
