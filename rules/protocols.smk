# How much the paper's single-token simplification moves its findings: one trained run's
# Jacobians recomputed in both protocols on the same first samples (protocol_comparison.run,
# .n_samples), each protocol through the main stages' own table code, side by side.

import math

# PROTOCOL_RUN, PROTOCOL_NAMES, PROTOCOL_TABLES: rules/common.smk (the scorecard reads them too)
PROTOCOL_REPEATS = math.ceil(
    3
    * 42
    * config.get("protocol_comparison", {}).get("n_samples", 32)
    / config["corpus"]["n_samples"]
)


if PROTOCOL_RUN:
    ALL_TABLES += ["protocol_comparison", "cumulative_transport"]
    ALL_FIGURES += ["protocol_comparison", "cumulative_transport"]
    # E[J_{L-1} ... J_l] beside E[J_{L-1}] ... E[J_l], made with the protocol run's Jacobians
    PER_RUN_TABLES += ["cumulative_transport"]
    TABLE_RUNS["cumulative_transport"] = [PROTOCOL_RUN]

    rule protocol_tables:
        input:
            model="resources/models/{run}",
            corpus="results/corpus/samples.jsonl",
            partitions=expand(
                "results/{{run}}/communities/{method}.npz", method=COMMUNITY_METHODS
            ),
        output:
            **{
                f"{protocol}_{name}": f"results/{{run}}/protocols/{protocol}/{name}.csv"
                for protocol in PROTOCOL_NAMES
                for name in PROTOCOL_TABLES
            },
            relative_difference="results/{run}/protocols/relative_difference.csv",
            transport="results/{run}/tables/cumulative_transport.csv",
        log:
            "logs/protocol_tables/{run}.log",
        benchmark:
            "benchmarks/out/protocol_tables/{run}.tsv"
        conda:
            "../envs/gpu.yaml"
        threads: 1
        resources:
            # a GPU job (profiles/slurm-a100) holding the whole model; time: both protocols
            # (~2.6x one layer's Jacobians) over every layer (up to 42 in config/paper.yaml)
            # of n_samples of the corpus's N samples
            # plus the transport (resdyn.dynamics.transport): per protocol, L running d x d float64
            # sums and one sample's L Jacobians, 32 L d^2 bytes in all
            **dict(
                job_resources("gpu_jacobian", repeats=PROTOCOL_REPEATS),
                mem_mb=lambda wc, attempt: math.ceil(
                    job_resources("gpu_jacobian")["mem_mb"](wc, attempt)
                    + 32 * model_shape(wc.run)[2] * model_shape(wc.run)[1] ** 2 / 2**20
                ),
            ),
        params:
            n_samples=config.get("protocol_comparison", {}).get("n_samples", 32),
            precision=config["jacobians"].get("precision", "double"),
            bos=lambda wc: config["runs"][wc.run].get("bos", "auto"),
            methods=COMMUNITY_METHODS,
            k=config["spectra"]["k"],
            regime_bounds=config["spectra"]["regime_bounds"],
            regime_layers=lambda wc: config["runs"][wc.run].get("regime_layers"),
            cumulative=config["cumulative"],
            coupling=config["coupling"],
        script:
            "../scripts/protocol_tables.py"

    rule protocol_comparison:
        input:
            **{
                f"{protocol}_{name}": f"results/{PROTOCOL_RUN}/protocols/{protocol}/{name}.csv"
                for protocol in PROTOCOL_NAMES
                for name in ("layer_spectra", "cumulative", "coupling")
            },
            relative_difference=f"results/{PROTOCOL_RUN}/protocols/relative_difference.csv",
        output:
            table=table_file("protocol_comparison"),
            figure=figure_files("protocol_comparison"),
        log:
            "logs/protocol_comparison.log",
        benchmark:
            "benchmarks/out/protocol_comparison.tsv"
        conda:
            "../envs/plot.yaml"
        resources:
            **job_resources("light"),
        params:
            run=PROTOCOL_RUN,
            method=PRIMARY_METHOD,
            column_norm=COLUMN_NORM,
        script:
            "../scripts/protocol_comparison.py"

    # named as protocol_comparison, not fig_*: it exists only where protocol_comparison.run is set
    rule transport_figure:
        input:
            table=table_file("cumulative_transport"),
        output:
            figure=figure_files("cumulative_transport"),
        log:
            "logs/figures/cumulative_transport.log",
        benchmark:
            "benchmarks/out/figures/cumulative_transport.tsv"
        conda:
            "../envs/plot.yaml"
        resources:
            **job_resources("light"),
        script:
            "../scripts/fig_transport.py"
