# Per-layer spectral geometry of the mean Jacobians, its regime summaries, and their
# figures (1, 2, 3 and S6).

ALL_TABLES += ["layer_spectra", "regime_means", "table2_self_alignment"]
PER_RUN_TABLES += ["layer_spectra"]
ALL_FIGURES += expand("fig1_eigenvalues_{run}", run=RUNS)
ALL_FIGURES += [
    "fig2_profiles",
    "fig2_regimes",
    "fig3_nonnormality",
    "fig3_regimes",
    "figS6_forward_alignment",
]


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


rule fig_eigenvalues:
    input:
        "results/{run}/eigenvalues.npz",
    output:
        figure_files("fig1_eigenvalues_{run}"),
    log:
        "logs/figures/fig1_eigenvalues_{run}.log",
    benchmark:
        "benchmarks/out/figures/fig1_eigenvalues_{run}.tsv"
    conda:
        "../envs/plot.yaml"
    script:
        "../scripts/fig_eigenvalues.py"


rule fig_layer_profiles:
    input:
        table=table_file("layer_spectra"),
        means=table_file("regime_means"),
    output:
        profiles=figure_files("fig2_profiles"),
        regimes=figure_files("fig2_regimes"),
        nonnormality=figure_files("fig3_nonnormality"),
        nonnormality_regimes=figure_files("fig3_regimes"),
        forward=figure_files("figS6_forward_alignment"),
    log:
        "logs/figures/fig_layer_profiles.log",
    benchmark:
        "benchmarks/out/figures/fig_layer_profiles.tsv"
    conda:
        "../envs/plot.yaml"
    script:
        "../scripts/fig_layer_profiles.py"
