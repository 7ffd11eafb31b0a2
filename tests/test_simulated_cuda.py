"""Every GPU rule's entry function on a simulated GPU at the paper's shapes (d = 4096) and batch sizes.

On this machine the GPU rules' code only ever ran on the CPU, where it takes other branches
(CPU singular values, host tensors everywhere). Here the same functions run with their model,
weights and states on a fake device (tests/simulated_cuda.py), so the mistakes a real GPU
punishes fail in CI: a device tensor's `.numpy()`, a tensor made on the host meeting one on the
device, weights read to the host instead of the device. `precision: auto` (config/paper.yaml)
takes its float64 recompute for every sample (the fake host values leave every σ_min at 0).
Batch sizes are config/paper.yaml's (activations and Jacobians: 32).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from paper_shapes import GEMMA4_E4B, GENERIC_4096, LLAMA31_8B, OLMO3_7B, fake_layer_tensors, fake_model, \
    prepared_folder, shortened
from simulated_cuda import DEVICE, simulated_cuda

from resdyn.data.activations import extract_with_loss
from resdyn.dynamics.engines import engine_in_context_stats, engine_layer_stats
from resdyn.dynamics.jacobians import single_token_layer_stats
from resdyn.dynamics.protocols import device_bytes_needed, protocol_layer_arrays
from resdyn.dynamics.stat_names import STAT_NAMES
from resdyn.dynamics.transport import TransportSums
from resdyn.lyapunov import model_runs
from resdyn.models.layer_files import single_token_block

PAPER = yaml.safe_load(open("config/paper.yaml"))
BATCH = PAPER["jacobians"]["batch_size"]
PRECISION = PAPER["jacobians"]["precision"]
TOKENS = 24  # prompt length of the in-context and forward-pass tests (the corpus's are ~50-200)


def token_ids(n: int, vocab: int, length: int = TOKENS) -> list[list[int]]:
    rng = np.random.default_rng(0)
    return [rng.integers(3, vocab, size=length - i % 5).tolist() for i in range(n)]


def patch_layer_files(monkeypatch, cfg):
    """The prepared folder's safetensors, read by sources.layer_tensors, become fake tensors on the device asked."""
    import resdyn.models.layer_files as layer_files
    import resdyn.models.sources as sources

    fake = fake_layer_tensors(cfg)
    monkeypatch.setattr(sources, "layer_tensors", fake)
    monkeypatch.setattr(layer_files, "layer_tensors", fake)


def check_layer_file(result: dict, n: int, d: int) -> None:
    assert result["mean_J"].shape == (d, d) and result["col_norm_mean"].shape == (d,)
    for name in STAT_NAMES:
        assert result[name].shape == (n,), name
    assert result["kappa_unresolved"].all()  # every σ_min was 0: every sample went through the float64 recompute
    assert float(result["jacobian_eps"]) == np.finfo(np.float64).eps


@pytest.mark.parametrize("cfg", [LLAMA31_8B, OLMO3_7B], ids=["llama", "olmo3"])
def test_single_token_block_engine(cfg, tmp_path, monkeypatch):
    """jacobian_layer (single token, closed form): the layer read to the device, 2 batches of 32, auto precision."""
    folder = prepared_folder(tmp_path / "model", cfg)
    patch_layer_files(monkeypatch, cfg)
    states = np.zeros((2 * BATCH, cfg["hidden_size"]), np.float32)  # host states, as the memory-mapped file gives
    with simulated_cuda() as memory:
        block = single_token_block(folder, 3, device=DEVICE)
        result = single_token_layer_stats(block, states, BATCH, "run r, layer 3", precision=PRECISION)
    check_layer_file(result, len(states), cfg["hidden_size"])
    assert memory.peak > 0


def test_single_token_block_engine_refuses_host_weights(tmp_path, monkeypatch):
    """The simulated device catches what a GPU would: weights left on the host meet states on the device."""
    cfg = LLAMA31_8B
    folder = prepared_folder(tmp_path / "model", cfg)
    patch_layer_files(monkeypatch, cfg)
    states = np.zeros((BATCH, cfg["hidden_size"]), np.float32)
    with simulated_cuda():
        block = single_token_block(folder, 3, device="cpu")
        block.down = (block.down[0].to(DEVICE), None)  # the states go where the down projection is
        with pytest.raises(RuntimeError, match="[Dd]evice"):
            single_token_layer_stats(block, states, BATCH, "run r, layer 3", precision=PRECISION)


def test_device_numpy_fails_as_on_a_gpu():
    with simulated_cuda():
        t = torch.zeros(3, 3, device=DEVICE)
        with pytest.raises(TypeError, match="to numpy"):
            t.double().numpy()
        assert t.cpu().numpy().shape == (3, 3)


def test_protocol_arrays_and_in_context_block_engine():
    """protocol_tables (both protocols, per-sample relative difference) and jacobian_layer in context."""
    cfg = shortened(LLAMA31_8B, 2)
    with simulated_cuda() as memory:
        model = fake_model(cfg, DEVICE)
        ids = token_ids(2, cfg["vocab_size"])
        transport = {p: TransportSums() for p in ("single_token", "in_context")}
        arrays, rel_diff = protocol_layer_arrays(model, ids, "r", precision=PRECISION, transport=transport)
        need = device_bytes_needed(model)
    assert rel_diff.shape == (2, 2)
    assert 0.5 * need < memory.peak <= need  # what the job checks the card against covers what it holds
    for protocol in ("single_token", "in_context"):
        assert len(arrays[protocol]) == 2
        check_layer_file(arrays[protocol][1], 2, cfg["hidden_size"])
    assert memory.peak > 0


def test_extract_with_loss():
    """extract_activations: one batch of 32 left-padded prompts, the loss on them, snapshots to the host."""
    cfg = shortened(LLAMA31_8B, 2)
    with simulated_cuda():
        model = fake_model(cfg, DEVICE)
        ids = token_ids(PAPER["activations"]["batch_size"], cfg["vocab_size"])
        acts, tally = extract_with_loss(model, ids, PAPER["activations"]["batch_size"], loss_samples=len(ids))
    assert acts.shape == (len(ids), 4, cfg["hidden_size"]) and acts.dtype == np.float32
    assert tally.n_tokens > 0


def test_gemma4_single_token_engine(tmp_path, monkeypatch):
    """jacobian_layer on Gemma 4 (its closed form): an own-KV layer and a KV-shared one, per-layer inputs
    on the device."""
    import resdyn.dynamics.engines as layer_engines

    cfg = shortened(GEMMA4_E4B, 12)  # layers 6-11 reuse 4's and 5's keys/values
    folder = prepared_folder(tmp_path / "model", cfg)
    patch_layer_files(monkeypatch, cfg)
    p = cfg["hidden_size_per_layer_input"]
    monkeypatch.setattr(layer_engines, "per_layer_inputs_from_folder",
                        lambda path, ids, layer, device="cpu": torch.empty(len(ids), p, device=device))
    acts = np.zeros((BATCH, 2 * cfg["num_hidden_layers"], cfg["hidden_size"]), np.float32)
    ids = token_ids(BATCH, 1000)
    with simulated_cuda():
        for layer in (0, 11):
            result = engine_layer_stats(folder, layer, "single_token", acts, ids, BATCH, f"layer {layer}",
                                        device=DEVICE, precision=PRECISION)
            check_layer_file(result, BATCH, cfg["hidden_size"])


def test_generic_engine_single_token(tmp_path, monkeypatch):
    """jacobian_layer by autodiff through a d = 4096 decoder layer (the generic engine), a batch of 32."""
    cfg = GENERIC_4096
    folder = prepared_folder(tmp_path / "model", cfg)
    patch_layer_files(monkeypatch, cfg)
    acts = np.zeros((BATCH, 2 * cfg["num_hidden_layers"], cfg["hidden_size"]), np.float32)
    with simulated_cuda():
        result = engine_layer_stats(folder, 1, "single_token", acts, None, BATCH, "layer 1", device=DEVICE,
                                    precision=PRECISION)
    check_layer_file(result, BATCH, cfg["hidden_size"])


def test_gemma4_in_context_generic_engine():
    """jacobian_layer on Gemma 4 in context (autodiff through the layer), a KV-shared layer included."""
    cfg = shortened(GEMMA4_E4B, 12)
    with simulated_cuda():
        model = fake_model(cfg, DEVICE)
        results = engine_in_context_stats(model, [0, 11], token_ids(1, 1000, 8), "run r", precision=PRECISION)
    for result in results:
        check_layer_file(result, 1, cfg["hidden_size"])


A100_40GB = 40 * 10**9 - 2**30  # what a 40 GB A100 leaves beside the CUDA context


def test_llama_layer_batch_shrinks_to_fit_a_40gb_card(tmp_path, monkeypatch, caplog):
    """A single-token Llama layer needs ~47 GiB at batch 32 in auto precision (every sample recomputed in
    float64): on a 40 GB A100 the job halves its batch on running out of memory and finishes within the card."""
    cfg = LLAMA31_8B
    folder = prepared_folder(tmp_path / "model", cfg)
    patch_layer_files(monkeypatch, cfg)
    states = np.zeros((2 * BATCH, cfg["hidden_size"]), np.float32)
    with simulated_cuda(capacity=A100_40GB) as memory, caplog.at_level("WARNING", logger="resdyn.core.device"):
        block = single_token_block(folder, 3, device=DEVICE)
        result = single_token_layer_stats(block, states, BATCH, "run r, layer 3", precision=PRECISION)
    check_layer_file(result, len(states), cfg["hidden_size"])
    assert "device out of memory" in caplog.text and "batch size now 16" in caplog.text, caplog.text
    assert memory.peak <= A100_40GB


LYAPUNOV = {  # what the Lyapunov rules call (scripts/lyapunov_*.py), at small k and step counts
    "ftle": lambda m, s: model_runs.ftle_tables(m, s, [0], "r", seeds=[0], cadence=2, position="span", span_tokens=2),
    "spectrum": lambda m, s: model_runs.spectrum_tables(m, s, [0], "r", k=2, loop_steps=2, seed=0),
    "attribution": lambda m, s: model_runs.attribution_table(m, s, [0], "r", k=2, loop_steps=2, seed=0),
    "attention": lambda m, s: model_runs.attention_table(m, s, "r", n=8, d_head=4, temperatures=[1.0], n_steps=4,
                                                         warmup=1, k=2, repeats=1, rank_threshold=2.0, real_tokens=8,
                                                         seed=0),
}


@pytest.mark.parametrize("name", sorted(LYAPUNOV))
def test_lyapunov_entry_functions(name):
    """lyapunov_* rules: JVP tangents, QR and probes through a d = 4096 Llama on the device (token ids on the host,
    as the corpus gives them)."""
    with simulated_cuda():
        model = fake_model(shortened(LLAMA31_8B, 1), DEVICE)
        out = LYAPUNOV[name](model, [torch.arange(3, 15)])
    assert len(out) > 0


def test_trajectory_generation():
    """trajectory_generate: batched decoding with the KV cache on the device, sampling from host
    copies of the logits, then FTLE and kinematic ct_t through the maps (prompt ids on the host)."""
    from test_tokens import ADDS_NONE, byte_tokenizer

    from resdyn.trajectories.model_run import trajectory_tokens

    prompts = [("code", "def f(x): return x + 1"), ("prose", "The river ran through the old town")]
    with simulated_cuda():
        model = fake_model(dict(shortened(LLAMA31_8B, 1), vocab_size=512, bos_token_id=1, eos_token_id=2), DEVICE)
        table = trajectory_tokens(model, byte_tokenizer(ADDS_NONE), prompts, "r", prompt_tokens=6, n_tokens=3,
                                  temperature=1.0, seed=0, ftle_seeds=range(2), cadence=1, repeat_n=2,
                                  repeat_window=8)
    assert len(table) == 2 * 2 * 3  # prompts x decodings x tokens
    assert table["position"].tolist()[:3] == [5, 6, 7]
