# Checkpoint series: each declared series of runs in training order
# (`checkpoint_series`, never parsed from run names), its headline findings gathered from the
# other stages' tables into checkpoint_series.csv and drawn against training step (the paper's
# Fig. 7d generalised). With no series declared nothing here enters `all`.
# Included after the stages whose tables it reads and before the scorecard, which reads it.
from resdyn.core.run_roles import declared_series

CHECKPOINT_SERIES = declared_series(config.get("checkpoint_series"), config["runs"])
CHECKPOINT_SERIES_SOURCES = [
    "layer_spectra",
    "table2_self_alignment",
    "cumulative_summary",
    "coupling",
    "coupling_summary",
    "mesoscale",
]


# the rules exist only where a series is declared (so `figures` redraws every figure rule)
if CHECKPOINT_SERIES:
    ALL_TABLES += ["checkpoint_series"]
    ALL_FIGURES += ["checkpoint_series"]

    rule checkpoint_series_table:
        input:
            **{name: table_file(name) for name in CHECKPOINT_SERIES_SOURCES},
        output:
            table_file("checkpoint_series"),
        log:
            "logs/checkpoint_series_table.log",
        benchmark:
            "benchmarks/out/checkpoint_series_table.tsv"
        conda:
            "../envs/graph.yaml"
        resources:
            **job_resources("light"),
        params:
            series=CHECKPOINT_SERIES,
            method=PRIMARY_METHOD,
            column_norm=COLUMN_NORM,
        script:
            "../scripts/checkpoint_series_table.py"

    rule fig_checkpoint_series:
        input:
            table_file("checkpoint_series"),
        output:
            figure_files("checkpoint_series"),
        log:
            "logs/figures/checkpoint_series.log",
        benchmark:
            "benchmarks/out/figures/checkpoint_series.tsv"
        conda:
            "../envs/plot.yaml"
        resources:
            **job_resources("light"),
        params:
            null_runs=NULL_RUNS,
        script:
            "../scripts/fig_checkpoint_series.py"
