"""What reruns after a change, on a completed tiny workflow (dry runs).

- a graph parameter (k-NN, gamma): graph/statistics/figure rules only, never the model,
  corpus, activations, Jacobians or other Jacobian statistics;
- N or the corpus settings: everything downstream of the corpus (all but prepare_model);
- a plotting script: figure rules only;
- `snakemake figures`: every figure rule, redrawn from existing results alone.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from slurm.workflow_helpers import ROOT, copy_workflow, dry_run, edited, list_rules, snakemake
from config_helpers import reversed_keys

# Stages that a graph/statistics parameter must never rerun.
UPSTREAM = {
    "prepare_model",
    "corpus",
    "extract_activations",
    "jacobian_layer",
    "spectra",
    "cumulative",
    "schur_sweep",
    "schur_dose",
    "lyapunov_ftle",
    "lyapunov_spectrum",
    "lyapunov_attribution",
    "lyapunov_attention",
    "trajectory_generate",
}
TARGETS = {"all", "figures"}
TINY = yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text())


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """The tiny workflow, run to completion once locally."""
    wd = copy_workflow(tmp_path_factory.mktemp("stale") / "wf")
    snakemake(["--profile", "profiles/local", "--cores", "2", "--configfile", "config/tiny.yaml"], cwd=wd, timeout=3600)
    return wd


def plan(wd: Path, config: dict | None = None, *targets) -> dict[str, int]:
    """{rule: jobs} a dry run would execute, with `config` in place of tiny.yaml."""
    name = "config/tiny.yaml"
    if config is not None:
        name = "config/tiny_changed.yaml"
        # key order kept: Snakemake compares params by their printed form
        (wd / name).write_text(yaml.safe_dump(config, sort_keys=False))
    _, counts, _ = dry_run(wd, *targets, "--profile", "profiles/local", "--configfile", name)
    return {rule: n for rule, n in counts.items() if rule not in TARGETS}


def changed(**sections) -> dict:
    """tiny.yaml with section.key values replaced: changed(graphs={"knn": 3})."""
    import copy

    cfg = copy.deepcopy(TINY)
    for section, values in sections.items():
        cfg[section].update(values)
    return cfg


def fig_rules(counts) -> set[str]:
    """Rules that draw figures: fig_* / figN_* (not the `figures` target)."""
    return {r for r in counts if re.match(r"fig\d*_", r)}


def test_complete_run_leaves_nothing_to_do(done):
    assert plan(done) == {}


@pytest.mark.parametrize(
    "change, first",
    [
        (dict(graphs={"knn": TINY["graphs"]["knn"] - 1}), "correlation_graphs"),
        (dict(communities={"gamma": TINY["communities"]["gamma"] * 2}), "communities"),
    ],
    ids=["knn", "gamma"],
)
def test_graph_parameter_reruns_only_graph_statistics_and_figures(done, change, first):
    counts = plan(done, changed(**change))
    assert first in counts, counts
    assert not UPSTREAM & set(counts), f"graph parameter reruns {sorted(UPSTREAM & set(counts))}"
    assert fig_rules(counts), "figures of the changed stage are not redrawn"


@pytest.mark.parametrize(
    "change",
    [dict(corpus={"n_samples": TINY["corpus"]["n_samples"] - 2}), dict(corpus={"max_chars": TINY["corpus"]["max_chars"] + 40})],
    ids=["N", "corpus"],
)
def test_corpus_change_reruns_everything_downstream(done, change):
    counts = plan(done, changed(**change))
    _, below, _ = dry_run(done, "--profile", "profiles/local", "--configfile", "config/tiny.yaml", "--forcerun", "corpus")
    expected = {r: n for r, n in below.items() if r not in TARGETS}
    assert "prepare_model" not in counts, "a corpus change must not rebuild the model"
    assert counts.get("jacobian_layer") == TINY["runs"]["tiny"]["config"]["num_hidden_layers"], counts
    assert counts == expected, f"rerun {counts}\nexpected everything below the corpus {expected}"


def _edit_and_plan(wd: Path, script: str) -> dict[str, int]:
    with edited(wd / "scripts" / script):
        return plan(wd)


def test_editing_a_plotting_script_reruns_only_figures(done):
    # (config/tiny.yaml declares no checkpoint series: that figure's script has no job here)
    scripts = sorted(p.name for p in (done / "scripts").glob("fig_*.py") if p.name != "fig_checkpoint_series.py")
    assert scripts
    for script in scripts[:2]:
        counts = _edit_and_plan(done, script)
        assert counts, f"editing {script} reruns nothing"
        assert set(counts) == fig_rules(counts), f"editing {script} reruns {counts}"
    assert plan(done) == {}, "restoring the scripts should leave nothing to do"


def test_figures_target_redraws_every_figure_from_results(done):
    figures = done / "results" / "figures"
    backup = done / "figures_backup"
    shutil.move(figures, backup)
    try:
        counts = plan(done, None, "figures")
        rules = list_rules(done)
        assert set(counts) == fig_rules(dict.fromkeys(rules)), f"`snakemake figures` would run {counts}"
    finally:
        shutil.rmtree(figures, ignore_errors=True)
        shutil.move(backup, figures)


# Two runs, listed out of name order, so that reordering also moves `runs:` (the tiny
# config has one): the second is the same tiny Llama with another seed.
TWO_RUNS = dict(TINY, runs={"tiny_z": TINY["runs"]["tiny"], "tiny_a": dict(TINY["runs"]["tiny"], seed=1)})


@pytest.fixture(scope="module")
def done_two_runs(tmp_path_factory):
    wd = copy_workflow(tmp_path_factory.mktemp("stale2") / "wf")
    (wd / "config" / "two_runs.yaml").write_text(yaml.safe_dump(TWO_RUNS, sort_keys=False))
    snakemake(["--profile", "profiles/local", "--cores", "2", "--configfile", "config/two_runs.yaml"], cwd=wd, timeout=3600)
    return wd


def test_config_reordered_at_every_level_plans_nothing(done_two_runs):
    """Same values, keys in another order at every level (runs included; also the sorted
    order yaml.safe_dump writes): nothing is stale."""
    wd = done_two_runs
    assert plan(wd, TWO_RUNS) == {}
    flipped = reversed_keys(TWO_RUNS)
    assert list(flipped["runs"]) == ["tiny_a", "tiny_z"] and list(flipped)[0] == "lyapunov"
    assert plan(wd, flipped) == {}
    (wd / "config" / "sorted.yaml").write_text(yaml.safe_dump(TWO_RUNS, sort_keys=True))
    _, counts, text = dry_run(wd, "--profile", "profiles/local", "--configfile", "config/sorted.yaml")
    assert not counts, text[-3000:]


def test_changed_value_in_a_reordered_config_reruns_exactly_its_stages(done_two_runs):
    wd = done_two_runs
    change = dict(TWO_RUNS, graphs=dict(TWO_RUNS["graphs"], knn=TWO_RUNS["graphs"]["knn"] - 1))
    expected = plan(wd, change)
    assert expected.get("correlation_graphs") == 2, expected
    assert not UPSTREAM & set(expected), expected
    assert plan(wd, reversed_keys(change)) == expected
