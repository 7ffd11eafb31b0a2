"""Download one hub loop model (config.json, safetensors, tokenizer) at its revision."""
from resdyn.core.logs import setup_logging
from resdyn.loops.jobs import download

log = setup_logging(snakemake.log[0], "loop_prepare")
spec = snakemake.params.spec
download(spec, snakemake.output.model)
log.info("%s@%s -> %s", spec["model_id"], spec.get("revision", "main"), snakemake.output.model)
