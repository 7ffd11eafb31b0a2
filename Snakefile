# resdyn: dynamics of the transformer residual stream.
# `snakemake --cores 2` runs the embedded default (config.yaml); docs/cluster.md: clusters.
from snakemake.utils import min_version, validate

min_version(
    "9.11.0"
)  # script-change and rule-code rerun triggers fixed (snakemake#3707, #3213)


# --configfile X replaces config.yaml instead of merging into it, also inside cluster jobs
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


validate(config, "schemas/config.schema.yaml")


# the HTML report opens on this description of the workflow
report: "report/workflow.rst"


# Names several stages read are defined once, in rules/common.smk and rules/resources.smk;
# each stage file reads no other file's names (tests/test_rule_files.py).
include: "rules/common.smk"
include: "rules/resources.smk"


# config/loops.yaml (a `loops` section and no `runs`): the loop study alone, without
# the decoder pipeline; otherwise the pipeline, plus the loop study where `loops` is set.
if "runs" in config:

    include: "rules/models.smk"
    include: "rules/corpus.smk"
    include: "rules/activations.smk"
    include: "rules/jacobians.smk"
    include: "rules/spectra.smk"
    include: "rules/cumulative.smk"
    include: "rules/schur.smk"
    include: "rules/graphs.smk"
    include: "rules/coupling.smk"
    include: "rules/lyapunov.smk"
    include: "rules/trajectories.smk"
    include: "rules/protocols.smk"
    include: "rules/checkpoint_series.smk"
    include: "rules/tables.smk"
    include: "rules/findings.smk"

else:

    include: "rules/corpus.smk"  # the loop study's prompts take corpus rows


include: "rules/loops.smk"


if "runs" in config:

    rule all:
        default_target: True
        input:
            [table_file(name) for name in ALL_TABLES],
            [figure_paths(name) for name in ALL_FIGURES],
            FINDINGS_FILES,

    rule figures:
        """Redraw every figure from the tables."""
        input:
            [figure_paths(name) for name in ALL_FIGURES],

else:

    rule all:
        default_target: True
        input:
            LOOP_TARGETS,
