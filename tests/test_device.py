"""A GPU job's start (resdyn.core.device): IEEE float32 pinned against the environment, a granted GPU that
torch cannot see refused at once, the device logged. Each check starts a real GPU entry script
(scripts/extract_activations.py) in its own process, as Snakemake does, with a stand-in
`snakemake` object whose inputs do not exist: the job stops at reading them, after its start."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from resdyn.core import device

ROOT = Path(__file__).resolve().parents[1]
START_JOB = """
import runpy, sys, types
log = sys.argv[1]
snakemake = types.SimpleNamespace(
    log=[log], threads=1, wildcards=types.SimpleNamespace(run="r"),
    params=types.SimpleNamespace(bos="auto", batch_size=32, health={"samples": 1}, trained=True),
    input=types.SimpleNamespace(model="/nonexistent/model", corpus="/nonexistent/corpus.jsonl"),
    output=types.SimpleNamespace())
runpy.run_path("scripts/extract_activations.py", init_globals={"snakemake": snakemake})
"""


def start_job(tmp_path, **env):
    """Run the entry script's start; (returncode, stderr, log text, seconds)."""
    environ = {k: v for k, v in os.environ.items()
               if k not in device.GPU_GRANT_VARIABLES + (device.TF32_OVERRIDE_VARIABLE, device.ALLOW_CPU_VARIABLE)}
    environ.update(env, PYTHONPATH=str(ROOT))
    log = tmp_path / "job.log"
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", START_JOB, str(log)], cwd=ROOT, env=environ, capture_output=True,
                          text=True, timeout=120)
    return proc.returncode, proc.stderr, log.read_text() if log.exists() else "", time.monotonic() - start


def test_tf32_override_in_the_environment_is_pinned_off_and_logged(tmp_path):
    # the override does switch TF32 on where nothing pins it (so this test can fail)
    probe = subprocess.run([sys.executable, "-c", "import torch; print(torch.backends.cuda.matmul.allow_tf32, "
                            "torch.get_float32_matmul_precision())"], capture_output=True, text=True,
                           env={**os.environ, device.TF32_OVERRIDE_VARIABLE: "1"}, timeout=120)
    assert probe.stdout.split() == ["True", "high"], probe.stdout + probe.stderr
    code, err, log, _ = start_job(tmp_path, **{device.TF32_OVERRIDE_VARIABLE: "1"})
    assert "float32 matmul IEEE float32 (TF32 off): cuda.matmul.allow_tf32=False, cudnn.allow_tf32=False, " \
           "float32_matmul_precision=highest" in log, log + err
    assert f"{device.TF32_OVERRIDE_VARIABLE} was set" in log
    assert "device cpu" in log and "torch " in log and "driver " in log
    assert code != 0 and "nonexistent" in err  # it went on to its inputs: the start let it run


def test_granted_gpu_without_cuda_fails_within_seconds_naming_the_cause(tmp_path):
    code, err, log, seconds = start_job(tmp_path, SLURM_JOB_GPUS="0", CUDA_VISIBLE_DEVICES="0")
    assert code != 0
    text = err + log
    assert "DeviceError" in text and "granted a GPU (SLURM_JOB_GPUS=0, CUDA_VISIBLE_DEVICES=0)" in text, text
    assert "torch sees no CUDA device" in text and "the NVIDIA driver here is" in text, text
    assert "nonexistent" not in text  # it stopped before reading anything
    assert seconds < 30, seconds  # interpreter and torch import included (a few seconds on a loaded 2-core machine)


def test_allow_cpu_lets_a_fake_gpu_node_run_on_the_cpu(tmp_path):
    code, err, log, _ = start_job(tmp_path, SLURM_JOB_GPUS="0", **{device.ALLOW_CPU_VARIABLE: "1"})
    assert "device cpu" in log and "nonexistent" in err, log + err


def test_granted_gpus_reads_the_scheduler_variables():
    assert device.granted_gpus({"SLURM_JOB_GPUS": "0,1", "PATH": "/bin"}) == {"SLURM_JOB_GPUS": "0,1"}
    assert device.granted_gpus({"CUDA_VISIBLE_DEVICES": ""}) == {}
    assert device.granted_gpus({"CUDA_VISIBLE_DEVICES": "-1", "SLURM_STEP_GPUS": "NoDevFiles"}) == {}


def test_no_cuda_message_names_both_versions(monkeypatch):
    monkeypatch.setattr(device.torch.version, "cuda", "13.0")
    monkeypatch.setattr(device, "driver_version", lambda: "550.54.15")
    text = device._no_cuda_message({"SLURM_JOB_GPUS": "0"})
    assert "built for CUDA 13.0 (needs driver >= 580)" in text and "driver here is 550.54.15" in text
    assert "download.pytorch.org/whl/cu126" in text


def test_choose_device_refuses_a_granted_gpu(monkeypatch):
    monkeypatch.setattr(device.torch.cuda, "is_available", lambda: False)
    with pytest.raises(device.DeviceError, match="granted a GPU"):
        device.choose_device({"SLURM_JOB_GPUS": "0"})
    assert device.choose_device({}).type == "cpu"
    assert device.choose_device({"SLURM_JOB_GPUS": "0", device.ALLOW_CPU_VARIABLE: "1"}).type == "cpu"


def test_require_memory_names_the_setting_for_a_larger_card(monkeypatch):
    monkeypatch.setattr(device, "free_memory", lambda dev: (30 * 2**30, 40 * 2**30))
    with pytest.raises(device.DeviceError, match=r"needs ~45 GiB .* this card has 40 GiB.*RESDYN_SLURM_GPU_CONSTRAINT"):
        device.require_memory(device.torch.device("cpu"), 45 * 2**30, "protocol_tables (r)")
    device.require_memory(device.torch.device("cpu"), 39 * 2**30, "protocol_tables (r)")
