"""The findings scorecard (CSV, Markdown, and an HTML page for the report) from the result tables.

With a protocol comparison, the compared run's findings are scored again on its subset of
samples in each protocol (rows labelled e.g. "in_context (first 32 samples)")."""
import pandas as pd

from resdyn.core.io import save_csv, save_text
from resdyn.dynamics.layer_table import self_alignment_table
from resdyn.findings.scorecard import scorecard, to_html, to_markdown

p = snakemake.params
inputs = dict(snakemake.input.items())
tables = {name: pd.read_csv(path) for name, path in inputs.items() if not name.startswith("protocol_")}
cards = [scorecard(tables, p.runs, p.null_of, p.protocols, p.method, p.column_norm, p.untrained)]
for protocol in ("single_token", "in_context") if p.protocol_run else ():
    prefix = f"protocol_{protocol}_"
    subset = {name[len(prefix):]: pd.read_csv(path) for name, path in inputs.items() if name.startswith(prefix)}
    subset["table2_self_alignment"] = self_alignment_table(subset["layer_spectra"])
    label = f"{protocol} (first {p.protocol_samples} samples)"
    cards.append(scorecard(subset, [p.protocol_run], {}, label, p.method, p.column_norm, ()))
card = pd.concat(cards, ignore_index=True)
save_csv(snakemake.output.csv, card)
save_text(snakemake.output.md, to_markdown(card))
save_text(snakemake.output.html, to_html(card))
