"""A tiny checkpoint series through the workflow: three local revisions of one tiny Llama
(its random initialisation, and the same weights after 30 and 120 Adam steps on the corpus),
declared in training order, drawn to the series table, figure and scorecard.

The step-0 revision is a `local` run with random weights: it declares `null_of` the final one,
which exempts it from the model-health gate (as a hub checkpoint at step 0 is); the trained
revisions pass the gate (next-token loss ~3.2 and ~1.8 nats/token against 0.75 ln V = 4.28).
"""
import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import torch
import yaml

from resdyn.data.corpus import load_samples
from resdyn.findings.checkpoint_series import series_table
from slurm.workflow_helpers import copy_workflow, snakemake
from test_tokens import ADDS_NONE, byte_tokenizer
from tiny_models import tiny_model

STEPS = [0, 30, 120]
RUNS = [f"tiny_step{s}" for s in STEPS]


def _revisions(root, texts):
    """The tiny model saved at each step of a short training run (one sample per Adam step)."""
    tokenizer = byte_tokenizer(ADDS_NONE)
    ids = [torch.tensor(tokenizer(t)["input_ids"])[None] for t in texts]
    model = tiny_model("llama")
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    paths = {}
    for step in range(STEPS[-1] + 1):
        if step in STEPS:
            paths[step] = root / f"step{step}"
            model.save_pretrained(paths[step])
            tokenizer.save_pretrained(paths[step])
        if step < STEPS[-1]:
            model.train()
            loss = model(ids[step % len(ids)], labels=ids[step % len(ids)]).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
    return paths


def test_a_tiny_checkpoint_series_is_drawn_through_the_workflow(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    config = yaml.safe_load((work / "config" / "tiny.yaml").read_text())
    torch.manual_seed(0)
    paths = _revisions(tmp_path / "revisions", load_samples(config["corpus"]))
    config["runs"] = {run: {"source": "local", "path": str(paths[step])} for run, step in zip(RUNS, STEPS)}
    config["runs"][RUNS[0]]["null_of"] = RUNS[-1]
    config["checkpoint_series"] = {"tiny": {"runs": RUNS, "steps": STEPS}}
    config["jacobians"]["layers_per_job"] = 3  # one Jacobian job per run
    (work / "series.yaml").write_text(yaml.safe_dump(config))
    targets = ["results/tables/checkpoint_series.csv", "results/figures/checkpoint_series.png",
               "results/figures/checkpoint_series.pdf", "results/findings.csv"]
    snakemake([*targets, "--cores", "1", "--configfile", "series.yaml"], cwd=work, timeout=900)

    # the series table is the workflow's own source tables gathered in the declared order
    got = pd.read_csv(work / targets[0]).fillna({"band": ""})  # no band: an empty field
    assert list(dict.fromkeys(got["run"])) == RUNS and list(got.drop_duplicates("run")["step"]) == STEPS
    tables = {name: pd.read_csv(work / "results" / "tables" / f"{name}.csv") for name in
              ("layer_spectra", "table2_self_alignment", "cumulative_summary", "coupling", "coupling_summary",
               "mesoscale")}
    expected = series_table(tables, config["checkpoint_series"], "signed_cpm", "mean_jacobian")
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    erank = got[got["quantity"] == "erank_p0"].set_index("run")["value"]
    summary = tables["cumulative_summary"].set_index("run")["erank_first"]
    np.testing.assert_allclose(erank[RUNS].to_numpy(), summary[RUNS].to_numpy())
    health = pd.read_csv(work / "results" / "tables" / "model_health.csv").set_index("run")["loss"]
    assert health[RUNS[0]] > health[RUNS[1]] > health[RUNS[2]]  # the revisions are a training trajectory

    # the figure: one panel per group of quantities (2 rows of 3 at 150 dpi)
    image = mpimg.imread(work / targets[1])
    assert image.shape[0] > 600 and image.shape[1] > 1200
    assert (work / targets[2]).read_bytes()[:4] == b"%PDF"

    # the scorecard reads the series: one row per training claim, measured in declared order
    card = pd.read_csv(work / targets[3])
    rows = card[card["finding"].str.endswith("(tiny)")]
    assert len(rows) == 6 and set(rows["run"]) == {RUNS[-1]} and set(rows["null_run"]) == {RUNS[0]}
    counts = got[got["quantity"] == "n_fdr_sig"]["value"].astype(int).tolist()
    fdr = rows[rows["finding"] == "coupling emerges monotonically over training (tiny)"].iloc[0]
    assert f"n_fdr_sig: {counts[0]} → {counts[1]} → {counts[2]}" in fdr["measured"]
    erank_row = rows[rows["finding"] == "erank(P₀) falls over training (tiny)"].iloc[0]
    falls = erank[RUNS[-1]] < erank[RUNS[0]] and np.corrcoef(STEPS, erank[RUNS].rank())[0, 1] < 0
    every_step = bool(np.all(np.diff(erank[RUNS].to_numpy()) < 0))  # the strength: it falls at every step
    assert erank_row["verdict"] == ("differs" if not falls else "holds" if every_step else "holds in direction only")
