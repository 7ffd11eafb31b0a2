# The text samples every run sees, in dataset order.


rule corpus:
    output:
        "results/corpus/samples.jsonl",
    log:
        "logs/corpus.log",
    benchmark:
        "benchmarks/out/corpus.tsv"
    conda:
        "../envs/gpu.yaml"
    params:
        corpus=config["corpus"],
    script:
        "../scripts/corpus.py"
