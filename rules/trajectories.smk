# Token trajectories during generation: ct_t per generated token, regimes,
# variance shares, collapse episodes. Generation is a GPU rule (one job per run); the
# statistics pool the runs (normalisation per run; regimes at the config's fixed thresholds,
# recounted over a grid of them in trajectory_regime_sensitivity).
TRAJ = config["token_trajectories"]
# default: every run that is not a declared null (`null_of`: random weights would set the pooled thresholds)
# ([]: the stage is off)
TRAJ_RUNS = (
    [r for r in RUNS if r not in NULL_RUNS]
    if TRAJ.get("runs") is None
    else list(TRAJ["runs"])
)
TRAJECTORY_TABLES = [
    "trajectory_tokens",
    "trajectory_summary",
    "trajectory_regimes",
    "trajectory_regime_sensitivity",
    "trajectory_variance",
    "trajectory_collapse",
]
if TRAJ_RUNS:
    ALL_TABLES += TRAJECTORY_TABLES
    ALL_FIGURES += ["trajectory_phase_map", "trajectory_traces"]


rule trajectory_generate:
    input:
        model="resources/models/{run}",
    output:
        table="results/{run}/tables/trajectory_tokens.csv",
    log:
        "logs/trajectories/generate_{run}.log",
    benchmark:
        "benchmarks/out/trajectories/generate_{run}.tsv"
    conda:
        "../envs/gpu.yaml"
    resources:
        **job_resources("gpu_jacobian"),
    params:
        traj={
            k: v
            for k, v in TRAJ.items()
            if k not in ("clip", "spike", "regimes", "collapse", "runs")
        },
        bos=lambda wc: config["runs"][wc.run].get("bos", "auto"),
    script:
        "../scripts/trajectory_generate.py"


rule trajectory_statistics:
    input:
        expand("results/{run}/tables/trajectory_tokens.csv", run=TRAJ_RUNS),
    output:
        **{
            name.removeprefix("trajectory_"): table_file(name)
            for name in TRAJECTORY_TABLES
        },
    log:
        "logs/trajectories/statistics.log",
    benchmark:
        "benchmarks/out/trajectories/statistics.tsv"
    conda:
        "../envs/graph.yaml"
    params:
        clip=TRAJ["clip"],
        spike=TRAJ["spike"],
        regimes=TRAJ["regimes"],
        collapse=TRAJ["collapse"],
    script:
        "../scripts/trajectory_statistics.py"


rule fig_trajectories:
    input:
        tokens=table_file("trajectory_tokens"),
        regimes=table_file("trajectory_regimes"),
    output:
        phase=figure_files("trajectory_phase_map"),
        traces=figure_files("trajectory_traces"),
    log:
        "logs/figures/fig_trajectories.log",
    benchmark:
        "benchmarks/out/figures/fig_trajectories.tsv"
    conda:
        "../envs/plot.yaml"
    script:
        "../scripts/fig_trajectories.py"
