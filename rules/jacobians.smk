# Exact per-sample Jacobians of one block, streamed into per-layer statistics.
# One job per (run, layer): a cluster runs the layers in parallel (GPU rule).


rule jacobian_layer:
    input:
        model="resources/models/{run}",
        activations="results/{run}/activations.npy",
        corpus="results/corpus/samples.jsonl",
    output:
        "results/{run}/jacobians/layer_{layer}.npz",
    log:
        "logs/jacobian_layer/{run}/layer_{layer}.log",
    benchmark:
        "benchmarks/out/jacobian_layer/{run}/layer_{layer}.tsv"
    conda:
        "../envs/gpu.yaml"
    threads: 1  # two layers at once beat one layer on two threads (the SVDs are sequential)
    resources:
        **job_resources("gpu_jacobian"),
    params:
        protocol=lambda wc: config["runs"][wc.run].get("protocol", "single_token"),
        batch_size=config["jacobians"]["batch_size"],
    script:
        "../scripts/jacobian_layer.py"
