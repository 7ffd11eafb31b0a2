"""The loop study end to end through the workflow on tiny Ouro and Huginn folders (local
sources, a three-checkpoint Huginn series): every loop_* table and figure, with values
that hold between the tables (attribution sums, running means, self-similarity)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from resdyn.loops.prompts import SEED_PROMPTS
from slurm.workflow_helpers import copy_workflow, snakemake
from tiny_loops import tiny_huginn, tiny_ouro

N_PROMPTS, K, T = 7, 4, 6


@pytest.fixture(scope="module")
def loop_results(tmp_path_factory):
    root = tmp_path_factory.mktemp("loopwf")
    wd = copy_workflow(root / "wf")
    models = {"ouro": dict(arch="ouro", source="local", path=str(tiny_ouro(root / "m" / "ouro"))),
              "huginn": dict(arch="huginn", source="local", path=str(tiny_huginn(root / "m" / "huginn")))}
    for i, seed in enumerate((11, 12)):
        models[f"huginn_s{i}"] = dict(arch="huginn", source="local", path=str(tiny_huginn(root / "m" / f"s{i}", seed)))
    cfg = dict(
        corpus=dict(source="offline_pydoc", n_samples=4, min_chars=40, max_chars=160),
        loops=dict(models=models, study=["ouro", "huginn"], dtype="float64", max_tokens=8,
                   prompts=dict(n=N_PROMPTS), spectrum=dict(k=K, loop_steps=T, n_running=3),
                   attribution=dict(k=1, heatmap_k=3, loop_steps=4), cosine=dict(loops=3),
                   checkpoints=dict(n_prompts=2, loop_steps=4, series=[
                       dict(model="huginn_s0", step=10), dict(model="huginn_s1", step=20),
                       dict(model="huginn", step=40, final=True)])),
    )
    (wd / "config" / "loops_tiny.yaml").write_text(yaml.safe_dump(cfg))
    snakemake(["--cores", "1", "--configfile", "config/loops_tiny.yaml"], cwd=wd, timeout=600)
    return wd


def table(wd, name):
    return pd.read_csv(wd / "results" / "tables" / f"{name}.csv")


def test_every_loop_table_and_figure_is_written(loop_results):
    for name in ("loop_spectrum", "loop_state_change", "loop_attribution", "loop_directions", "loop_cosine",
                 "loop_checkpoints"):
        for ext in ("png", "pdf"):
            assert (loop_results / "results" / "figures" / f"{name}.{ext}").stat().st_size > 1000, name
    prompts = table(loop_results, "loop_prompts")
    assert list(prompts["text"][:5]) == SEED_PROMPTS and list(prompts["source"]) == ["seed"] * 5 + ["corpus"] * 2


def test_spectrum_and_running_means_agree(loop_results):
    spec, conv = table(loop_results, "loop_spectrum"), table(loop_results, "loop_convergence")
    assert set(spec["model"]) == {"ouro", "huginn"} and len(spec) == 2 * N_PROMPTS * K
    last = conv[conv["step"] == T].merge(spec, on=["model", "sample", "index"])
    assert len(last) == 2 * N_PROMPTS * 3
    assert np.abs(last["running_mean"] - last["exponent"]).max() < 1e-12
    assert set(spec["n_tokens"]) <= set(range(2, 9)) and spec["n_tokens"].max() == 8  # corpus rows cut to max_tokens
    assert (conv["state_change"] > 0).all()


def test_attribution_adds_up_and_names_the_sublayers(loop_results):
    attr, dirs = table(loop_results, "loop_attribution"), table(loop_results, "loop_directions")
    names = {m: list(g[g["sample"] == 0].sort_values("order")["sublayer"]) for m, g in attr.groupby("model")}
    assert names == {"ouro": ["L00", "L01", "L02", "final_norm"], "huginn": ["adapter", "core0", "core1"]}
    sums = dirs.groupby(["model", "sample", "index"]).agg(total=("contribution", "sum"), exponent=("exponent", "first"))
    # the job's own float64 gap, and the sum of the stored (10-digit) numbers
    assert dirs["sum_gap"].abs().max() < 1e-10 and attr["sum_gap"].abs().max() < 1e-10
    assert np.abs(sums["total"] - sums["exponent"]).max() < 1e-8 and set(dirs["index"]) == {1, 2, 3}
    assert set(attr["index"]) == {1}


def test_cosine_and_checkpoints(loop_results):
    cos = table(loop_results, "loop_cosine")
    same = cos[(cos["loop_a"] == cos["loop_b"]) & (cos["order_a"] == cos["order_b"])]
    assert np.abs(same["cosine"] - 1).max() < 1e-12
    assert len(cos[cos["model"] == "ouro"]) == (3 * 4) ** 2 and len(cos[cos["model"] == "huginn"]) == (3 * 3) ** 2
    ck = table(loop_results, "loop_checkpoints")
    assert list(ck.groupby("checkpoint", sort=False)["step"].first()) == [10, 20, 40]
    assert ck["final"].tolist() == [False] * 4 + [True] * 2 and ck["lambda1"].notna().all()
    # the final checkpoint is the study's huginn: its single probe gives its own lambda_1 at T = 4
    assert ck.groupby("checkpoint")["lambda1"].mean().nunique() == 3
