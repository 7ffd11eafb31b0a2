"""The corpus samples, one JSON object per line, in dataset order."""
from resdyn.core.logs import setup_logging
from resdyn.data.corpus import load_samples, write_jsonl

log = setup_logging(snakemake.log[0], "corpus")
samples = load_samples(dict(snakemake.params.corpus))
write_jsonl(snakemake.output[0], samples)
log.info("%d samples from %s", len(samples), snakemake.params.corpus["source"])
