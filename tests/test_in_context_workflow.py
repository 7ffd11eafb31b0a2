"""An in-context run through the workflow: each chunk's layer files hold the mean of the
in-context Jacobians of the first jacobians.n_samples samples, as autodiff gives them."""
import numpy as np
import torch
import yaml

from resdyn.data.activations import prefix_states
from resdyn.data.corpus import read_jsonl
from resdyn.data.tokens import encode_all
from resdyn.dynamics.jacobians import autodiff_in_context_jacobian
from resdyn.models.architectures import architecture_of
from resdyn.models.block import Block
from resdyn.models.sources import load_prepared
from slurm.workflow_helpers import copy_workflow, snakemake


def test_in_context_chunks_hold_the_autodiff_mean(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    config = yaml.safe_load((work / "config" / "tiny.yaml").read_text())
    config["runs"]["tiny"]["protocol"] = "in_context"
    config["jacobians"].update(layers_per_job=2, n_samples=5, precision="single")
    (work / "ctx.yaml").write_text(yaml.safe_dump(config))
    targets = [f"results/tiny/jacobians/layer_{layer:02d}.npz" for layer in range(3)]
    snakemake([*targets, "--cores", "2", "--configfile", "ctx.yaml"], cwd=work, timeout=900)
    model, tokenizer = load_prepared(work / "resources" / "models" / "tiny")
    ids = encode_all(tokenizer, read_jsonl(work / "results" / "corpus" / "samples.jsonl"))[:5]
    arch = architecture_of(model.config.model_type)
    for layer in range(3):
        block = Block(model, layer, arch, torch.float64)
        ref = np.mean([autodiff_in_context_jacobian(block, prefix_states(model, s, layer).double()).numpy()
                       for s in ids], axis=0)
        with np.load(work / targets[layer]) as z:
            assert len(z["kappa"]) == 5
            np.testing.assert_allclose(z["mean_J_f64"], ref, rtol=1e-4, atol=1e-5)
