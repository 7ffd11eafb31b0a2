# Loop transformers as the loop paper (anonymous 2026) measures them: Ouro and Huginn as iterated maps,
# their Benettin spectra over loop steps, per-sublayer attribution, cross-loop cosine
# similarity and lambda_1 across a checkpoint series. Off unless the config has `loops`;
# config/loops.yaml runs it alone (no `runs`: the decoder pipeline is not included).


from resdyn.loops.config import check_loops_config, needs_corpus

# rules/common.smk sets up the import path and the canonical config and holds the models'
# folders (loop_model_dir); rules/resources.smk sizes the jobs (loop_params, loop_resources).
LOOPS = config.get("loops")
if not LOOPS and "runs" not in config:
    raise ValueError(
        "the config has neither `runs` (the decoder pipeline) nor `loops` (the loop study)"
    )

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
# the loop study's own `all` (config/loops.yaml); with the decoder pipeline, its `all` reads
# ALL_TABLES and ALL_FIGURES
LOOP_TARGETS = [table_file(t) for t in LOOP_TABLES] + [
    path for f in LOOP_FIGURES for path in figure_paths(f)
]
ALL_TABLES += LOOP_TABLES
ALL_FIGURES += LOOP_FIGURES


# the corpus rows the prompts take, where the prompts are not all listed in the config
LOOP_PROMPT_INPUTS = (
    {"corpus": "results/corpus/samples.jsonl"} if LOOPS and needs_corpus(LOOPS) else {}
)

LOOP_PARAMS = dict(
    dtype=lambda wc: LOOPS["dtype"],
    loop_state=lambda wc: LOOPS["loop_state"],
    max_tokens=lambda wc: LOOPS["max_tokens"],
    init_seed=lambda wc: LOOPS["init_seed"],
    spec=lambda wc: LOOP_MODELS[wc.model],
)


rule loop_prepare:
    """Download a hub loop model (config, safetensors, tokenizer) at its revision."""
    output:
        model=directory("resources/loop_models/{model}"),
    log:
        "logs/loops/prepare_{model}.log",
    benchmark:
        "benchmarks/out/loops/prepare_{model}.tsv"
    wildcard_constraints:
        model=names_regex([n for n, s in LOOP_MODELS.items() if s["source"] == "hf"]),
    conda:
        "../envs/gpu.yaml"
    resources:
        **loop_resources("prepare"),
    params:
        spec=lambda wc: LOOP_MODELS[wc.model],
    script:
        "../scripts/loop_prepare.py"


rule loop_prompts:
    input:
        **LOOP_PROMPT_INPUTS,
    output:
        table="results/tables/loop_prompts.csv",
    log:
        "logs/loops/prompts.log",
    benchmark:
        "benchmarks/out/loops/prompts.tsv"
    conda:
        "../envs/gpu.yaml"
    params:
        prompts=lambda wc: LOOPS["prompts"],
    script:
        "../scripts/loop_prompts.py"


rule loop_spectrum:
    input:
        model=loop_model_input,
        prompts="results/tables/loop_prompts.csv",
    output:
        spectrum="results/loops/{model}/loop_spectrum.csv",
        convergence="results/loops/{model}/loop_convergence.csv",
    log:
        "logs/loops/spectrum_{model}.log",
    benchmark:
        "benchmarks/out/loops/spectrum_{model}.tsv"
    wildcard_constraints:
        model=names_regex(LOOP_STUDY),
    conda:
        "../envs/gpu.yaml"
    resources:
        **loop_resources("spectrum"),
    params:
        **LOOP_PARAMS,
        spectrum=lambda wc: LOOPS["spectrum"],
    script:
        "../scripts/loop_spectrum.py"


rule loop_attribution:
    input:
        model=loop_model_input,
        prompts="results/tables/loop_prompts.csv",
    output:
        attribution="results/loops/{model}/loop_attribution.csv",
        directions="results/loops/{model}/loop_directions.csv",
    log:
        "logs/loops/attribution_{model}.log",
    benchmark:
        "benchmarks/out/loops/attribution_{model}.tsv"
    wildcard_constraints:
        model=names_regex(LOOP_STUDY),
    conda:
        "../envs/gpu.yaml"
    resources:
        **loop_resources("attribution"),
    params:
        **LOOP_PARAMS,
        attribution=lambda wc: LOOPS["attribution"],
    script:
        "../scripts/loop_attribution.py"


rule loop_cosine:
    input:
        model=loop_model_input,
        prompts="results/tables/loop_prompts.csv",
    output:
        cosine="results/loops/{model}/loop_cosine.csv",
    log:
        "logs/loops/cosine_{model}.log",
    benchmark:
        "benchmarks/out/loops/cosine_{model}.tsv"
    wildcard_constraints:
        model=names_regex(LOOP_STUDY),
    conda:
        "../envs/gpu.yaml"
    resources:
        **loop_resources("cosine"),
    params:
        **LOOP_PARAMS,
        loops=lambda wc: LOOPS["cosine"]["loops"],
    script:
        "../scripts/loop_cosine.py"


rule loop_checkpoint:
    input:
        model=loop_model_input,
        prompts="results/tables/loop_prompts.csv",
    output:
        table="results/loops/{model}/loop_checkpoint.csv",
    log:
        "logs/loops/checkpoint_{model}.log",
    benchmark:
        "benchmarks/out/loops/checkpoint_{model}.tsv"
    wildcard_constraints:
        model=names_regex([s["model"] for s in LOOP_SERIES]),
    conda:
        "../envs/gpu.yaml"
    resources:
        **loop_resources("checkpoint"),
    params:
        **LOOP_PARAMS,
        checkpoints=lambda wc: {
            k: v for k, v in LOOPS["checkpoints"].items() if k != "series"
        },
        entry=lambda wc: next(s for s in LOOP_SERIES if s["model"] == wc.model),
    script:
        "../scripts/loop_checkpoint.py"


rule loop_combine:
    input:
        lambda wc: (
            expand(
                "results/loops/{model}/loop_checkpoint.csv",
                model=[s["model"] for s in LOOP_SERIES],
            )
            if wc.table == "loop_checkpoints"
            else expand(
                "results/loops/{model}/{table}.csv", model=LOOP_STUDY, table=wc.table
            )
        ),
    output:
        "results/tables/{table}.csv",
    log:
        "logs/loops/combine_{table}.log",
    benchmark:
        "benchmarks/out/loops/combine_{table}.tsv"
    wildcard_constraints:
        table=names_regex(LOOP_PER_MODEL + ["loop_checkpoints"]),
    conda:
        "../envs/graph.yaml"
    script:
        "../scripts/loop_combine.py"


if LOOPS:

    rule fig_loops:
        input:
            **{t: f"results/tables/{t}.csv" for t in LOOP_TABLES if t != "loop_prompts"},
        output:
            **{f: figure_files(f, subcategory="loops") for f in LOOP_FIGURES},
        log:
            "logs/figures/fig_loops.log",
        benchmark:
            "benchmarks/out/figures/fig_loops.tsv"
        conda:
            "../envs/plot.yaml"
        script:
            "../scripts/fig_loops.py"
