"""The Jacobian stage streams: its peak memory does not grow with the number of samples."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForCausalLM, LlamaConfig

ROOT = Path(__file__).resolve().parent.parent
D = 256


def _peak_rss_mb(model_dir: Path, acts: Path) -> float:
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "rss_probe.py"), str(model_dir), str(acts), "--layer", "1"],
        check=True, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_mb"]


def test_peak_rss_at_4n_is_within_10_percent_of_n(tmp_path):
    cfg = LlamaConfig(hidden_size=D, intermediate_size=2 * D, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, vocab_size=100)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(cfg).save_pretrained(tmp_path / "model")
    rng = np.random.default_rng(0)
    peaks = []
    for n in (96, 384):
        np.save(tmp_path / f"acts_{n}.npy", rng.standard_normal((n, 4, D)).astype(np.float32))
        peaks.append(_peak_rss_mb(tmp_path / "model", tmp_path / f"acts_{n}.npy"))
    # keeping every float64 Jacobian would add 384 * 256^2 * 8 B = 200 MB at 4N, far above 10 %
    assert peaks[1] <= 1.10 * peaks[0], peaks
