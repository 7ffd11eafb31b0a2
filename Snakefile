# resdyn: dynamics of the transformer residual stream.
# `snakemake --cores 2` runs the embedded default (config.yaml); see README for clusters.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


validate(config, "schemas/config.schema.yaml")


include: "rules/common.smk"
include: "rules/models.smk"
include: "rules/corpus.smk"
include: "rules/activations.smk"
include: "rules/jacobians.smk"
include: "rules/spectra.smk"
include: "rules/tables.smk"
include: "rules/figures.smk"


rule all:
    input:
        ALL_TABLES,
        ALL_FIGURES,
