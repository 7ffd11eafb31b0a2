# Shared helpers: the checkout on the import path, the config in canonical order; for the
# decoder pipeline also the run list and the names several stages read (null roles, community
# methods, the protocol comparison, Jacobian shards), layer counts (known once a model is
# prepared), and the registries of final tables and figures that `rule all` asks for.
# Included in both modes: with `runs` (the decoder pipeline, plus the loop study where `loops`
# is set) and without (config/loops.yaml: the loop study alone).
import json
import os
import re
import sys

# Scripts import resdyn from this checkout, also inside per-rule conda envs and cluster jobs
# (which inherit the environment), without installing the package there. The checkout goes
# first; whatever the user had on PYTHONPATH stays after it.
_user_pythonpath = [
    p
    for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if p and p != workflow.basedir
]
os.environ.update(PYTHONPATH=os.pathsep.join([workflow.basedir, *_user_pythonpath]))
sys.path.insert(0, workflow.basedir)

from resdyn.core.config_checks import (
    canonicalise_in_place,
    check_config,
    check_prepared_model,
    check_width,
    declared_layers,
)
from resdyn.core.run_roles import null_of, null_runs

# Every mapping of the config in sorted key order, at every level: a config that differs
# only in key order gives every rule the same params (Snakemake compares their repr, key
# order included), so it reruns nothing. Runs are therefore taken in name order
# (combined tables' rows, figure panels), not in the order the config lists them.
canonicalise_in_place(config)

if "runs" in config:  # the decoder pipeline
    RUNS = list(config["runs"])
    check_config(config)

    # Declared null roles (runs.<name>.null_of), for every stage that sets a null apart
    NULL_OF = null_of(config["runs"])  # {trained run: its null run}
    NULL_RUNS = null_runs(config["runs"])

    # Community methods (rules/graphs.smk); the first is the one figures and findings show
    COMMUNITY_METHODS = list(config["communities"]["methods"])
    PRIMARY_METHOD = COMMUNITY_METHODS[0]  # the paper's: signed_cpm
    # Test 3's column norm that the coupling summaries count (coupling.csv holds both)
    COLUMN_NORM = config["coupling"].get("column_norm", "mean_jacobian")

    # The protocol comparison (rules/protocols.smk): one run's tables in both protocols,
    # which the findings scorecard scores again
    PROTOCOL_RUN = config.get("protocol_comparison", {}).get("run")
    PROTOCOL_NAMES = ["single_token", "in_context"]
    PROTOCOL_TABLES = [
        "layer_spectra",
        "cumulative",
        "cumulative_summary",
        "coupling",
        "coupling_summary",
        "rate_coupling",
        "mesoscale",
    ]

    # Jacobian shards (rules/jacobians.smk): one layer per job, or chunks of consecutive layers.
    LAYERS_PER_JOB = config["jacobians"].get("layers_per_job", 1)
    ONE_LAYER_PER_JOB = LAYERS_PER_JOB == 1
    JACOBIAN_SHARD = "layer_{layer}" if ONE_LAYER_PER_JOB else "layers_{first}-{last}"

    wildcard_constraints:
        run="|".join(RUNS),
        layer=r"\d+",
        name=r"[a-z0-9_]+",


# Each stage appends the names of the tables it produces (results/tables/{name}.csv,
# combined over runs from results/{run}/tables/{name}.csv) and of its figures
# (results/figures/{name}.png and .pdf).
# PER_RUN_TABLES lists the names that `combine_table` builds from per-run pieces.
ALL_TABLES = []
PER_RUN_TABLES = []
TABLE_RUNS = {}  # name -> the runs a per-run table combines, where not every run
ALL_FIGURES = []


# Local scheduling: among the jobs that are ready, Snakemake starts those of highest priority
# (clusters submit every ready job, so this matters on a laptop). The activations unblock
# the Jacobians; the Jacobians finish the runs one at a time (config order), so that each
# run's statistics (the Schur sweep is the longest job of a run) start while the next run's
# Jacobians go on, instead of all piling up at the end; everything else (Lyapunov
# exponents, which need only the model) keeps priority 0 and fills the idle cores.
PRIORITY = {"activations": 40, "run_statistics": 30, "jacobians": 10}


def jacobian_priority(wildcards):
    return PRIORITY["jacobians"] + len(RUNS) - RUNS.index(wildcards.run)


def model_config(run):
    """The prepared model's config.json (waits on the prepare_model checkpoint)."""
    folder = checkpoints.prepare_model.get(run=run).output.model
    with open(f"{folder}/config.json") as fh:
        cfg = json.load(fh)
    # A hub or GGUF model's width is known only once it is prepared: the keys it bounds are
    # checked then, when Snakemake plans the jobs that need the layer count.
    check_width(config, run, int(cfg.get("text_config", cfg)["hidden_size"]))
    return cfg


def n_layers(run):
    """The run's decoder layers: declared in the config (`runs.<run>.n_layers`, checked
    against the model when prepare_model writes it), so that a dry run plans the per-layer
    jobs; else read from the prepared model, which the plan then waits on."""
    declared = declared_layers(config["runs"], run)
    if declared is None:
        cfg = model_config(run)
        return int(cfg.get("text_config", cfg)["num_hidden_layers"])
    prepared = f"resources/models/{run}/config.json"
    if os.path.isfile(prepared):  # prepared earlier: the key may have changed since
        with open(prepared) as fh:
            check_prepared_model(config, run, json.load(fh))
    return declared


def jacobian_files(wildcards):
    return expand(
        "results/{run}/jacobians/layer_{layer:02d}.npz",
        run=wildcards.run,
        layer=range(n_layers(wildcards.run)),
    )


def layers_of_shard(wildcards):
    if ONE_LAYER_PER_JOB:
        return [int(wildcards.layer)]
    return list(range(int(wildcards.first), int(wildcards.last) + 1))


def layer_files_of_shard(wildcards, output):
    """Where the job writes each of its layers (the file itself, or files in the chunk folder)."""
    if ONE_LAYER_PER_JOB:
        return list(output)
    return [
        f"{output[0]}/layer_{layer:02d}.npz" for layer in layers_of_shard(wildcards)
    ]


def chunk_of_layer(wildcards):
    """The chunk folder that holds this layer: chunks start at multiples of layers_per_job."""
    layer = int(wildcards.layer)
    first = layer - layer % LAYERS_PER_JOB
    last = min(first + LAYERS_PER_JOB, n_layers(wildcards.run)) - 1
    return f"results/{wildcards.run}/jacobian_chunks/layers_{first:02d}-{last:02d}"


def table_file(name):
    return f"results/tables/{name}.csv"


def figure_paths(name):
    """PNG and PDF of a figure, as plain target paths."""
    return [f"results/figures/{name}.png", f"results/figures/{name}.pdf"]


def figure_files(name, subcategory=None):
    """PNG (shown in the Snakemake report, captioned by report/<stem>.rst) and PDF of a figure.

    <stem> is the name up to its first wildcard: fig1_eigenvalues_{run} -> fig1_eigenvalues;
    the report groups the figure under `subcategory` (default: the stem).
    """
    stem = name.split("_{")[0]
    png = report(
        f"results/figures/{name}.png",
        caption=os.path.join(workflow.basedir, "report", f"{stem}.rst"),
        category="Figures",
        subcategory=subcategory or stem,
    )
    return [png, f"results/figures/{name}.pdf"]


def loop_model_dir(name):
    """A loop model's folder (rules/loops.smk): a local model's own, or where loop_prepare puts
    a hub model. The loop rules read it, and so does the loop resource model."""
    spec = config["loops"]["models"][name]
    if spec["source"] == "local":
        return spec["path"]
    return f"resources/loop_models/{name}"


def loop_model_input(wildcards):
    return loop_model_dir(wildcards.model)


def names_regex(names):
    """A wildcard constraint that matches exactly `names` (none: matches nothing)."""
    return "|".join(re.escape(n) for n in names) if names else "(?!)"
