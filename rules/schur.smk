# Non-normality surgery: scale each layer's departure from normality by a dose c (schur.method:
# polar, J_c = U P^c Lambda P^-c U*, no eigenvalue order; or schur, N in J = Q(Lambda + N)Q*),
# recompose the linearised stack, with Controls A/B and mode R. One job per (run, mode)
# runs the sweep and both controls, so each layer's form is made once (storing the
# d x d complex factors would cost more than making them; at d = 4096 they are the costly step).

SCHUR = config["schur"]
SCHUR_METHOD = SCHUR.get("method", "polar")
SCHUR_MODES = SCHUR.get("modes", ["J", "R"])
SCHUR_DOSES = SCHUR.get("doses", [0, 0.25, 0.5, 0.75, 1, 1.5, 2])
SCHUR_CONSTRUCTIONS = ["dose"] + (
    ["control_a", "control_b"] if SCHUR.get("draws", 4) > 0 else []
)

ALL_TABLES += ["schur_dose"]
PER_RUN_TABLES += ["schur_dose"]
ALL_FIGURES += ["fig5_schur_dose", "figS8_schur_controls"]
# Table 3 reads c = 0, 1, 2 in mode J (and mode R's ordering check where it runs); a config
# without them simply does not ask for it.
if "J" in SCHUR_MODES and {0, 1, 2} <= {float(c) for c in SCHUR_DOSES}:
    ALL_TABLES += ["schur_table3"]


rule schur_sweep:
    input:
        jacobians=jacobian_files,
    output:
        "results/{run}/schur/{mode}.csv",
    log:
        "logs/schur_sweep/{run}_{mode}.log",
    benchmark:
        "benchmarks/out/schur_sweep/{run}_{mode}.tsv"
    wildcard_constraints:
        mode="|".join(SCHUR_MODES),
    priority: PRIORITY["run_statistics"]
    conda:
        "../envs/graph.yaml"
    threads: 1
    resources:
        **job_resources("cpu_schur"),
    params:
        constructions=SCHUR_CONSTRUCTIONS,
        doses=SCHUR_DOSES,
        draws=SCHUR.get("draws", 4),
        seed=SCHUR.get("seed", 0),
        precision=SCHUR.get("precision", "single"),
        surgery=SCHUR_METHOD,
        # random Schur orders give the dose rows their distribution; mode R is itself an ordering
        # check of mode J; polar surgery has no order
        order_draws=lambda wc: (
            SCHUR.get("order_draws", 40)
            if wc.mode == "J" and SCHUR_METHOD == "schur"
            else 0
        ),
        method=config["cumulative"].get("method", "exact"),
        rank=config["cumulative"].get("rank", 512),
    script:
        "../scripts/schur_dose.py"


rule schur_dose:
    input:
        expand("results/{{run}}/schur/{mode}.csv", mode=SCHUR_MODES),
    output:
        "results/{run}/tables/schur_dose.csv",
    log:
        "logs/schur_dose/{run}.log",
    benchmark:
        "benchmarks/out/schur_dose/{run}.tsv"
    conda:
        "../envs/graph.yaml"
    resources:
        **job_resources("cpu_dense"),
    script:
        "../scripts/combine_tables.py"


rule schur_table3:
    input:
        table_file("schur_dose"),
    output:
        csv=table_file("schur_table3"),
        md="results/tables/schur_table3.md",
    log:
        "logs/schur_table3.log",
    benchmark:
        "benchmarks/out/schur_table3.tsv"
    conda:
        "../envs/graph.yaml"
    script:
        "../scripts/schur_table3.py"


rule fig_schur:
    input:
        table_file("schur_dose"),
    output:
        fig5=figure_files("fig5_schur_dose"),
        figS8=figure_files("figS8_schur_controls"),
    log:
        "logs/figures/schur.log",
    benchmark:
        "benchmarks/out/figures/schur.tsv"
    conda:
        "../envs/plot.yaml"
    script:
        "../scripts/fig_schur.py"
