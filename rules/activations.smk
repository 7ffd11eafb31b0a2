# Last-token residual snapshots (N, 2L, d), and the model-health check from the same
# forward passes (a trained run that cannot predict the corpus fails here): a GPU rule.

ALL_TABLES += ["model_health"]


rule extract_activations:
    input:
        model="resources/models/{run}",
        corpus="results/corpus/samples.jsonl",
    output:
        activations="results/{run}/activations.npy",
        health="results/{run}/tables/model_health.csv",
    log:
        "logs/extract_activations/{run}.log",
    benchmark:
        "benchmarks/out/extract_activations/{run}.tsv"
    priority: PRIORITY["activations"]
    conda:
        "../envs/gpu.yaml"
    threads: 1  # on a busy laptop core it never waits for two cores to be free at once
    resources:
        **job_resources("gpu_forward"),
    params:
        batch_size=config["activations"]["batch_size"],
        bos=lambda wc: config["runs"][wc.run].get("bos", "auto"),
        # a declared null (e.g. a hub checkpoint at step 0) sits at the baseline as an init run does
        trained=lambda wc: config["runs"][wc.run]["source"] != "init"
        and "null_of" not in config["runs"][wc.run],
        health=config["activations"]["health"],
    script:
        "../scripts/extract_activations.py"


# Combined over runs like the other tables, but shown in the report as well.
rule model_health_table:
    input:
        expand("results/{run}/tables/model_health.csv", run=RUNS),
    output:
        report(
            table_file("model_health"),
            caption=os.path.join(workflow.basedir, "report", "model_health.rst"),
            category="Model health",
        ),
    log:
        "logs/combine_table/model_health.log",
    benchmark:
        "benchmarks/out/combine_table/model_health.tsv"
    localrule: True
    conda:
        "../envs/graph.yaml"
    script:
        "../scripts/combine_tables.py"
