# Exact per-sample Jacobians of each block, streamed into per-layer statistics files.
#
# jacobians.layers_per_job = 1 (the default, and what a cluster wants): one job per
# (run, layer), so the layers run in parallel on GPUs and a lost job costs one layer.
# > 1 (a laptop): one job computes a chunk of consecutive layers into a folder, and a
# local copy step puts each layer's file at its public path. Each job pays ~3 s to start
# (mostly `import torch`), a quarter of a one-layer job at the embedded default.
#
# The job runs in a shadow folder (.snakemake/shadow/...), and Snakemake moves its output
# into place only once the job has succeeded: a killed or failed job never leaves a chunk
# folder with some of its layers, which a rerun would take as complete (a one-layer file
# is written atomically anyway).


rule:
    name:
        "jacobian_layer" if ONE_LAYER_PER_JOB else "jacobian_layers"
    input:
        model="resources/models/{run}",
        activations="results/{run}/activations.npy",
        corpus="results/corpus/samples.jsonl",
    output:
        (
            f"results/{{run}}/jacobians/{JACOBIAN_SHARD}.npz"
            if ONE_LAYER_PER_JOB
            else directory(f"results/{{run}}/jacobian_chunks/{JACOBIAN_SHARD}")
        ),
    log:
        f"logs/jacobian_layer/{{run}}/{JACOBIAN_SHARD}.log",
    benchmark:
        f"benchmarks/out/jacobian_layer/{{run}}/{JACOBIAN_SHARD}.tsv"
    wildcard_constraints:
        first=r"\d+",
        last=r"\d+",
    priority: jacobian_priority
    shadow:
        "minimal"
    conda:
        "../envs/gpu.yaml"
    threads: 1  # two layers at once beat one layer on two threads (the SVDs are sequential)
    resources:
        **job_resources("gpu_layer", repeats=LAYERS_PER_JOB),
    params:
        protocol=lambda wc: config["runs"][wc.run].get("protocol", "single_token"),
        batch_size=config["jacobians"]["batch_size"],
        n_samples=config["jacobians"].get("n_samples"),
        bos=lambda wc: config["runs"][wc.run].get("bos", "auto"),
        precision=config["jacobians"].get("precision", "auto"),
        layers=layers_of_shard,
        layer_files=layer_files_of_shard,
    script:
        "../scripts/jacobian_layer.py"


if not ONE_LAYER_PER_JOB:

    # A copy, not a link: a hard link keeps the chunk file's time, older than the chunk
    # folder's own stamp, so Snakemake would rerun it every time.
    rule jacobian_layer_file:
        input:
            chunk_of_layer,
        output:
            "results/{run}/jacobians/layer_{layer}.npz",
        log:
            "logs/jacobian_layer/{run}/layer_{layer}_copy.log",
        localrule: True
        conda:
            "../envs/graph.yaml"
        shell:
            "cp {input}/layer_{wildcards.layer}.npz {output} 2> {log}"
