# Per-job memory (mem_mb) and wall time (runtime, minutes) as functions of the model
# and the corpus: parameters P, width d, depth L and samples N. Placement (partition,
# GPU, account, QoS) is the profile's business (profiles/*/config.yaml), not this file's.
#
# A rule opts in with
#     resources:
#         **job_resources("gpu_jacobian"),
# where the class is one of RESOURCE_CLASSES, or, in the loop study (rules/loops.smk), with
# **loop_resources(kind) for a kind of LOOP_JOB_KINDS. Values grow with `attempt`, so a job
# that was preempted or ran out of time or memory is resubmitted (profile `retries`)
# with more. A profile's `set-resources` still overrides any of them.
import json
import math
import re
from pathlib import Path

from snakemake.io import expand as _expand

RESOURCE_CLASSES = (
    "prepare",  # download/convert weights to a float32 HF folder (CPU)
    "gpu_forward",  # forward passes over the corpus (activations)
    "gpu_jacobian",  # per-sample d x d Jacobians with the whole model loaded (Lyapunov, trajectories, protocols)
    "gpu_layer",  # per-sample d x d Jacobians of one layer or chunk, its weights read alone (single token)
    "cpu_dense",  # d x d linear algebra over all layers (spectra, cumulative, coupling)
    "cpu_schur",  # Schur surgery of one mode: every dose x draw product composed at once
    "light",  # tables, figures, corpus
)

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt")


def _size_from_name(model_id):
    """Parameter count from a hub id such as 'Llama-3.1-8B' or 'gemma-4-e4b-it'."""
    hits = re.findall(r"(?<![\d.])(\d+(?:\.\d+)?)([bm])(?![a-z])", model_id.lower())
    if not hits:
        return None
    value, unit = hits[-1]
    return float(value) * (1e9 if unit == "b" else 1e6)


def _params_from_hf_config(cfg):
    c = cfg.get("text_config", cfg)
    d = int(c.get("hidden_size", 0))
    n_layers = int(c.get("num_hidden_layers", 0))
    inter = int(c.get("intermediate_size", 4 * d) or 4 * d)
    vocab = int(c.get("vocab_size", 32000))
    return n_layers * (4 * d * d + 3 * d * inter) + 2 * vocab * d, d, n_layers


def _weight_bytes(folder, suffixes=_WEIGHT_SUFFIXES):
    """Bytes of the weight files in `folder` (0 when it holds none or does not exist)."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    return sum(p.stat().st_size for p in folder.iterdir() if p.suffix in suffixes)


def _grown(mem, minutes, attempt):
    """(mem_mb, runtime) of a job's `attempt`: a retried job gets half its memory again and
    its whole wall time again per retry."""
    grow = 1 + 0.5 * (attempt - 1)
    return int(math.ceil(mem * grow)), int(math.ceil(minutes * attempt))


def _prepared_config(run):
    """config.json of the run's prepared model, or None while it is not prepared yet."""
    try:
        output = rules.prepare_model.output
    except (AttributeError, KeyError):
        return None
    if "config" in output.keys():
        path = Path(_expand(output.config, run=run)[0])
    else:  # the prepared folder itself
        path = Path(_expand(output.model, run=run)[0]) / "config.json"
    return path if path.is_file() else None


def model_shape(run):
    """(parameters, d, L) of a run: measured from the prepared folder when it exists,
    else estimated from the config entry (hub id such as '...-8B', literal config)."""
    cfg_path = _prepared_config(run)
    if cfg_path is not None:
        cfg = json.loads(cfg_path.read_text())
        params, d, n_layers = _params_from_hf_config(cfg)
        weight_bytes = _weight_bytes(cfg_path.parent)
        if weight_bytes:
            params = weight_bytes / 4  # prepared folders hold float32 weights
        return params, d, n_layers
    spec = config["runs"][run]
    if spec.get("source") == "init":
        if "config" in spec:
            return _params_from_hf_config(spec["config"])
        return model_shape(spec["base"])
    params = None
    if spec.get("source") == "hf":
        params = _size_from_name(spec["model_id"])
    params = params or 1e9
    # Widths of the usual sizes; only the d^2 and d^3 terms below need them.
    d = 4096 if params >= 5e9 else 2560 if params >= 2e9 else 2048
    n_layers = 32 if params >= 5e9 else 28
    return params, d, n_layers


def _needs(kind, run, attempt):
    """(mem_mb, runtime_minutes) for one job of class `kind` on `run`."""
    params, d, n_layers = model_shape(run)
    n = int(config["corpus"]["n_samples"])
    mib = 2**20
    weights = 4 * params / mib  # float32 weights
    acts = n * 2 * n_layers * d * 4 / mib  # activations.npy
    dense = d * d * 8 / mib  # one float64 d x d matrix
    w = d / 4096  # width relative to the paper's 7-8B models
    if kind == "prepare":
        mem, minutes = 2.5 * weights + 2000, 20 + 2 * weights / 1024
    elif kind == "gpu_forward":
        mem, minutes = 1.5 * weights + acts + 4000, 15 + n * params / 1e9 * 0.01
    elif kind in ("gpu_jacobian", "gpu_layer"):
        # Host memory holds what the job holds there: the whole model while it is read and moved
        # to the device (from_pretrained reads float32 weights to the host first), or, for a
        # single-token layer job, one layer read straight to the device; plus one batch of
        # Jacobians in float32 and float64 with the float64 recompute (the job's working set
        # when it runs on a CPU) and the memory-mapped activations.
        spec = config["runs"].get(run, {})
        protocol = spec.get("protocol", "single_token")
        whole = kind == "gpu_jacobian" or protocol != "single_token"
        # one layer's weights and their float64 copy
        layer = 3 * weights / max(n_layers, 1)
        held = weights if whole else layer
        batch = int(config.get("jacobians", {}).get("batch_size", 32))
        mem = held + acts + batch * (4 + 8 + 8) * d * d / mib + 4000
        minutes = 15 + n * (0.02 * w**2 + 0.03 * w**3)
    elif kind == "cpu_dense":
        mem = 2 * acts + 60 * dense + 2000
        minutes = 30 + n_layers * 5 * w**3
    elif kind == "cpu_schur":
        schur, cum = config["schur"], config["cumulative"]
        doses, draws = len(schur.get("doses", range(7))), schur.get("draws", 4)
        held = doses * (1 + 2 * draws)  # products alive at once
        # complex128 products: two float64 planes, d x d (exact) or d x 2K factors (truncated)
        exact = cum.get("method", "exact") == "exact"
        planes = 2 if exact else 2 * min(1, 2 * cum.get("rank", 512) / d)
        mem = 2000 + (20 + held * planes) * dense
        minutes = 30 + n_layers * 15 * w**3
    elif kind == "light":
        mem, minutes = 2000 + 2 * acts, 30
    else:
        raise ValueError(f"resource class {kind!r}: use one of {RESOURCE_CLASSES}")
    return _grown(mem, minutes, attempt)


def _largest_run():
    return max(RUNS, key=lambda r: model_shape(r)[0])


def job_resources(kind, repeats=1):
    """Resource functions {mem_mb, runtime} for a rule of class `kind`.

    A job that does `repeats` units of the class one after another (several Jacobian
    layers) needs the memory of one and `repeats` times the wall time.

    Rules with a {run} wildcard are sized for that run; rules over all runs (combined
    tables, figures) for the largest run."""
    if kind not in RESOURCE_CLASSES:
        raise ValueError(f"resource class {kind!r}: use one of {RESOURCE_CLASSES}")

    def _run(wildcards):
        return wildcards.run if hasattr(wildcards, "run") else _largest_run()

    return {
        "mem_mb": lambda wildcards, attempt: _needs(kind, _run(wildcards), attempt)[0],
        "runtime": lambda wildcards, attempt: repeats
        * _needs(kind, _run(wildcards), attempt)[1],
    }


# -- the loop study (rules/loops.smk): loop models by name ({model}), sized from their
# parameters and the job's tangent steps.
LOOP_JOB_KINDS = ("prepare", "spectrum", "attribution", "cosine", "checkpoint")
_LOOP_DEFAULT_PARAMS = {"ouro": 1.4e9, "huginn": 3.5e9}  # the two published models


def loop_params(name):
    """Parameters of loop model `name`: from the folder's safetensors once present (published
    as bf16), else from the hub id ('Ouro-1.4B'), else the architecture's published model.
    """
    spec = config["loops"]["models"][name]
    return (
        _weight_bytes(loop_model_dir(name), (".safetensors",)) / 2
        or _size_from_name(spec.get("model_id", ""))
        or _LOOP_DEFAULT_PARAMS[spec["arch"]]
    )


def _loop_work(kind):
    """Tangent-steps of a job: prompts x loop steps x probes (the JVP batch)."""
    loops = config["loops"]
    if kind == "spectrum":
        s = loops["spectrum"]
        return loops["prompts"]["n"] * s["loop_steps"] * s["k"]
    if kind == "attribution":
        a = loops["attribution"]
        return 2 * loops["prompts"]["n"] * a["loop_steps"] * max(a["k"], a["heatmap_k"])
    if kind == "cosine":
        return loops["prompts"]["n"] * loops["cosine"]["loops"]
    if kind == "checkpoint":
        c = loops["checkpoints"]
        return c["n_prompts"] * c["loop_steps"]
    raise ValueError(f"loop job kind {kind!r}: use one of {LOOP_JOB_KINDS}")


def _loop_needs(kind, model, attempt):
    """(mem_mb, runtime_minutes) for one loop-study job of `kind` on loop model `model`."""
    params = loop_params(model)
    if kind == "prepare":  # a download: the time grows with the weights
        mem, minutes = 4000, 30 + 10 * params / 1e9
    else:  # a GPU job: float32 weights in host memory; time ~ parameters x tokens x steps
        weights = 4 * params / 2**20
        gflop = params / 1e9
        mem = 2.5 * weights + 4000
        minutes = 20 + 2e-4 * gflop * config["loops"]["max_tokens"] * _loop_work(kind)
    return _grown(mem, minutes, attempt)


def loop_resources(kind):
    """Resource functions {mem_mb, runtime} for a loop-study rule of `kind` on model {model}."""
    if kind not in LOOP_JOB_KINDS:
        raise ValueError(f"loop job kind {kind!r}: use one of {LOOP_JOB_KINDS}")
    return {
        "mem_mb": lambda wildcards, attempt: _loop_needs(
            kind, wildcards.model, attempt
        )[0],
        "runtime": lambda wildcards, attempt: _loop_needs(
            kind, wildcards.model, attempt
        )[1],
    }
