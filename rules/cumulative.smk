# Cumulative products P_l = J_{L-1} ... J_l of the mean Jacobians (Appendix B):
# erank, log10 ||P||_F and saved spectra per run, Spearman erank vs rho(J_l), Figures 4 and S7.

ALL_TABLES += ["cumulative", "cumulative_summary", "cumulative_spectra"]
PER_RUN_TABLES += ["cumulative", "cumulative_summary", "cumulative_spectra"]

FIGURE_RUN = config["cumulative"].get("figure_run") or RUNS[0]
if FIGURE_RUN not in RUNS:
    raise ValueError(
        f"cumulative.figure_run = {FIGURE_RUN!r} is not a run; runs are {RUNS}"
    )
ALL_FIGURES += ["fig4_cumulative", "figS7_cumulative"]


rule cumulative:
    input:
        jacobians=jacobian_files,
        spectra="results/{run}/tables/layer_spectra.csv",
    output:
        table="results/{run}/tables/cumulative.csv",
        summary="results/{run}/tables/cumulative_summary.csv",
        spectra="results/{run}/tables/cumulative_spectra.csv",
    log:
        "logs/cumulative/{run}.log",
    benchmark:
        "benchmarks/out/cumulative/{run}.tsv"
    priority: PRIORITY["run_statistics"]
    conda:
        "../envs/graph.yaml"
    threads: 1
    resources:
        **job_resources("cpu_dense"),
    params:
        method=config["cumulative"].get("method", "exact"),
        rank=config["cumulative"].get("rank", 512),
    script:
        "../scripts/cumulative.py"


rule fig_cumulative:
    input:
        table=table_file("cumulative"),
        summary=table_file("cumulative_summary"),
        spectra=table_file("cumulative_spectra"),
    output:
        fig4=figure_files("fig4_cumulative"),
        figS7=figure_files("figS7_cumulative"),
    log:
        "logs/figures/cumulative.log",
    benchmark:
        "benchmarks/out/figures/cumulative.tsv"
    conda:
        "../envs/plot.yaml"
    params:
        figure_run=FIGURE_RUN,
    script:
        "../scripts/fig_cumulative.py"
