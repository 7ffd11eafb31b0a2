"""Peak device memory of the GPU rules' entry functions at config/paper.yaml's settings, on a simulated GPU.

Runs each function as tests/test_simulated_cuda.py does (fake tensors: no GPU, no weights), with
the paper's full-size models, batch sizes and `jacobians.precision`, and prints the peak bytes of
live device tensors beside the card the profile asks for. What it counts: the job's tensors
(weights, states, Jacobians, their float64 copies). What it leaves out: the CUDA context
(~0.5 GiB), the caching allocator's slack and cuBLAS/cuSOLVER workspaces (allow ~10 %).
`auto` is simulated at its worst: every sample of a batch recomputed in float64.

    .venv/bin/python benchmarks/simulated_device_memory.py      # ~1-2 minutes on 2 cores
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from paper_shapes import GEMMA4_E4B, LLAMA31_8B, OLMO3_7B, fake_layer_tensors, fake_model, prepared_folder  # noqa: E402
from simulated_cuda import DEVICE, GIB, simulated_cuda  # noqa: E402

from resdyn.data.activations import extract_with_loss  # noqa: E402
import resdyn.dynamics.engines as engines  # noqa: E402
from resdyn.dynamics.engines import engine_layer_stats  # noqa: E402
from resdyn.dynamics.jacobians import single_token_layer_stats  # noqa: E402
from resdyn.dynamics.protocols import PROTOCOLS, protocol_layer_arrays  # noqa: E402
from resdyn.dynamics.transport import TransportSums  # noqa: E402
import resdyn.models.layer_files as layer_files  # noqa: E402
from resdyn.models.layer_files import single_token_block  # noqa: E402
import resdyn.models.sources as sources  # noqa: E402

PAPER = yaml.safe_load(open(ROOT / "config" / "paper.yaml"))
BATCH, PRECISION = PAPER["jacobians"]["batch_size"], PAPER["jacobians"]["precision"]
CARDS = {"A100 40 GB": 40e9, "A100 80 GB": 80e9}  # what `--gpus=a100:1` may get; RESDYN_SLURM_GPU_CONSTRAINT picks 80
TOKENS = 256  # longest prompts of the corpus (max_chars 800: ~200 tokens)


def ids(n, vocab, length=TOKENS):
    return [list(range(3, 3 + length - i % 7)) for i in range(n)]


def with_layer_files(cfg):
    fake = fake_layer_tensors(cfg)
    return mock.patch.multiple(sources, layer_tensors=fake), mock.patch.multiple(layer_files, layer_tensors=fake)


def single_token(cfg, layer, batch=BATCH):
    folder = prepared_folder(Path(tempfile.mkdtemp()) / "model", cfg)
    a, b = with_layer_files(cfg)
    with a, b, simulated_cuda() as memory:
        block = single_token_block(folder, layer, device=DEVICE)
        single_token_layer_stats(block, np.zeros((2 * batch, cfg["hidden_size"]), np.float32), batch, "",
                                 precision=PRECISION)
    return memory.peak


def gemma4_single_token(cfg, layer):
    folder = prepared_folder(Path(tempfile.mkdtemp()) / "model", cfg)
    a, b = with_layer_files(cfg)
    p = cfg["hidden_size_per_layer_input"]
    import torch

    ple = mock.patch.object(engines, "per_layer_inputs_from_folder",
                            lambda path, i, layer, device="cpu": torch.empty(len(i), p, device=device))
    acts = np.zeros((BATCH, 2 * cfg["num_hidden_layers"], cfg["hidden_size"]), np.float32)
    with a, b, ple, simulated_cuda() as memory:
        engine_layer_stats(folder, layer, "single_token", acts, ids(BATCH, 1000), BATCH, "", device=DEVICE,
                           precision=PRECISION)
    return memory.peak


def extraction(cfg):
    with simulated_cuda() as memory:
        model = fake_model(cfg, DEVICE)
        batch = PAPER["activations"]["batch_size"]
        extract_with_loss(model, ids(batch, cfg["vocab_size"]), batch, loss_samples=batch)
    return memory.peak


def protocols(cfg):
    with simulated_cuda() as memory:
        model = fake_model(cfg, DEVICE)
        transport = {p: TransportSums() for p in PROTOCOLS}
        protocol_layer_arrays(model, ids(1, cfg["vocab_size"]), "r", precision=PRECISION, transport=transport)
    return memory.peak


def main():
    rows = [
        ("extract_activations", "llama31_8b", lambda: extraction(LLAMA31_8B)),
        ("jacobian_layer (single token)", "llama31_8b", lambda: single_token(LLAMA31_8B, 5)),
        ("  the same, batch halved to 16", "llama31_8b", lambda: single_token(LLAMA31_8B, 5, 16)),
        ("jacobian_layer (single token)", "olmo3_7b", lambda: single_token(OLMO3_7B, 5)),
        ("jacobian_layer (single token)", "gemma4_e4b, layer 41", lambda: gemma4_single_token(GEMMA4_E4B, 41)),
        ("protocol_tables (both protocols)", "llama31_8b", lambda: protocols(LLAMA31_8B)),
    ]
    print(f"peak device memory at config/paper.yaml's settings (batch {BATCH}, precision {PRECISION} with every "
          f"sample recomputed, prompts of {TOKENS} tokens), as a fraction of each card the profile may get")
    print(f"{'rule':34s} {'model':22s} {'peak GiB':>9s} " + " ".join(f"{c:>11s}" for c in CARDS) + f" {'s':>5s}")
    for rule, model, run in rows:
        start = time.time()
        peak = run()
        shares = " ".join(f"{peak / size:11.0%}" for size in CARDS.values())
        print(f"{rule:34s} {model:22s} {peak / GIB:9.1f} {shares} {time.time() - start:5.0f}", flush=True)


if __name__ == "__main__":
    main()
