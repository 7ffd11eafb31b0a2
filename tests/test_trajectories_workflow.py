"""The token-trajectory stage through the workflow on two tiny models: the same config gives
byte-identical tables when generation is run again; the tables hold what the stage defines."""
import numpy as np
import pandas as pd
import yaml

from slurm.workflow_helpers import copy_workflow, snakemake

TABLES = ["trajectory_tokens", "trajectory_summary", "trajectory_regimes", "trajectory_variance",
          "trajectory_collapse"]


def test_same_config_gives_identical_trajectory_tables(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    config = yaml.safe_load((work / "config" / "tiny.yaml").read_text())
    tiny = config["runs"]["tiny"]
    config["runs"] = {"tiny": tiny, "tiny_b": dict(tiny, seed=1)}  # two models: `model` is a factor
    config["token_trajectories"]["collapse"]["entropy_threshold"] = 5.5394  # near the random models' ln 256 = 5.545
    (work / "two.yaml").write_text(yaml.safe_dump(config))
    targets = [f"results/tables/{name}.csv" for name in TABLES]
    snakemake([*targets, "--cores", "2", "--configfile", "two.yaml"], cwd=work, timeout=600)
    first = {name: (work / f"results/tables/{name}.csv").read_bytes() for name in TABLES}
    snakemake([*targets, "--cores", "2", "--configfile", "two.yaml", "--forcerun", "trajectory_generate"],
              cwd=work, timeout=600)
    for name in TABLES:
        assert (work / f"results/tables/{name}.csv").read_bytes() == first[name], name

    tokens = pd.read_csv(work / "results/tables/trajectory_tokens.csv")
    traj = config["token_trajectories"]
    n_prompts = 3 * traj["prompts_per_category"]
    assert len(tokens) == 2 * n_prompts * 2 * traj["n_tokens"]
    assert set(tokens["category"]) == {"language_reference", "module_docstring", "function_docstring"}
    # greedy differs from sampled, and the two models from each other
    g = tokens[tokens.decoding == "greedy"].set_index(["run", "prompt", "t"])["token_id"]
    s = tokens[tokens.decoding == "sampled"].set_index(["run", "prompt", "t"])["token_id"]
    assert (g != s).any() and (g.loc["tiny"] != g.loc["tiny_b"]).any()
    assert (tokens["z_ct_dynamical"].abs() <= traj.get("clip", 3.0)).all()
    variance = pd.read_csv(work / "results/tables/trajectory_variance.csv")
    sums = variance.groupby(["metric", "normalisation", "summary", "decoding"])["share"].sum()
    np.testing.assert_allclose(sums.dropna(), 1.0, atol=1e-9)  # balanced panel: type II shares add up
    assert set(variance.loc[variance.factor == "model", "df"]) == {1.0}
    collapse = pd.read_csv(work / "results/tables/trajectory_collapse.csv").set_index(["run", "decoding"])
    assert collapse.loc[("all", "all"), "n_episodes"] > 0  # the identity above covers the bootstrap too
