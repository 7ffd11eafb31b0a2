# Lyapunov exponents through depth and through loops: FTLE profiles,
# Benettin spectra, per-sublayer attribution, attention products, bridge statistics.

LYAPUNOV = config["lyapunov"]
# lyapunov.runs: the runs measured (null: every run; []: the stage is off)
LYAPUNOV_RUNS = RUNS if LYAPUNOV.get("runs") is None else list(LYAPUNOV["runs"])
LYAPUNOV_RUN_TABLES = [
    "lyapunov_ftle",
    "lyapunov_ftle_profile",
    "lyapunov_spectrum",
    "lyapunov_convergence",
    "lyapunov_attribution",
    "lyapunov_attention",
]
PER_RUN_TABLES += LYAPUNOV_RUN_TABLES
TABLE_RUNS.update({name: LYAPUNOV_RUNS for name in LYAPUNOV_RUN_TABLES})
if LYAPUNOV_RUNS:
    ALL_TABLES += LYAPUNOV_RUN_TABLES
    ALL_FIGURES += [
        "lyapunov_ftle_profiles",
        "lyapunov_loop_convergence",
        "lyapunov_attribution",
        "lyapunov_attention",
    ]
    if LYAPUNOV["bridge"]["outcomes"]:
        ALL_TABLES += ["lyapunov_bridge"]

LYAPUNOV_INPUTS = dict(
    model="resources/models/{run}", corpus="results/corpus/samples.jsonl"
)


rule lyapunov_ftle:
    input:
        **LYAPUNOV_INPUTS,
    output:
        table="results/{run}/tables/lyapunov_ftle.csv",
        profile="results/{run}/tables/lyapunov_ftle_profile.csv",
    log:
        "logs/lyapunov/ftle_{run}.log",
    benchmark:
        "benchmarks/out/lyapunov/ftle_{run}.tsv"
    conda:
        "../envs/gpu.yaml"
    resources:
        **job_resources("gpu_jacobian"),
    params:
        n_samples=LYAPUNOV["n_samples"],
        max_tokens=LYAPUNOV["max_tokens"],
        position=LYAPUNOV["position"],
        span_tokens=LYAPUNOV["span_tokens"],
        ftle=LYAPUNOV["ftle"],
        bos=lambda wc: config["runs"][wc.run].get("bos", "auto"),
    script:
        "../scripts/lyapunov_ftle.py"


rule lyapunov_spectrum:
    input:
        **LYAPUNOV_INPUTS,
    output:
        table="results/{run}/tables/lyapunov_spectrum.csv",
        convergence="results/{run}/tables/lyapunov_convergence.csv",
    log:
        "logs/lyapunov/spectrum_{run}.log",
    benchmark:
        "benchmarks/out/lyapunov/spectrum_{run}.tsv"
    conda:
        "../envs/gpu.yaml"
    resources:
        **job_resources("gpu_jacobian"),
    params:
        max_tokens=LYAPUNOV["max_tokens"],
        spectrum=LYAPUNOV["spectrum"],
        bos=lambda wc: config["runs"][wc.run].get("bos", "auto"),
    script:
        "../scripts/lyapunov_spectrum.py"


rule lyapunov_attribution:
    input:
        **LYAPUNOV_INPUTS,
    output:
        table="results/{run}/tables/lyapunov_attribution.csv",
    log:
        "logs/lyapunov/attribution_{run}.log",
    benchmark:
        "benchmarks/out/lyapunov/attribution_{run}.tsv"
    conda:
        "../envs/gpu.yaml"
    resources:
        **job_resources("gpu_jacobian"),
    params:
        max_tokens=LYAPUNOV["max_tokens"],
        attribution=LYAPUNOV["attribution"],
        loop_final_norm=LYAPUNOV["spectrum"]["loop_final_norm"],
        bos=lambda wc: config["runs"][wc.run].get("bos", "auto"),
    script:
        "../scripts/lyapunov_attribution.py"


rule lyapunov_attention:
    input:
        **LYAPUNOV_INPUTS,
    output:
        table="results/{run}/tables/lyapunov_attention.csv",
    log:
        "logs/lyapunov/attention_{run}.log",
    benchmark:
        "benchmarks/out/lyapunov/attention_{run}.tsv"
    conda:
        "../envs/gpu.yaml"
    resources:
        **job_resources("gpu_jacobian"),
    params:
        attention=LYAPUNOV["attention"],
        bos=lambda wc: config["runs"][wc.run].get("bos", "auto"),
    script:
        "../scripts/lyapunov_attention.py"


rule lyapunov_bridge:
    input:
        ftle=table_file("lyapunov_ftle"),
        outcomes=LYAPUNOV["bridge"]["outcomes"] or [],
    output:
        table=table_file("lyapunov_bridge"),
    log:
        "logs/lyapunov/bridge.log",
    benchmark:
        "benchmarks/out/lyapunov/bridge.tsv"
    conda:
        "../envs/gpu.yaml"
    params:
        bridge=LYAPUNOV["bridge"],
    script:
        "../scripts/lyapunov_bridge.py"


rule fig_lyapunov:
    input:
        profile=table_file("lyapunov_ftle_profile"),
        convergence=table_file("lyapunov_convergence"),
        attribution=table_file("lyapunov_attribution"),
        attention=table_file("lyapunov_attention"),
    output:
        profiles=figure_files("lyapunov_ftle_profiles"),
        convergence=figure_files("lyapunov_loop_convergence"),
        attribution=figure_files("lyapunov_attribution"),
        attention=figure_files("lyapunov_attention"),
    log:
        "logs/figures/fig_lyapunov.log",
    benchmark:
        "benchmarks/out/figures/fig_lyapunov.tsv"
    conda:
        "../envs/plot.yaml"
    script:
        "../scripts/fig_lyapunov.py"
