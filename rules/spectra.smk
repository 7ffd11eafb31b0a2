# Per-layer spectral geometry of the mean Jacobians, and its regime summaries.

ALL_TABLES += ["layer_spectra", "regime_means", "table2_self_alignment"]
PER_RUN_TABLES += ["layer_spectra"]


rule spectra:
    input:
        jacobian_files,
    output:
        table="results/{run}/tables/layer_spectra.csv",
        eigenvalues="results/{run}/eigenvalues.npz",
    log:
        "logs/spectra/{run}.log",
    benchmark:
        "benchmarks/out/spectra/{run}.tsv"
    priority: PRIORITY["run_statistics"]
    conda:
        "../envs/graph.yaml"
    resources:
        **job_resources("cpu_dense"),
    params:
        k=config["spectra"]["k"],
        regime_bounds=config["spectra"]["regime_bounds"],
        regime_layers=lambda wc: config["runs"][wc.run].get("regime_layers"),
    script:
        "../scripts/spectra.py"


rule regime_tables:
    input:
        table_file("layer_spectra"),
    output:
        means=table_file("regime_means"),
        table2=table_file("table2_self_alignment"),
        table2_md="results/tables/table2_self_alignment.md",
    log:
        "logs/regime_tables.log",
    benchmark:
        "benchmarks/out/regime_tables.tsv"
    conda:
        "../envs/graph.yaml"
    script:
        "../scripts/regime_tables.py"
