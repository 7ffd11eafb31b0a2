"""The Lyapunov and trajectory stages through the workflow on a tiny Gemma 4 (per-layer inputs,
layer_scalar, sliding and full layers, KV-shared layers): every table is written, and the FTLE
table's lambda_1 equals the whole model's forward derivative at the sample's last token."""
import numpy as np
import pandas as pd
import torch
import yaml

from slurm.workflow_helpers import copy_workflow, snakemake
from tiny_models import tiny_config
from whole_model_jvp import whole_model_jvp

RUN = "g4"
TABLES = ["lyapunov_ftle", "lyapunov_attribution", "trajectory_tokens"]  # spectra: tests/test_lyapunov_models.py


def test_lyapunov_and_trajectory_stages_run_on_a_tiny_gemma4(tmp_path):
    from resdyn.lyapunov.model_runs import prepare
    from resdyn.lyapunov.qr_flow import random_unit_vector

    work = copy_workflow(tmp_path / "wf")
    config = yaml.safe_load((work / "config" / "tiny.yaml").read_text())
    literal = {**tiny_config("gemma4_text"), "vocab_size": 256, "vocab_size_per_layer_input": 256,
               "max_position_embeddings": 512}
    config["runs"] = {RUN: {"source": "init", "seed": 0, "config": literal}}
    config["lyapunov"]["runs"] = config["token_trajectories"]["runs"] = [RUN]  # an init run: no default
    (work / "g4.yaml").write_text(yaml.safe_dump(config))
    snakemake([*(f"results/{RUN}/tables/{name}.csv" for name in TABLES), "--cores", "2", "--configfile", "g4.yaml"],
              cwd=work, timeout=600)
    tables = {name: pd.read_csv(work / f"results/{RUN}/tables/{name}.csv") for name in TABLES}

    lyap = config["lyapunov"]
    model, samples, _ = prepare(str(work / "resources" / "models" / RUN), str(work / "results/corpus/samples.jsonl"),
                                lyap["n_samples"], lyap["max_tokens"])
    n_layers, d = literal["num_hidden_layers"], literal["hidden_size"]
    ftle = tables["lyapunov_ftle"]
    for sample, ids in enumerate(samples):
        seeds = range(lyap["ftle"]["seed"], lyap["ftle"]["seed"] + lyap["ftle"]["seeds"])
        v = torch.stack([random_unit_vector(d, s, torch.float32) for s in seeds], 1)
        jv = whole_model_jvp(model, ids, 0, len(ids) - 1, v, detach_shared_kv=True)
        ref = (torch.log(jv.norm(dim=0)) / n_layers).double().numpy()
        got = ftle[ftle["sample"] == sample].sort_values("seed")["lambda1"].to_numpy()
        np.testing.assert_allclose(got, ref, rtol=1e-4)

    attribution = tables["lyapunov_attribution"]
    assert set(attribution.loc[attribution["mode"] == "depth", "kind"]) == {"attn", "mlp", "ple", "scalar"}
    sums = attribution.groupby(["mode", "index"]).agg(total=("contribution", "sum"), exponent=("exponent", "first"))
    np.testing.assert_allclose(sums["total"], sums["exponent"], atol=1e-6)
    tokens = tables["trajectory_tokens"]
    traj = config["token_trajectories"]
    assert len(tokens) == 3 * traj["prompts_per_category"] * 2 * traj["n_tokens"]
    assert np.isfinite(tokens["ct_dynamical"]).all() and np.isfinite(tokens["ct_kinematic"]).all()
