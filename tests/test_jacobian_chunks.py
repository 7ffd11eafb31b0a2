"""Several layers per Jacobian job (jacobians.layers_per_job > 1) on the tiny workflow.

A chunked run must give the same per-layer files, at the same public paths, as one job
per layer; leave nothing to do once complete (the copies are not older than their chunk);
and rerun its chunks and copies when the Jacobian script changes.
"""
from __future__ import annotations

import numpy as np
import pytest
import yaml

from slurm.workflow_helpers import ROOT, copy_workflow, dry_run, edited, snakemake

TINY = yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text())
N_LAYERS = TINY["runs"]["tiny"]["config"]["num_hidden_layers"]  # 3: chunks 00-01 and 02-02
LAYER_FILES = [f"results/tiny/jacobians/layer_{layer:02d}.npz" for layer in range(N_LAYERS)]


def _workflow(tmp_path_factory, layers_per_job: int):
    wd = copy_workflow(tmp_path_factory.mktemp(f"chunks{layers_per_job}") / "wf")
    cfg = dict(TINY, jacobians=dict(TINY["jacobians"], layers_per_job=layers_per_job))
    (wd / "config" / "tiny_chunks.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return wd


# targets first: --configfile takes every path after it
ARGS = [*LAYER_FILES, "--profile", "profiles/local", "--configfile", "config/tiny_chunks.yaml"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The tiny workflow's Jacobians with one layer per job and with two."""
    done = {}
    for layers_per_job in (1, 2):
        wd = _workflow(tmp_path_factory, layers_per_job)
        snakemake([*ARGS, "--cores", "2"], cwd=wd, timeout=1800)
        done[layers_per_job] = wd
    return done


def test_chunks_give_the_same_layer_files(runs):
    one, chunked = runs[1], runs[2]
    for path in LAYER_FILES:
        a, b = np.load(one / path), np.load(chunked / path)
        assert sorted(a.files) == sorted(b.files), path
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{path}:{key}")
    chunks = sorted(p.name for p in (chunked / "results" / "tiny" / "jacobian_chunks").iterdir())
    assert chunks == ["layers_00-01", "layers_02-02"]
    assert not (one / "results" / "tiny" / "jacobian_chunks").exists()


def test_complete_chunked_run_leaves_nothing_to_do(runs):
    _, counts, text = dry_run(runs[2], *ARGS)
    assert not counts, text[-3000:]


def test_editing_the_jacobian_script_reruns_every_chunk_and_copy(runs):
    wd = runs[2]
    with edited(wd / "scripts" / "jacobian_layer.py"):
        _, counts, out = dry_run(wd, *ARGS)
    assert counts == {"jacobian_layers": 2, "jacobian_layer_file": N_LAYERS}, out[-3000:]
