"""Cluster profiles and the paper configuration.

- profiles/slurm-a100 renders (yte) into GPU requests for exactly the GPU rules, the CPU
  partition for everything else, with partitions/account/QoS from the environment.
- A dry run of config/paper.yaml with that profile submits every GPU rule with one A100
  (and no --ntasks-per-gpu), every other rule to the CPU partition, sizes memory and
  wall time from the model, and shards the Jacobians one job per (run, layer).
"""
from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from slurm.workflow_helpers import (
    GPU_RULES,
    ROOT,
    TARGET_RULES,
    clean_env,
    copy_workflow,
    dry_run,
    list_rules,
)

A100 = ROOT / "profiles" / "slurm-a100" / "config.yaml"
LOCAL = ROOT / "profiles" / "local" / "config.yaml"

# Prepared-model configs of the paper's runs (layers, width, MLP, vocabulary).
PAPER_MODELS = {
    "llama31_8b": dict(model_type="llama", num_hidden_layers=32, hidden_size=4096, intermediate_size=14336, vocab_size=128256),
    "olmo3_7b_step0": dict(model_type="olmo3", num_hidden_layers=32, hidden_size=4096, intermediate_size=11008, vocab_size=100278),
    "olmo3_7b_step471k": dict(model_type="olmo3", num_hidden_layers=32, hidden_size=4096, intermediate_size=11008, vocab_size=100278),
    "olmo3_7b_step1413814": dict(model_type="olmo3", num_hidden_layers=32, hidden_size=4096, intermediate_size=11008, vocab_size=100278),
    "gemma4_e4b": dict(
        model_type="gemma4",
        text_config=dict(model_type="gemma4_text", num_hidden_layers=42, hidden_size=2560, intermediate_size=10240, vocab_size=262144),
    ),
}


def render(path: Path, **env) -> dict:
    """The profile as Snakemake reads it, under environment clean_env(**env)."""
    import yte

    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(clean_env(**env))
        with open(path) as fh:
            return yte.process_yaml(fh, require_use_yte=True) if "__use_yte__" in path.read_text() else yaml.safe_load(fh)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_a100_profile_defaults():
    p = render(A100)
    assert p["executor"] == "slurm"
    assert p["retries"] >= 1, "preempted jobs must be resubmitted"
    assert p["default-resources"]["slurm_partition"] == "cpu"
    assert "slurm_account" not in p["default-resources"] and "slurm-qos" not in p
    assert set(p["set-resources"]) == GPU_RULES
    for rule, res in p["set-resources"].items():
        assert res["slurm_partition"] == "gpu", rule
        assert res["gpu"] == 1 and res["gpu_model"] == "a100", rule
        assert "gres" not in res, f"{rule}: gpu and gres together"
        assert res["tasks"] == 0, f"{rule}: tasks must be 0 (else --ntasks-per-gpu runs the job once per task)"
        assert "mem_mb" not in res and "runtime" not in res, "memory/time come from rules/resources.smk"
    assert set(p["set-threads"]) == GPU_RULES


def test_a100_profile_reads_cluster_settings_from_environment():
    p = render(
        A100,
        RESDYN_SLURM_CPU_PARTITION="compute",
        RESDYN_SLURM_GPU_PARTITION="a100-preempt",
        RESDYN_SLURM_ACCOUNT="proj123",
        RESDYN_SLURM_QOS="normal",
        RESDYN_SLURM_GPU_QOS="gpu-long",
        RESDYN_SLURM_GPU_CPUS="4",
    )
    assert p["default-resources"] == {"slurm_partition": "compute", "slurm_account": "proj123"}
    assert p["slurm-qos"] == "normal"
    for res in p["set-resources"].values():
        assert res["slurm_partition"] == "a100-preempt" and res["qos"] == "gpu-long"
    assert set(p["set-threads"].values()) == {4}
    # a cluster that names GPUs through gres gets gres alone
    g = render(A100, RESDYN_SLURM_GPU_GRES="gpu:a100:1")
    for rule, res in g["set-resources"].items():
        assert res["gres"] == "gpu:a100:1" and "gpu" not in res and "gpu_model" not in res, rule


def test_profiles_name_no_machine_or_private_path():
    host = socket.gethostname().split(".")[0]
    for path in (A100, LOCAL):
        text = path.read_text()
        body = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
        assert not re.search(r"(?<![\w$.])/(home|work|tmp|scratch|data|mnt|opt|srv|gpfs|lustre|cluster)\b", body), path
        if len(host) > 2:
            assert not re.search(rf"\b{re.escape(host)}\b", body), f"{path} names this machine ({host})"


def test_local_profile():
    p = render(LOCAL)
    assert "executor" not in p or p["executor"] == "local"
    assert p["cores"] == "all"


def test_profile_gpu_rules_exist_in_workflow(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    # the Jacobian rules depend on jacobians.layers_per_job: 1 (paper.yaml) or more (config.yaml)
    rules = list_rules(wd) | list_rules(wd, "--configfile", "config/paper.yaml")
    missing = GPU_RULES - rules
    assert not missing, f"profile requests GPUs for rules the workflow lacks: {sorted(missing)}"
    gpu_like = {r for r in rules if r.startswith("lyapunov_") and r != "lyapunov_bridge"}
    assert gpu_like <= GPU_RULES, f"Lyapunov rules without a GPU request: {sorted(gpu_like - GPU_RULES)}"


def _plan_paper(wd: Path, configfile: str = "config/paper.yaml"):
    """Dry run of `configfile` with the A100 profile, the paper's models 'prepared'."""
    for run, cfg in PAPER_MODELS.items():
        folder = wd / "resources" / "models" / run
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text(json.dumps(cfg))
    planned, counts, text = dry_run(wd, "--profile", "profiles/slurm-a100", "--configfile", configfile)
    assert planned, text[-3000:]
    return planned, counts


@pytest.fixture(scope="module")
def paper_plan(tmp_path_factory):
    return _plan_paper(copy_workflow(tmp_path_factory.mktemp("paper") / "wf"))


def _sbatch_flags(job) -> str:
    """What snakemake-executor-plugin-slurm adds to sbatch for this job's resources."""
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    class Resources(dict):
        def __getattr__(self, key):
            return self[key]

    fake = SimpleNamespace(resources=Resources(job.resources), threads=job.threads, name=job.rule)
    params = dict(run_uuid="u", slurm_logfile="l", comment_str="c", account="", partition="", workdir="")
    partition = f"-p {job.resources['slurm_partition']}"
    return f"{get_submit_command(fake, params)} {partition}{set_gres_string(fake)}"


def test_paper_dry_run_places_every_job(paper_plan):
    planned, counts = paper_plan
    gpu_seen = set()
    for job in planned:
        if job.rule in TARGET_RULES or (job.local and job.rule not in GPU_RULES):
            continue  # runs on the submit host (aggregation/target rules)
        res = job.resources
        flags = _sbatch_flags(job)
        if job.rule in GPU_RULES:
            gpu_seen.add(job.rule)
            assert res.get("slurm_partition") == "gpu", (job.rule, res)
            assert res.get("gpu") == 1 and res.get("gpu_model") == "a100" and "gres" not in res, (job.rule, res)
            assert "--gpus=a100:1" in flags and "-p gpu" in flags, flags
            assert "--ntasks-per-gpu" not in flags, flags
        else:
            assert res.get("slurm_partition") == "cpu", (job.rule, res)
            assert not {"gpu", "gpu_model", "gres"} & set(res), (job.rule, res)
            assert "--gpus" not in flags and "--gres" not in flags and "-p cpu" in flags, flags
    assert {"extract_activations", "jacobian_layer"} <= gpu_seen
    assert gpu_seen == GPU_RULES & set(counts), f"GPU rules planned {sorted(gpu_seen)}"


def test_paper_jacobians_are_sharded_per_layer(paper_plan):
    planned, counts = paper_plan
    shards = [(j.wildcards["run"], j.wildcards["layer"]) for j in planned if j.rule == "jacobian_layer"]
    expected = sum(
        cfg.get("text_config", cfg)["num_hidden_layers"] for cfg in PAPER_MODELS.values()
    )
    assert len(shards) == len(set(shards)) == expected == counts["jacobian_layer"]
    for job in planned:
        if job.rule == "jacobian_layer":  # shards do not wait on each other: layers run in parallel
            assert "jacobians/" not in job.input, job.input


def test_paper_resources_scale_with_the_model(paper_plan):
    planned, _ = paper_plan

    def res(rule, run):
        jobs = [j for j in planned if j.rule == rule and j.wildcards.get("run") == run]
        assert jobs, (rule, run)
        return jobs[0].resources

    for rule in ("extract_activations", "jacobian_layer"):
        big, small = res(rule, "llama31_8b"), res(rule, "gemma4_e4b")
        for key in ("mem_mb", "runtime"):
            assert isinstance(big.get(key), int) and isinstance(small.get(key), int), (rule, key, big, small)
        assert big["runtime"] >= small["runtime"], (rule, big, small)
    # the forward pass reads an 8B model's float32 weights (~30 GiB) to the host first
    assert res("extract_activations", "llama31_8b")["mem_mb"] > 32000
    # a single-token layer job reads one layer (~0.8 GiB) straight to the device: its host request is
    # one batch of d = 4096 Jacobians in float32 + float64 (~10 GiB, its working set on a CPU), not the model
    layer_job = res("jacobian_layer", "llama31_8b")["mem_mb"]
    assert 10_000 < layer_job < 20_000, layer_job
    protocols = next(j for j in planned if j.rule == "protocol_tables").resources
    assert protocols["slurm_partition"] == "gpu" and protocols["gpu"] == 1 and protocols["mem_mb"] > 32000, protocols


def test_chunked_jacobian_jobs_get_a_gpu_and_the_time_of_their_layers(paper_plan, tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    cfg = yaml.safe_load((wd / "config" / "paper.yaml").read_text())
    cfg["jacobians"]["layers_per_job"] = 4
    (wd / "config" / "paper_chunks.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    chunked, counts = _plan_paper(wd, "config/paper_chunks.yaml")
    depths = [c.get("text_config", c)["num_hidden_layers"] for c in PAPER_MODELS.values()]
    assert counts["jacobian_layers"] == sum(-(-depth // 4) for depth in depths), counts
    assert counts["jacobian_layer_file"] == sum(depths), counts
    one, _ = paper_plan

    def first(plan, rule, run="llama31_8b"):
        return next(j for j in plan if j.rule == rule and j.wildcards.get("run") == run)

    chunk, single = first(chunked, "jacobian_layers"), first(one, "jacobian_layer")
    assert chunk.resources["slurm_partition"] == "gpu" and chunk.resources["gpu"] == 1, chunk.resources
    assert chunk.resources["mem_mb"] == single.resources["mem_mb"]
    assert chunk.resources["runtime"] == 4 * single.resources["runtime"]
    # Lyapunov jobs share the resource class; their time does not grow with the chunks
    assert first(chunked, "lyapunov_ftle").resources == first(one, "lyapunov_ftle").resources
