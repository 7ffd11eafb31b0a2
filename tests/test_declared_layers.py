"""`runs.<name>.n_layers`: a layer count known before the model is prepared.

- A dry run of config/paper.yaml, with no model prepared, plans every per-layer Jacobian
  job of all five runs (the count comes from the config, not from the models).
- A prepared model that disagrees with the key fails prepare_model, naming the key, and
  leaves no model folder; one prepared earlier stops the plan the same way.
"""
from __future__ import annotations

import json

import pytest
import yaml

from resdyn.core.config_checks import ConfigError, check_config, check_prepared_model, declared_layers
from slurm.workflow_helpers import ROOT, copy_workflow, dry_run, snakemake
from test_tokens import ADDS_NONE, byte_tokenizer
from tiny_models import tiny_model

PAPER_LAYERS = {"llama31_8b": 32, "olmo3_7b_step0": 32, "olmo3_7b_step471k": 32,
                "olmo3_7b_step1413814": 32, "gemma4_e4b": 42}


def test_paper_dry_run_plans_every_jacobian_job_before_any_model_is_prepared(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    assert not (wd / "resources" / "models").exists()
    planned, counts, text = dry_run(wd, "--profile", "profiles/slurm-a100", "--configfile", "config/paper.yaml")
    shards = sorted((j.wildcards["run"], int(j.wildcards["layer"])) for j in planned if j.rule == "jacobian_layer")
    expected = sorted((run, layer) for run, n in PAPER_LAYERS.items() for layer in range(n))
    assert shards == expected, text[-2000:]
    # the statistics behind the Jacobians are planned too (they read every layer's file)
    assert counts["spectra"] == counts["schur_sweep"] / 2 == counts["cumulative"] == 5, counts
    # the Lyapunov stage on all five, the token trajectories on the four trained runs
    for rule in ("lyapunov_ftle", "lyapunov_spectrum", "lyapunov_attribution", "lyapunov_attention"):
        assert {j.wildcards["run"] for j in planned if j.rule == rule} == set(PAPER_LAYERS), rule
    assert {j.wildcards["run"] for j in planned if j.rule == "trajectory_generate"} == set(PAPER_LAYERS) - {"olmo3_7b_step0"}
    # README's cluster paragraph quotes the plan's size: all jobs, Jacobian jobs, the other GPU jobs
    gpu_rules = set(yaml.safe_load((ROOT / "profiles" / "slurm-a100" / "config.yaml").read_text())["set-resources"])
    other_gpu = sum(n for rule, n in counts.items() if rule in gpu_rules) - counts["jacobian_layer"]
    readme = " ".join((ROOT / "README.md").read_text().split())
    for quoted in (f"{sum(counts.values())} jobs", f"({counts['jacobian_layer']} GPU jobs", f"add {other_gpu} GPU jobs"):
        assert quoted in readme, quoted


def test_a_prepared_model_that_contradicts_the_key_stops_the_plan(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    folder = wd / "resources" / "models" / "llama31_8b"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(dict(model_type="llama", num_hidden_layers=30, hidden_size=4096)))
    proc = snakemake(["-n", "--cores", "1", "--configfile", "config/paper.yaml"], cwd=wd, check=False)
    assert proc.returncode != 0
    assert "runs.llama31_8b.n_layers = 32, but the prepared model has num_hidden_layers = 30" in proc.stdout + proc.stderr


def _runs(**extra):
    return {"a": {"source": "hf", "model_id": "x/y", **extra}, "a0": {"source": "init", "base": "a", "seed": 0}}


def test_an_init_run_takes_its_base_runs_layers():
    assert declared_layers(_runs(n_layers=12), "a0") == 12
    assert declared_layers(_runs(), "a0") is None


def test_check_prepared_model_compares_layers_and_width():
    config = {"runs": _runs(n_layers=12), "spectra": {"k": 64}, "graphs": {"knn": 20}}
    check_prepared_model(config, "a", {"num_hidden_layers": 12, "hidden_size": 768})
    check_prepared_model(config, "a0", {"text_config": {"num_hidden_layers": 12, "hidden_size": 768}})
    with pytest.raises(ConfigError, match=r"runs\.a0\.n_layers = 12, but the prepared model has num_hidden_layers = 6"):
        check_prepared_model(config, "a0", {"num_hidden_layers": 6, "hidden_size": 768})
    with pytest.raises(ConfigError, match=r"spectra\.k = 64 exceeds the hidden size d = 32"):
        check_prepared_model(config, "a", {"num_hidden_layers": 12, "hidden_size": 32})


def test_layer_keys_are_checked_at_start():
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["runs"]["smollm2_135m"].update(n_layers=30, regime_layers=[5, 30])
    with pytest.raises(ConfigError, match=r"runs\.smollm2_135m\.regime_layers = \[5, 30\] must lie below runs\.smollm2_135m\.n_layers = 30"):
        check_config(config, models_dir="/nonexistent")
    config["runs"]["smollm2_135m"]["regime_layers"] = [5, 20]
    config["runs"]["smollm2_135m_step0"]["n_layers"] = 30
    with pytest.raises(ConfigError, match=r"runs\.smollm2_135m_step0\.n_layers: an init run with a base has the base's layers"):
        check_config(config, models_dir="/nonexistent")


def test_prepare_model_refuses_a_model_with_other_layers_and_leaves_no_folder(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    source = tmp_path / "model"
    tiny_model("llama").save_pretrained(source)  # 3 layers
    byte_tokenizer(ADDS_NONE).save_pretrained(source)
    config = yaml.safe_load((work / "config" / "tiny.yaml").read_text())
    config["runs"] = {"m": {"source": "local", "path": str(source), "n_layers": 4}}
    (work / "m.yaml").write_text(yaml.safe_dump(config))
    proc = snakemake(["resources/models/m", "--cores", "1", "--configfile", "m.yaml"], cwd=work, check=False, timeout=300)
    assert proc.returncode != 0
    assert "runs.m.n_layers = 4, but the prepared model has num_hidden_layers = 3" in proc.stdout + proc.stderr
    assert not (work / "resources" / "models" / "m").exists()
