# Activation-correlation graphs and their communities (paper §3.1, Appendix A.4).
# Graphs depend only on the activations and graphs.*; each community method only on the
# graphs and its own parameters, so changing gamma reruns signed_cpm alone.

# COMMUNITY_METHODS, PRIMARY_METHOD: rules/common.smk (the coupling, protocol and findings
# stages read them too)

ALL_TABLES += ["communities", "community_nmi"]
PER_RUN_TABLES += ["communities", "community_nmi"]
ALL_FIGURES += ["fig6_communities"]


rule correlation_graphs:
    input:
        activations="results/{run}/activations.npy",
    output:
        graphs="results/{run}/graphs/correlation_graphs.npz",
    log:
        "logs/correlation_graphs/{run}.log",
    benchmark:
        "benchmarks/out/correlation_graphs/{run}.tsv"
    conda:
        "../envs/graph.yaml"
    resources:
        **job_resources("cpu_dense"),
    params:
        knn=config["graphs"].get("knn", 20),
        showcase_depth=config["graphs"].get("showcase_depth", 0.53125),
    script:
        "../scripts/graphs_correlation.py"


rule communities:
    input:
        graphs="results/{run}/graphs/correlation_graphs.npz",
    output:
        partition="results/{run}/communities/{method}.npz",
        table="results/{run}/communities/{method}.csv",
    log:
        "logs/communities/{run}_{method}.log",
    benchmark:
        "benchmarks/out/communities/{run}_{method}.tsv"
    wildcard_constraints:
        method="|".join(COMMUNITY_METHODS),
    conda:
        "../envs/graph.yaml"
    resources:
        **job_resources("cpu_dense"),
    params:
        gamma=lambda wc: (
            config["communities"].get("gamma", 0.001)
            if wc.method == "signed_cpm"
            else None
        ),
        gamma_neg=lambda wc: (
            config["communities"].get("gamma_neg", 0.0)
            if wc.method == "signed_cpm"
            else None
        ),
        seed=config["communities"].get("seed", 0),
        min_size=config["communities"].get("min_size", 2),
    script:
        "../scripts/communities_detect.py"


rule communities_table:
    input:
        tables=expand(
            "results/{{run}}/communities/{method}.csv", method=COMMUNITY_METHODS
        ),
        partitions=expand(
            "results/{{run}}/communities/{method}.npz", method=COMMUNITY_METHODS
        ),
    output:
        communities="results/{run}/tables/communities.csv",
        nmi="results/{run}/tables/community_nmi.csv",
    log:
        "logs/communities_table/{run}.log",
    benchmark:
        "benchmarks/out/communities_table/{run}.tsv"
    conda:
        "../envs/graph.yaml"
    resources:
        **job_resources("light"),
    params:
        methods=COMMUNITY_METHODS,
    script:
        "../scripts/communities_table.py"


rule fig6_communities:
    input:
        graphs=expand("results/{run}/graphs/correlation_graphs.npz", run=RUNS),
        partitions=expand(
            "results/{run}/communities/{method}.npz", run=RUNS, method=PRIMARY_METHOD
        ),
    output:
        figure_files("fig6_communities"),
    log:
        "logs/figures/fig6_communities.log",
    benchmark:
        "benchmarks/out/figures/fig6_communities.tsv"
    conda:
        "../envs/plot.yaml"
    resources:
        **job_resources("light"),
    params:
        runs=RUNS,
        method=PRIMARY_METHOD,
    script:
        "../scripts/fig_communities.py"
