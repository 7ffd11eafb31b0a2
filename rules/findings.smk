# The findings scorecard: each headline claim of the paper (resdyn/findings/claims.yaml), this
# run set's numbers and a verdict at the paper's strength and in its direction
# (resdyn/findings/). Included after every stage, so that ALL_TABLES is complete: the scorecard
# reads whichever of its tables this config produces and marks the claims of the others
# "not testable with these runs".
FINDINGS_TABLES = [
    "model_health",
    "layer_spectra",
    "table2_self_alignment",
    "cumulative",
    "cumulative_summary",
    "cumulative_transport",  # where the transport stage runs
    "schur_table3",
    "schur_dose",
    "communities",
    "community_nmi",
    "mesoscale",
    "coupling",
    "coupling_summary",
    "rate_coupling",
    "checkpoint_series",  # only where a series is declared (rules/checkpoint_series.smk)
]
FINDINGS_FILES = [
    "results/findings.csv",
    "results/findings.md",
    "results/findings.html",
]


# With a protocol comparison, both protocols' tables on its samples give rows of their own.
FINDINGS_PROTOCOL_INPUTS = (
    {
        f"protocol_{protocol}_{name}": f"results/{PROTOCOL_RUN}/protocols/{protocol}/{name}.csv"
        for protocol in PROTOCOL_NAMES
        for name in PROTOCOL_TABLES
    }
    if PROTOCOL_RUN
    else {}
)


rule findings:
    input:
        **{name: table_file(name) for name in FINDINGS_TABLES if name in ALL_TABLES},
        **FINDINGS_PROTOCOL_INPUTS,
    output:
        csv="results/findings.csv",
        md="results/findings.md",
        html=report(
            "results/findings.html",
            caption=os.path.join(workflow.basedir, "report", "findings.rst"),
            category="Findings",
        ),
    log:
        "logs/findings.log",
    benchmark:
        "benchmarks/out/findings.tsv"
    conda:
        "../envs/graph.yaml"
    resources:
        **job_resources("light"),
    params:
        runs=RUNS,
        null_of=NULL_OF,  # declared null roles
        untrained=[run for run in RUNS if config["runs"][run]["source"] == "init"],
        protocols={
            run: config["runs"][run].get("protocol", "single_token") for run in RUNS
        },
        method=PRIMARY_METHOD,
        column_norm=COLUMN_NORM,
        protocol_run=PROTOCOL_RUN,
        protocol_samples=config.get("protocol_comparison", {}).get("n_samples"),
    script:
        "../scripts/findings.py"
