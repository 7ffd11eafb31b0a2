# Per-run tables are combined into one table per name, with a `run` column.
# Included after every stage, so that PER_RUN_TABLES is complete here.


rule combine_table:
    input:
        lambda wc: expand(
            "results/{run}/tables/{name}.csv",
            run=TABLE_RUNS.get(wc.name, RUNS),
            name=wc.name,
        ),
    output:
        "results/tables/{name}.csv",
    log:
        "logs/combine_table/{name}.log",
    benchmark:
        "benchmarks/out/combine_table/{name}.tsv"
    wildcard_constraints:
        name="|".join(PER_RUN_TABLES),
    conda:
        "../envs/graph.yaml"
    script:
        "../scripts/combine_tables.py"
