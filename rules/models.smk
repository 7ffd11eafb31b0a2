# Materialise each run's weights once as a float32 Hugging Face folder.
# A checkpoint: the number of layers (hence the Jacobian shards) is known only after it.


def base_model(wildcards):
    spec = config["runs"][wildcards.run]
    if spec["source"] == "init" and "base" in spec:
        return f"resources/models/{spec['base']}"
    return []


checkpoint prepare_model:
    input:
        base=base_model,
    output:
        model=directory("resources/models/{run}"),
    log:
        "logs/prepare_model/{run}.log",
    benchmark:
        "benchmarks/out/prepare_model/{run}.tsv"
    conda:
        "../envs/gpu.yaml"
    threads: 1  # GGUF dequantisation is single-threaded: prepare runs side by side
    resources:
        **job_resources("prepare"),
    params:
        spec=lambda wc: config["runs"][wc.run],
    script:
        "../scripts/prepare_model.py"
