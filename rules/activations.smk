# Last-token residual snapshots (N, 2L, d): a GPU rule on clusters.


rule extract_activations:
    input:
        model="resources/models/{run}",
        corpus="results/corpus/samples.jsonl",
    output:
        "results/{run}/activations.npy",
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
    script:
        "../scripts/extract_activations.py"
