# Topology-dynamics coupling (paper §3.2-3.3, Appendix A.5, D): mesoscale variance captured,
# rate-level coupling, boundary-unit amplification, and Figures 7, 8, S9.
# Inputs: communities (rules/graphs.smk), Jacobian files, layer_spectra.

ALL_TABLES += ["coupling", "mesoscale", "rate_coupling", "coupling_summary"]
PER_RUN_TABLES += ["coupling", "mesoscale", "rate_coupling", "coupling_summary"]
ALL_FIGURES += [
    "fig7_boundary_coupling",
    "fig8_selfalignment_coupling",
    "figS9_mesoscale",
]

COUPLING_TABLES = ["coupling", "mesoscale", "rate_coupling", "coupling_summary"]


rule coupling_tests:
    input:
        partitions=expand(
            "results/{{run}}/communities/{method}.npz", method=COMMUNITY_METHODS
        ),
        jacobians=jacobian_files,
        spectra="results/{run}/tables/layer_spectra.csv",
    output:
        **{name: f"results/{{run}}/tables/{name}.csv" for name in COUPLING_TABLES},
        units="results/{run}/coupling/units.npz",
    log:
        "logs/coupling_tests/{run}.log",
    benchmark:
        "benchmarks/out/coupling_tests/{run}.tsv"
    priority: PRIORITY["run_statistics"]
    conda:
        "../envs/graph.yaml"
    resources:
        **job_resources("cpu_dense"),
    params:
        methods=COMMUNITY_METHODS,
        tail_fraction=config["coupling"].get("tail_fraction", 0.1),
        n_perm_rate=config["coupling"].get("n_perm_rate", 10000),
        n_perm_units=config["coupling"].get("n_perm_units", 5000),
        n_random_partitions=config["coupling"].get("n_random_partitions", 100),
        alpha=config["coupling"].get("alpha", 0.05),
        seed=config["coupling"].get("seed", 0),
        column_norm=COLUMN_NORM,
        tail_ties=config["coupling"].get("tail_ties", "include"),
    script:
        "../scripts/coupling_tests.py"


_FIG_COMMON = dict(
    runs=RUNS,
    method=PRIMARY_METHOD,
    null_runs=NULL_RUNS,
    null_of=NULL_OF,
    column_norm=COLUMN_NORM,
    regime_bounds=config["spectra"].get("regime_bounds", [0.15625, 0.625]),
    regime_layers={r: config["runs"][r].get("regime_layers") for r in RUNS},
)


rule fig_coupling:
    input:
        coupling=table_file("coupling"),
        summary=table_file("coupling_summary"),
        mesoscale=table_file("mesoscale"),
        rate=table_file("rate_coupling"),
        units=expand("results/{run}/coupling/units.npz", run=RUNS),
    output:
        fig7=figure_files("fig7_boundary_coupling"),
        fig8=figure_files("fig8_selfalignment_coupling"),
        figS9=figure_files("figS9_mesoscale"),
    log:
        "logs/figures/fig_coupling.log",
    benchmark:
        "benchmarks/out/figures/fig_coupling.tsv"
    conda:
        "../envs/plot.yaml"
    resources:
        **job_resources("light"),
    params:
        **_FIG_COMMON,
    script:
        "../scripts/fig_coupling.py"
