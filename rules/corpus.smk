# The text samples every run sees, in dataset order.


rule corpus:
    output:
        "results/corpus/samples.jsonl",
    params:
        corpus=config["corpus"],
    log:
        "logs/corpus.log",
    benchmark:
        "benchmarks/out/corpus.tsv"
    script:
        "../scripts/corpus.py"
