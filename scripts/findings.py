"""The findings scorecard (CSV, Markdown, and an HTML page for the report) from the result tables."""
import pandas as pd

from resdyn.findings import scorecard, to_markdown
from resdyn.io import save_csv, save_text

p = snakemake.params
tables = {name: pd.read_csv(path) for name, path in snakemake.input.items()}
card = scorecard(tables, p.runs, p.null_of, p.protocols, p.method, p.column_norm, p.untrained)
save_csv(snakemake.output.csv, card)
save_text(snakemake.output.md, to_markdown(card))
save_text(snakemake.output.html, card.to_html(index=False, border=0))
