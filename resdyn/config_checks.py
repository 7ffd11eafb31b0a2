"""Checks of a workflow config beyond its JSON schema, run at start-up before any work.

The schema catches unknown keys, wrong types and out-of-range numbers; these
checks catch what needs more than one key at a time.
"""
from __future__ import annotations

import json
from pathlib import Path

from resdyn.checkpoint_series import SeriesError, declared_series
from resdyn.run_roles import null_of


class ConfigError(ValueError):
    pass


def canonical(value):
    """The value with every mapping's keys sorted, at every level (lists keep their order).

    YAML mappings are unordered: a config that differs only in key order (one written by
    yaml.safe_dump, which sorts) must give every rule the same params, and Snakemake
    compares params by their repr, dict key order included."""
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value


def canonicalise_in_place(config: dict) -> None:
    """Replace config's contents by their canonical form, keeping the object (Snakemake's
    `config` global is shared with the workflow)."""
    ordered = canonical(config)
    config.clear()
    config.update(ordered)


def _hidden_size(spec: dict, runs: dict, models_dir: Path) -> int | None:
    """d of a run where it is known without loading weights, else None."""
    if spec["source"] == "init":
        if "config" in spec:
            return spec["config"].get("hidden_size")
        return _hidden_size(runs[spec["base"]], runs, models_dir)
    candidates = [Path(spec["path"]) / "config.json"] if spec["source"] == "local" else []
    for path in candidates:
        if path.is_file():
            cfg = json.loads(path.read_text())
            return cfg.get("text_config", cfg).get("hidden_size")
    return None


def check_fidelity_keys(config: dict) -> None:
    """Sample subsets within the corpus; the compared run exists."""
    n_corpus = config.get("corpus", {}).get("n_samples")
    n_jac = config.get("jacobians", {}).get("n_samples")
    if None not in (n_jac, n_corpus) and n_jac > n_corpus:
        raise ConfigError(f"jacobians.n_samples = {n_jac} exceeds corpus.n_samples = {n_corpus}")
    compared = config.get("protocol_comparison", {}).get("run")
    if compared is not None and compared not in config["runs"]:
        raise ConfigError(f"protocol_comparison.run = {compared!r} is not a run; runs are {sorted(config['runs'])}")
    n_compared = config.get("protocol_comparison", {}).get("n_samples")
    if None not in (n_compared, n_corpus) and compared is not None and n_compared > n_corpus:
        raise ConfigError(f"protocol_comparison.n_samples = {n_compared} exceeds corpus.n_samples = {n_corpus}")


def check_null_roles(runs: dict) -> None:
    """`runs.<name>.null_of` names another run, and no run has two nulls."""
    try:
        null_of(runs)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def check_checkpoint_series(config: dict) -> None:
    """`checkpoint_series.<name>`: runs that exist, at least 2, one strictly increasing step each."""
    try:
        declared_series(config.get("checkpoint_series"), config["runs"])
    except SeriesError as err:
        raise ConfigError(str(err)) from None


def check_width(config: dict, run: str, d: int) -> None:
    """Keys bounded by a run's hidden size d: spectra.k (top-k singular values) and
    graphs.knn (neighbours per unit, itself excluded)."""
    k = config["spectra"]["k"]
    if k > d:
        raise ConfigError(f"spectra.k = {k} exceeds the hidden size d = {d} of run {run!r}")
    knn = config["graphs"].get("knn", 20)
    if knn >= d:
        raise ConfigError(f"graphs.knn = {knn} must be below the hidden size d = {d} of run {run!r} (a unit has d - 1 others)")


# Table 3 reads the dose response at these c (rules/schur.smk asks for it when the doses hold
# them; with both modes a config that lacks them is refused, since Table 3 is then the point).
TABLE3_DOSES = (0, 1, 2)


def _check_single_keys(config: dict) -> None:
    corpus = config["corpus"]
    lo, hi = corpus.get("min_chars", 200), corpus.get("max_chars", 800)
    if lo > hi:
        raise ConfigError(f"corpus.min_chars = {lo} exceeds corpus.max_chars = {hi}: no sample could pass")
    bounds = config["spectra"].get("regime_bounds", [0.15625, 0.625])
    if not all(a < b for a, b in zip(bounds, bounds[1:])):
        raise ConfigError(f"spectra.regime_bounds = {bounds} must increase (early/mid, then mid/late depth fraction)")
    for name, spec in config["runs"].items():
        layers = spec.get("regime_layers")
        if layers is not None and not all(a < b for a, b in zip(layers, layers[1:])):
            raise ConfigError(f"runs.{name}.regime_layers = {layers} must increase (first mid, then first late layer)")
    schur = config["schur"]
    modes, doses = schur.get("modes", ["J", "R"]), schur.get("doses", [0, 0.25, 0.5, 0.75, 1, 1.5, 2])
    missing = [c for c in TABLE3_DOSES if not any(float(x) == c for x in doses)]
    if {"J", "R"} <= set(modes) and missing:
        raise ConfigError(
            f"schur.doses = {doses} lacks {missing}: Table 3 (asked for when schur.modes holds J and R) "
            f"reads c = 0, 1, 2; add them, or keep one mode"
        )


def check_config(config: dict, models_dir="resources/models") -> None:
    check_fidelity_keys(config)
    _check_single_keys(config)
    runs = config["runs"]
    check_null_roles(runs)
    check_checkpoint_series(config)
    for name, spec in runs.items():
        if spec["source"] == "init":
            has_base, has_config = "base" in spec, "config" in spec
            if has_base == has_config:
                raise ConfigError(f"runs.{name}: an init run needs exactly one of `base` (a run name) or `config`")
            if has_base and spec["base"] not in runs:
                raise ConfigError(f"runs.{name}.base = {spec['base']!r} is not a run; runs are {sorted(runs)}")
            if has_base and runs[spec["base"]]["source"] == "init":
                raise ConfigError(f"runs.{name}.base must name a run with trained weights, not another init run")
        if spec["source"] == "local" and not (Path(spec["path"]) / "config.json").is_file():
            raise ConfigError(f"runs.{name}.path = {spec['path']!r} holds no Hugging Face model (no config.json)")
    for name, spec in runs.items():
        d = _hidden_size(spec, runs, Path(models_dir))
        prepared = Path(models_dir) / name / "config.json"
        if d is None and prepared.is_file():
            cfg = json.loads(prepared.read_text())
            d = cfg.get("text_config", cfg).get("hidden_size")
        if d is not None:
            check_width(config, name, d)
