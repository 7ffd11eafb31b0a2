"""The loop study's prompts: the loop paper's listed ones, then corpus rows."""
from resdyn.core.io import save_csv
from resdyn.core.logs import setup_logging
from resdyn.data.corpus import read_jsonl
from resdyn.loops.prompts import prompt_table

log = setup_logging(snakemake.log[0], "loop_prompts")
p = snakemake.params.prompts
corpus = read_jsonl(snakemake.input.corpus) if "corpus" in snakemake.input.keys() else []
table = prompt_table(list(p["listed"]), corpus, p["n"])
save_csv(snakemake.output.table, table)
log.info("%d prompts (%d listed, %d corpus rows)", len(table), (table["source"] == "seed").sum(),
         (table["source"] == "corpus").sum())
