"""A tiny Mixtral (MoE, sliding window), a family no adapter lists, through preparation and the Jacobian stage.

The fixture is a `local` run: a random tiny model saved with save_pretrained beside the byte
tokenizer, as a researcher's own checkpoint folder would be. Preparation runs the decoder
self-check (logged); the layer files hold the generic engine's statistics at the workflow's
own states, and the spectra table reads them.
"""
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from resdyn.models.generic import DecoderLayer
from resdyn.models.sources import load_prepared
from slurm.workflow_helpers import copy_workflow, snakemake

RUN = "mx"


def _fixture(folder):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from make_local_fixture import main

    main(str(folder), "mixtral")
    return folder


def test_a_tiny_mixtral_goes_through_preparation_and_the_jacobian_stage(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    config = yaml.safe_load((work / "config" / "tiny.yaml").read_text())
    # declared the null of the config's tiny run (never built here): random weights, exempt from the health gate
    config["runs"][RUN] = {"source": "local", "path": str(_fixture(tmp_path / "fixture")), "protocol": "single_token",
                           "null_of": "tiny"}
    config["lyapunov"]["runs"] = config["token_trajectories"]["runs"] = []  # those stages on Mixtral: tests/test_example_local_model.py, tests/test_lyapunov_models.py
    (work / "mx.yaml").write_text(yaml.safe_dump(config))
    targets = [f"results/{RUN}/jacobians/layer_{layer:02d}.npz" for layer in range(3)]
    snakemake([*targets, f"results/{RUN}/tables/layer_spectra.csv", "--cores", "1", "--configfile", "mx.yaml"],
              cwd=work, timeout=900)

    log = (work / "logs" / "prepare_model" / f"{RUN}.log").read_text()
    assert "decoder self-check passed on layers [0]" in log
    model, _ = load_prepared(work / "resources" / "models" / RUN)
    model.config._experts_implementation = "eager"
    acts = torch.from_numpy(np.load(work / "results" / RUN / "activations.npy"))
    assert acts.shape[1:] == (6, 32)
    for layer in range(3):
        jac = DecoderLayer(model, layer).single_token_jacobians(acts[:, 2 * layer])
        got = np.load(work / targets[layer])
        np.testing.assert_allclose(got["mean_J"], jac.mean(0).numpy(), atol=1e-5)
        np.testing.assert_allclose(got["fro"], torch.linalg.matrix_norm(jac).numpy(), rtol=1e-4)
    spectra = pd.read_csv(work / "results" / RUN / "tables" / "layer_spectra.csv")
    assert spectra["layer"].tolist() == [0, 1, 2]
    own = spectra.drop(columns=[c for c in spectra if c.startswith("forward_alignment")])  # the last layer has no next
    assert own.notna().all().all()
