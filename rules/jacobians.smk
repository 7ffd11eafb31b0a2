# Exact per-sample Jacobians of each block, streamed into per-layer statistics files.
#
# jacobians.layers_per_job = 1 (the default, and what a cluster wants): one job per
# (run, layer), so the layers run in parallel on GPUs and a lost job costs one layer.
# > 1 (a laptop): one job computes a chunk of consecutive layers into a folder, and a
# local copy step puts each layer's file at its public path. Each job pays ~3 s to start
# (mostly `import torch`), a quarter of a one-layer job at the embedded default.

LAYERS_PER_JOB = config["jacobians"].get("layers_per_job", 1)
ONE_LAYER_PER_JOB = LAYERS_PER_JOB == 1
JACOBIAN_SHARD = "layer_{layer}" if ONE_LAYER_PER_JOB else "layers_{first}-{last}"


def layers_of_shard(wildcards):
    if ONE_LAYER_PER_JOB:
        return [int(wildcards.layer)]
    return list(range(int(wildcards.first), int(wildcards.last) + 1))


def layer_files_of_shard(wildcards, output):
    """Where the job writes each of its layers (the file itself, or files in the chunk folder)."""
    if ONE_LAYER_PER_JOB:
        return list(output)
    return [f"{output[0]}/layer_{layer:02d}.npz" for layer in layers_of_shard(wildcards)]


def chunk_of_layer(wildcards):
    """The chunk folder that holds this layer: chunks start at multiples of layers_per_job."""
    layer = int(wildcards.layer)
    first = layer - layer % LAYERS_PER_JOB
    last = min(first + LAYERS_PER_JOB, n_layers(wildcards.run)) - 1
    return f"results/{wildcards.run}/jacobian_chunks/layers_{first:02d}-{last:02d}"


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
    conda:
        "../envs/gpu.yaml"
    threads: 1  # two layers at once beat one layer on two threads (the SVDs are sequential)
    resources:
        **job_resources("gpu_jacobian"),
    priority: jacobian_priority
    params:
        protocol=lambda wc: config["runs"][wc.run].get("protocol", "single_token"),
        batch_size=config["jacobians"]["batch_size"],
        layers=layers_of_shard,
        layer_files=layer_files_of_shard,
    script:
        "../scripts/jacobian_layer.py"


if not ONE_LAYER_PER_JOB:

    rule jacobian_layer_file:
        input:
            chunk_of_layer,
        output:
            "results/{run}/jacobians/layer_{layer}.npz",
        localrule: True
        shell:
            "cp {input}/layer_{wildcards.layer}.npz {output}"
