"""A tiny Gemma 4 run through the workflow: prepare -> activations -> Jacobians of two KV-shared layers.

The fixture is an `init` run with a literal gemma4_text config (random weights, the byte
tokenizer): an init run is the untrained null, which the model-health gate does not hold
to a trained model's loss, so no gate setting has to be bent for a random model.
"""
import numpy as np
import torch
import yaml

from resdyn.data.corpus import read_jsonl
from resdyn.data.tokens import encode_all as tokenize
from resdyn.models.gemma4 import Gemma4Block, kv_source_of, per_layer_inputs
from resdyn.models.sources import load_prepared
from slurm.workflow_helpers import copy_workflow, snakemake
from tiny_models import tiny_config

RUN = "g4"


def _run(tmp_path, protocol, n_samples=None):
    """The workflow copy after computing layers 3 and 4 (reusing layers 2's and 1's K/V), and the targets."""
    work = copy_workflow(tmp_path / "wf")
    config = yaml.safe_load((work / "config" / "tiny.yaml").read_text())
    literal = {**tiny_config("gemma4_text"), "vocab_size": 256, "vocab_size_per_layer_input": 256,
               "max_position_embeddings": 512}
    config["runs"] = {RUN: {"source": "init", "seed": 0, "config": literal, "protocol": protocol}}
    config["lyapunov"]["runs"] = config["token_trajectories"]["runs"] = []  # those stages: tests/test_maps_workflow.py
    if n_samples:
        config["jacobians"]["n_samples"] = n_samples
    (work / "g4.yaml").write_text(yaml.safe_dump(config))
    targets = [f"results/{RUN}/jacobians/layer_{layer:02d}.npz" for layer in (3, 4)]
    snakemake([*targets, "--cores", "1", "--configfile", "g4.yaml"], cwd=work, timeout=900)
    return work, targets


def test_a_tiny_gemma4_run_goes_through_the_workflow(tmp_path):
    work, targets = _run(tmp_path, "single_token")

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


def test_a_tiny_gemma4_run_in_context_goes_through_the_workflow(tmp_path):
    """In context the job runs the generic engine on the loaded model: its layer files hold the
    statistics of autodiff through the transformers layer at the samples' own prefix states."""
    from resdyn.data.activations import prefix_states
    from resdyn.models.generic import DecoderLayer

    work, targets = _run(tmp_path, "in_context", n_samples=3)
    model, tokenizer = load_prepared(work / "resources" / "models" / RUN)
    token_ids = tokenize(tokenizer, read_jsonl(work / "results" / "corpus" / "samples.jsonl"))[:3]
    for layer in (3, 4):
        j = kv_source_of(model.config, layer)
        engine = DecoderLayer(model, layer, kv_source=DecoderLayer(model, j))
        jac = torch.stack([engine.in_context_jacobian(prefix_states(model, ids, layer), per_layer_inputs(model, ids, layer),
                                                      prefix_states(model, ids, j)) for ids in token_ids])
        got = np.load(work / targets[layer - 3])
        assert len(got["kappa"]) == 3
        np.testing.assert_allclose(got["mean_J"], jac.mean(0).numpy(), atol=1e-5)
