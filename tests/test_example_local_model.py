"""config/example_local_model.yaml and the fixture it reads: a valid config that runs every stage of
config/tiny.yaml on a local model folder, and a folder the decoder maps and the self-check accept."""
import copy
import sys
from pathlib import Path

import pytest
import torch
import yaml
from snakemake.utils import validate

from resdyn.core.config_checks import check_config
from resdyn.models.decoder_map import SamplePass
from resdyn.models.sources import load_prepared

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "example_local_model.yaml"


def _example():
    return yaml.safe_load(EXAMPLE.read_text())


def test_the_example_is_the_tiny_config_plus_one_local_run_in_every_stage():
    example, tiny = _example(), yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text())
    validate(copy.deepcopy(example), str(ROOT / "schemas" / "config.schema.yaml"))
    check_config(copy.deepcopy(example), models_dir="/nonexistent")
    assert example["runs"]["tiny"] == tiny["runs"]["tiny"]
    mine = example["runs"]["mine"]
    assert mine["source"] == "local" and mine["null_of"] == "tiny"
    for stage in ("lyapunov", "token_trajectories"):  # a null run generates only when listed
        assert example[stage].pop("runs") == ["tiny", "mine"]
    del example["runs"], tiny["runs"]
    assert example == tiny


@pytest.mark.parametrize("model_type", ["mixtral", "granite", "exaone4"])
def test_the_fixture_folder_loads_and_the_maps_reproduce_it(tmp_path, model_type):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from make_local_fixture import main

    main(str(tmp_path), model_type)
    model, tokenizer = load_prepared(tmp_path)
    assert model.config.model_type == model_type and model.config.vocab_size == 256
    ids = torch.tensor(tokenizer("def f(x): return x")["input_ids"])
    SamplePass(model, ids)  # raises, naming the type, where the maps do not reproduce the model
