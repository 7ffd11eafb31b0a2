"""The loop rules' entry functions on a simulated GPU (tests/simulated_cuda.py): a tiny Ouro
folder loaded by `loops.jobs.load_job` onto the device, then the spectrum, cosine and checkpoint
tables. The safetensors files are read before the simulation starts (a fake tensor mode cannot
read a file's storage); their cast and move to the device run inside it, as in the job.

Not covered here: the attribution table (its exact-sum check needs real values) and Huginn
(its initial state comes from `trunc_normal_`, a rejection loop on `mask.any()` that the
simulation, where every `bool()` is True, never ends)."""
from __future__ import annotations

import pandas as pd
import pytest
import safetensors.torch

from simulated_cuda import DEVICE, simulated_cuda
from tiny_loops import tiny_ouro

from resdyn.loops import jobs, measurements

ENTRY = {  # what scripts/loop_*.py call, at small k and step counts
    "spectrum": lambda m, p: measurements.spectrum_tables(m, p, "x", k=2, n_steps=2, seed=0, loop_state="token"),
    "cosine": lambda m, p: (measurements.cosine_table(m, p, "x", n_loops=2),),
    "checkpoint": lambda m, p: (measurements.checkpoint_table(m, p, "x", checkpoint_step=1, final=True, n_steps=2,
                                                              seed=0, loop_state="sequence"),),
}


@pytest.mark.parametrize("name", sorted(ENTRY))
def test_loop_tables_with_the_model_on_the_device(tmp_path, monkeypatch, name):
    folder = tiny_ouro(tmp_path / "ouro")
    prompts = tmp_path / "prompts.csv"
    pd.DataFrame({"text": ["def f(x): return x + 1", "The river ran through the old town"]}).to_csv(prompts, index=False)
    read = {str(f): safetensors.torch.load_file(str(f)) for f in folder.glob("*.safetensors")}
    monkeypatch.setattr(safetensors.torch, "load_file", lambda path, device="cpu": dict(read[str(path)]))
    monkeypatch.setattr("resdyn.models.sources.compute_device", lambda: DEVICE)
    with simulated_cuda():
        model, ids = jobs.load_job(folder, {"arch": "ouro"}, "float32", prompts, max_tokens=8)
        assert model.device == DEVICE and all(i.device == DEVICE for i in ids)
        tables = ENTRY[name](model, ids)
    assert all(len(t) > 0 for t in tables)
