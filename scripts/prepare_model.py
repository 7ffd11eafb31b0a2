"""Materialise one run's weights under resources/models/{run}."""
import json
from pathlib import Path

import torch

from resdyn.core.config_checks import check_prepared_model
from resdyn.core.logs import setup_logging
from resdyn.models.sources import materialise

log = setup_logging(snakemake.log[0], "prepare_model")
torch.set_num_threads(snakemake.threads)
run = snakemake.wildcards.run
log.info("preparing %s from %s", run, snakemake.params.spec["source"])
base = snakemake.input.get("base") or None  # a folder for init runs with a base, else []
check = materialise(run, dict(snakemake.params.spec), snakemake.output.model, base_dir=base)
if check:
    log.info("decoder self-check passed on layers %s in %.1f s; largest relative errors: %s", check["layers"],
             check["seconds"], ", ".join(f"{k} {v:.1e}" for k, v in check.items() if k not in ("layers", "seconds")))
prepared = json.loads((Path(snakemake.output.model) / "config.json").read_text())
# a failed job's output folder is removed by Snakemake: a contradicting model is no output
check_prepared_model(snakemake.config, run, prepared)
log.info("done")
