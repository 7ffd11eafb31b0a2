# Helpers of the loop-transformer study (rules/loops.smk): the loop models, their folders,
# the registries of loop tables and figures, and the jobs' resources.
import os
import re
import sys

LOOPS = config.get("loops")
LOOP_STUDY_ONLY = "runs" not in config

if LOOP_STUDY_ONLY:  # rules/common.smk does this when the decoder pipeline is included
    _paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    os.environ.update(
        PYTHONPATH=os.pathsep.join([workflow.basedir, *[p for p in _paths if p]])
    )
    sys.path.insert(0, workflow.basedir)
    from resdyn.core.config_checks import canonicalise_in_place

    canonicalise_in_place(config)
    LOOPS = config["loops"]

from resdyn.loops.config import check_loops_config, needs_corpus

LOOP_MODELS = dict(LOOPS["models"]) if LOOPS else {}
LOOP_STUDY = list(LOOPS["study"]) if LOOPS else []
LOOP_SERIES = list(LOOPS["checkpoints"]["series"]) if LOOPS else []
if LOOPS:
    check_loops_config(LOOPS)

# tables: results/tables/loop_{name}.csv, combined over models from results/loops/{model}/
LOOP_PER_MODEL = [
    "loop_spectrum",
    "loop_convergence",
    "loop_attribution",
    "loop_cosine",
]
if LOOPS and LOOPS["attribution"]["heatmap_k"] > 0:
    LOOP_PER_MODEL.append("loop_directions")
LOOP_TABLES = (
    (LOOP_PER_MODEL + ["loop_prompts"] + (["loop_checkpoints"] if LOOP_SERIES else []))
    if LOOPS
    else []
)
LOOP_FIGURES = (
    ["loop_spectrum", "loop_state_change", "loop_attribution", "loop_cosine"]
    + (["loop_directions"] if "loop_directions" in LOOP_PER_MODEL else [])
    + (["loop_checkpoints"] if LOOP_SERIES else [])
    if LOOPS
    else []
)
LOOP_TARGETS = [f"results/tables/{t}.csv" for t in LOOP_TABLES] + [
    f"results/figures/{f}.{ext}" for f in LOOP_FIGURES for ext in ("png", "pdf")
]
if not LOOP_STUDY_ONLY:
    ALL_TABLES += LOOP_TABLES
    ALL_FIGURES += LOOP_FIGURES


def _names_regex(names):
    return "|".join(re.escape(n) for n in names) if names else "(?!)"


def loop_model_dir(name):
    """A local model's own folder, or where loop_prepare puts a hub model."""
    spec = LOOP_MODELS[name]
    if spec["source"] == "local":
        return spec["path"]
    return f"resources/loop_models/{name}"


def loop_model_input(wildcards):
    return loop_model_dir(wildcards.model)


def loop_prompt_inputs(wildcards):
    return (
        {"corpus": "results/corpus/samples.jsonl"}
        if LOOPS and needs_corpus(LOOPS)
        else {}
    )


def loop_figure_files(name):
    png = report(
        f"results/figures/{name}.png",
        caption=os.path.join(workflow.basedir, "report", f"{name}.rst"),
        category="Figures",
        subcategory="loops",
    )
    return [png, f"results/figures/{name}.pdf"]


# -- resources: same conventions as rules/resources.smk (mem_mb, runtime in minutes,
# growing with `attempt`), sized from the model's parameters and the job's work.
_LOOP_DEFAULT_PARAMS = {"ouro": 1.4e9, "huginn": 3.5e9}  # the two published models


def loop_params(name):
    """Parameters: from the folder's safetensors once present, else from the hub id
    ('Ouro-1.4B'), else the architecture's published model."""
    folder = loop_model_dir(name)
    if os.path.isdir(folder):
        sizes = [
            os.path.getsize(os.path.join(folder, f))
            for f in os.listdir(folder)
            if f.endswith(".safetensors")
        ]
        if sizes:
            return sum(sizes) / 2  # published as bf16
    hits = re.findall(
        r"(?<![\d.])(\d+(?:\.\d+)?)([bm])(?![a-z])",
        LOOP_MODELS[name].get("model_id", "").lower(),
    )
    if hits:
        value, unit = hits[-1]
        return float(value) * (1e9 if unit == "b" else 1e6)
    return _LOOP_DEFAULT_PARAMS[LOOP_MODELS[name]["arch"]]


def loop_work(kind):
    """Tangent-steps of a job: prompts x loop steps x probes (the JVP batch)."""
    if kind == "spectrum":
        s = LOOPS["spectrum"]
        return LOOPS["prompts"]["n"] * s["loop_steps"] * s["k"]
    if kind == "attribution":
        a = LOOPS["attribution"]
        return 2 * LOOPS["prompts"]["n"] * a["loop_steps"] * max(a["k"], a["heatmap_k"])
    if kind == "cosine":
        return LOOPS["prompts"]["n"] * LOOPS["cosine"]["loops"]
    if kind == "checkpoint":
        c = LOOPS["checkpoints"]
        return c["n_prompts"] * c["loop_steps"]
    raise ValueError(kind)


def loop_resources(kind):
    """{mem_mb, runtime} functions for a GPU job of `kind` on model {model}."""

    def mem(wildcards, attempt):
        weights = 4 * loop_params(wildcards.model) / 2**20  # float32 MiB
        return int((2.5 * weights + 4000) * (1 + 0.5 * (attempt - 1)))

    def runtime(wildcards, attempt):
        gflop = loop_params(wildcards.model) / 1e9
        return int(
            (20 + 2e-4 * gflop * LOOPS["max_tokens"] * loop_work(kind)) * attempt
        )

    return {"mem_mb": mem, "runtime": runtime}
