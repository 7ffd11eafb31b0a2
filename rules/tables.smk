# Per-run tables are combined into one table per name, with a `run` column.


rule combine_table:
    input:
        lambda wc: expand("results/{run}/tables/{name}.csv", run=RUNS, name=wc.name),
    output:
        "results/tables/{name}.csv",
    log:
        "logs/combine_table/{name}.log",
    benchmark:
        "benchmarks/out/combine_table/{name}.tsv"
    script:
        "../scripts/combine_tables.py"
