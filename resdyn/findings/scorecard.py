"""Assemble the scorecard: every claim of claims.yaml over its subjects, one row each."""
from __future__ import annotations

from html import escape

import pandas as pd

from resdyn.findings import rules_bottleneck, rules_series, rules_spectra, rules_topology  # noqa: F401 (register)
from resdyn.findings.claims import Claim, load_claims
from resdyn.findings.context import Context
from resdyn.findings.registry import RULES
from resdyn.findings.rules_series import series_order
from resdyn.findings.verdicts import (NO_RESOLUTION, NOT_TESTABLE, VERDICTS, Outcome, Untestable, answer,
                                      decide)

# The first columns are the scorecard's original ones; claim, paper_text, at_strength and
# in_direction (yes / no / undecided; empty where not testable) follow.
COLUMNS = ["protocol", "finding", "paper_ref", "paper_value", "run", "null_run", "measured", "verdict", "rule",
           "resolution", "claim", "paper_text", "at_strength", "in_direction"]
NO_SERIES_CLAIM = "series_coupling_emerges"  # stands for the training claims where no series is declared


def _row(claim: Claim, run: str, finding: str, outcome: Outcome | None, why: str = "", null_run: str = "") -> dict:
    base = {"finding": finding, "paper_ref": claim.ref, "paper_value": claim.value, "run": run,
            "rule": claim.rule, "claim": claim.id, "paper_text": claim.sentence}
    if outcome is None:
        return {**base, "null_run": null_run, "measured": why, "verdict": NOT_TESTABLE,
                "resolution": NO_RESOLUTION, "at_strength": "", "in_direction": ""}
    return {**base, "null_run": outcome.null_run, "measured": outcome.measured,
            "verdict": decide(outcome.strength, outcome.direction), "resolution": outcome.resolution,
            "at_strength": answer(outcome.strength), "in_direction": answer(outcome.direction)}


def _evaluate(ctx: Context, claim: Claim, subject: str, run: str, finding: str) -> dict:
    try:
        return _row(claim, run, finding, RULES[claim.id](ctx, claim, subject))
    except Untestable as why:
        null = subject if subject in ctx.trained_of else ctx.null_of.get(run, "")
        return _row(claim, run, finding, None, str(why), null_run=null)


def _series_rows(ctx: Context, claim: Claim) -> list[dict]:
    series = ctx.t.get("checkpoint_series")
    if series is None or series.empty:
        if claim.id != NO_SERIES_CLAIM:
            return []
        why = ("the config declares null pairs (null_of) but no checkpoint_series; the null → trained endpoints "
               "are in 'FDR-significant coupling layers'")
        return [_row(claim, run, claim.finding, None, why, ctx.null_of[run])
                for run in ctx.trained if run in ctx.null_of]
    out = []
    for name in dict.fromkeys(series["series"]):
        _, runs, _ = series_order(ctx, name)
        out.append(_evaluate(ctx, claim, name, runs[-1], f"{claim.finding} ({name})"))
    return out


def claim_rows(ctx: Context, claim: Claim) -> list[dict]:
    if claim.over == "series":
        return _series_rows(ctx, claim)
    subjects = {"trained": ctx.trained, "nulls": ctx.nulls, "runs": ctx.runs}[claim.over]
    return [_evaluate(ctx, claim, run, run, claim.finding) for run in subjects]


def scorecard(tables: dict, runs, null_of: dict, protocol="single_token", method: str = "signed_cpm",
              column_norm: str = "mean_jacobian", untrained=(), claims=None) -> pd.DataFrame:
    """Every claim for one protocol. ``protocol`` is a label or {run: label}; ``untrained`` lists
    runs without trained weights (source: init) besides the declared nulls; ``claims`` defaults to
    claims.yaml."""
    ctx = Context(tables, runs, null_of, method, column_norm, untrained)
    rows = [r for claim in (claims or load_claims()) for r in claim_rows(ctx, claim)]
    df = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "protocol"])
    df.insert(0, "protocol", df["run"].map(protocol) if isinstance(protocol, dict) else protocol)
    return df[COLUMNS]


INTRO = ("Each headline claim of Fernando & Guitchounts (2026), \"Dynamics of the Transformer Residual Stream\", "
         "this run set's numbers and a verdict: tested at the strength the paper states it and, separately, in its "
         "direction.")


def verdict_counts(card: pd.DataFrame) -> dict[str, int]:
    """{verdict: rows}, every verdict in the order of VERDICTS (0 where none)."""
    counts = card["verdict"].value_counts()
    return {v: int(counts.get(v, 0)) for v in VERDICTS}


def to_markdown(card: pd.DataFrame) -> str:
    tally = ", ".join(f"{n} {v}" for v, n in verdict_counts(card).items())
    head = f"# Findings scorecard\n\n{INTRO} {tally}.\n\n"
    shown = [c for c in COLUMNS if c != "paper_text"]
    return head + card[shown].to_markdown(index=False) + "\n"


# the report page: verdicts by colour; each row's rule, resolution and the paper's sentence folded
VERDICT_COLOURS = dict(zip(VERDICTS, ("#cde8cd", "#fbeab0", "#f4c7c3", "#d6dcf5", "#e6e6e6")))
STYLE = """body{font-family:sans-serif;font-size:14px;margin:1em;max-width:1400px}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ddd;padding:4px 6px;text-align:left;
vertical-align:top}th{position:sticky;top:0;background:#fff}.ref,.sub{color:#666;font-size:12px}
.verdict{white-space:nowrap;border-radius:3px;padding:1px 5px}details{font-size:12px;color:#333}
summary{cursor:pointer;color:#555}"""


def _badge(verdict: str) -> str:
    return f'<span class="verdict" style="background:{VERDICT_COLOURS.get(verdict, "#fff")}">{escape(verdict)}</span>'


def _html_row(r: pd.Series) -> str:
    text = {k: escape(str(v)) if isinstance(v, str) else "" for k, v in r.items()}
    folded = (f"<details><summary>rule and resolution</summary><p><b>rule:</b> {text['rule']}</p>"
              f"<p><b>resolution:</b> {text['resolution']}</p><p><b>paper:</b> {text['paper_text']}</p>"
              f"<p class=\"sub\">claim <code>{text['claim']}</code></p></details>")
    null = f'<div class="sub">null: {text["null_run"]}</div>' if text["null_run"] else ""
    return (f"<tr><td>{text['finding']}<div class=\"ref\">{text['paper_ref']}</div></td>"
            f"<td>{text['paper_value']}</td><td>{text['run']}{null}<div class=\"sub\">{text['protocol']}</div></td>"
            f"<td>{text['measured']}{folded}</td><td>{_badge(r['verdict'])}</td></tr>")


def to_html(card: pd.DataFrame) -> str:
    """The scorecard as a page: finding and reference, the paper's value, run, measured, verdict."""
    summary = " ".join(f"{_badge(v)} {n}" for v, n in verdict_counts(card).items())
    rows = "\n".join(_html_row(r) for _, r in card.iterrows())
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Findings scorecard</title>"
            f"<style>{STYLE}</style></head><body><h1>Findings scorecard</h1><p>{escape(INTRO)}</p><p>{summary}</p>"
            "<table><thead><tr><th>finding</th><th>paper</th><th>run</th><th>measured</th><th>verdict</th></tr>"
            f"</thead><tbody>\n{rows}\n</tbody></table></body></html>\n")
