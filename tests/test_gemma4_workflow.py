"""A tiny Gemma 4 run through the workflow: prepare -> activations -> Jacobians of two KV-shared layers.

The fixture is an `init` run with a literal gemma4_text config (random weights, the byte
tokenizer): an init run is the untrained null, which the model-health gate does not hold
to a trained model's loss, so no gate setting has to be bent for a random model.
"""
import numpy as np
import torch
import yaml

from resdyn.activations import tokenize
from resdyn.corpus import read_jsonl
from resdyn.models.gemma4 import Gemma4Block, kv_source_of, per_layer_inputs
from resdyn.models.sources import load_prepared
from slurm.workflow_helpers import copy_workflow, snakemake
from tiny_models import tiny_config

RUN = "g4"


def test_a_tiny_gemma4_run_goes_through_the_workflow(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    config = yaml.safe_load((work / "config" / "tiny.yaml").read_text())
    literal = {**tiny_config("gemma4_text"), "vocab_size": 256, "vocab_size_per_layer_input": 256,
               "max_position_embeddings": 512}
    config["runs"] = {RUN: {"source": "init", "seed": 0, "config": literal, "protocol": "single_token"}}
    (work / "g4.yaml").write_text(yaml.safe_dump(config))
    targets = [f"results/{RUN}/jacobians/layer_{layer:02d}.npz" for layer in (3, 4)]  # layers reusing 2's and 1's K/V
    snakemake([*targets, "--cores", "1", "--configfile", "g4.yaml"], cwd=work, timeout=900)

    # the layer files hold the statistics of the closed form at the workflow's own states
    model, tokenizer = load_prepared(work / "resources" / "models" / RUN)
    acts = torch.from_numpy(np.load(work / "results" / RUN / "activations.npy"))
    last = [ids[-1] for ids in tokenize(tokenizer, read_jsonl(work / "results" / "corpus" / "samples.jsonl"))]
    assert acts.shape == (len(last), 10, 32)
    for layer in (3, 4):
        j = kv_source_of(model.config, layer)
        block = Gemma4Block(model, layer, source=Gemma4Block(model, j))
        jac = block.single_token_jacobian(acts[:, 2 * layer], per_layer_inputs(model, last, layer), acts[:, 2 * j])
        got = np.load(work / targets[layer - 3])
        np.testing.assert_allclose(got["mean_J"], jac.mean(0).numpy(), atol=1e-5)
        np.testing.assert_allclose(got["fro"], torch.linalg.matrix_norm(jac).numpy(), rtol=1e-4)
