# Figures are drawn from tables and saved arrays alone; `snakemake figures` redraws them all.
from resdyn.core.run_roles import null_of, null_runs

# Declared null roles (runs.<name>.null_of), for every figure that sets a null apart
NULL_OF = null_of(config["runs"])  # {trained run: its null run}
NULL_RUNS = null_runs(config["runs"])

ALL_FIGURES += expand("fig1_eigenvalues_{run}", run=RUNS)
ALL_FIGURES += [
    "fig2_profiles",
    "fig2_regimes",
    "fig3_nonnormality",
    "fig3_regimes",
    "figS6_forward_alignment",
]


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
