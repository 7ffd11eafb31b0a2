"""A trained run whose model cannot predict the corpus fails its activation job, naming the cause."""
from pathlib import Path

import yaml

from slurm.workflow_helpers import copy_workflow, snakemake
from test_tokens import ADDS_NONE, byte_tokenizer
from tiny_models import tiny_model


def test_a_broken_trained_model_fails_its_job_with_the_message(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    broken = tmp_path / "broken_model"  # random weights declared as a trained (local) run
    tiny_model("llama").save_pretrained(broken)
    byte_tokenizer(ADDS_NONE).save_pretrained(broken)
    config = yaml.safe_load((work / "config" / "tiny.yaml").read_text())
    config["runs"] = {"broken": {"source": "local", "path": str(broken)}}
    (work / "broken.yaml").write_text(yaml.safe_dump(config))
    proc = snakemake(["results/broken/activations.npy", "--cores", "1", "--configfile", "broken.yaml"],
                     cwd=work, check=False, timeout=600)
    assert proc.returncode != 0
    said = proc.stdout + proc.stderr
    assert "ModelHealthError: run broken: next-token loss" in said and "uniform baseline ln(V) = 5.70" in said
    assert not (work / "results" / "broken" / "activations.npy").exists()
    assert not (work / "results" / "broken" / "tables" / "model_health.csv").exists()
