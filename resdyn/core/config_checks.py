"""Checks of a workflow config beyond its JSON schema, run at start-up before any work.

The schema catches unknown keys, wrong types and out-of-range numbers; these
checks catch what needs more than one key at a time.
"""
from __future__ import annotations

import json
from pathlib import Path

from resdyn.core.run_roles import SeriesError, declared_series, null_of, null_runs


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
    lyapunov = config.get("lyapunov", {})
    if lyapunov.get("ftle", {}).get("norm") == "state" and lyapunov.get("position") == "span":
        raise ConfigError("lyapunov.ftle.norm: state needs lyapunov.position: sequence (or last, where it is the "
                          "same as token); span's positions move alone, each with its own norm")
    schur = config["schur"]
    modes, doses = schur.get("modes", ["J", "R"]), schur.get("doses", [0, 0.25, 0.5, 0.75, 1, 1.5, 2])
    missing = [c for c in TABLE3_DOSES if not any(float(x) == c for x in doses)]
    if {"J", "R"} <= set(modes) and missing:
        raise ConfigError(
            f"schur.doses = {doses} lacks {missing}: Table 3 (asked for when schur.modes holds J and R) "
            f"reads c = 0, 1, 2; add them, or keep one mode"
        )


def declared_layers(runs: dict, name: str) -> int | None:
    """`runs.<name>.n_layers`, or the base run's for an init run re-initialising it."""
    spec = runs[name]
    if "n_layers" in spec:
        return int(spec["n_layers"])
    if spec["source"] == "init" and "base" in spec:
        return declared_layers(runs, spec["base"])
    return None


def check_prepared_model(config: dict, run: str, model_config: dict) -> None:
    """The prepared model's config.json against the keys it bounds: a declared layer count
    (which planned the Jacobian jobs before the model existed) and the width."""
    text = model_config.get("text_config", model_config)
    declared = declared_layers(config["runs"], run)
    if declared is not None and declared != int(text["num_hidden_layers"]):
        raise ConfigError(
            f"runs.{run}.n_layers = {declared}, but the prepared model has num_hidden_layers = "
            f"{text['num_hidden_layers']}: correct the key (or drop it, and the layers are read from the model)"
        )
    check_width(config, run, int(text["hidden_size"]))


def _check_layer_keys(name: str, spec: dict) -> None:
    regime, layers = spec.get("regime_layers"), spec.get("n_layers")
    if None not in (regime, layers) and regime[-1] >= layers:
        raise ConfigError(f"runs.{name}.regime_layers = {regime} must lie below runs.{name}.n_layers = {layers}")


def check_trajectory_keys(config: dict) -> None:
    """token_trajectories: spikes lie inside the clip, thresholds in order (its runs: check_map_runs)."""
    traj = config.get("token_trajectories", {})
    if traj.get("spike", 2.0) >= traj.get("clip", 3.0):
        raise ConfigError(f"token_trajectories.spike = {traj.get('spike', 2.0)} must be below token_trajectories.clip = "
                          f"{traj.get('clip', 3.0)}: no clipped score could exceed it")
    for metric, by_norm in traj.get("regimes", {}).get("thresholds", {}).items():
        for norm, t in by_norm.items():
            if "level_low" in t and "level_high" in t and t["level_low"] > t["level_high"]:
                raise ConfigError(f"token_trajectories.regimes.thresholds.{metric}.{norm}: level_low = {t['level_low']} "
                                  f"exceeds level_high = {t['level_high']} (no trajectory could be Adaptive)")
    if traj.get("min_chars", 200) > traj.get("max_chars", 800):
        raise ConfigError("token_trajectories.min_chars exceeds token_trajectories.max_chars: no prompt could pass")


def check_map_runs(config: dict) -> None:
    """lyapunov.runs and token_trajectories.runs name runs (the decoder maps serve every type the
    model preparation accepts, and refuse the rest by type when a job builds them)."""
    from resdyn.core.run_roles import null_runs

    runs = config["runs"]
    lyapunov = config.get("lyapunov", {}).get("runs")
    trajectories = config.get("token_trajectories", {}).get("runs")
    selected = {
        "lyapunov.runs": list(runs) if lyapunov is None else lyapunov,
        "token_trajectories.runs": [r for r in runs if r not in null_runs(runs)] if trajectories is None else trajectories,
    }
    for key, names in selected.items():
        unknown = [r for r in names if r not in runs]
        if unknown:
            raise ConfigError(f"{key}: {unknown} are not runs; runs are {sorted(runs)}")


def check_config(config: dict, models_dir="resources/models") -> None:
    """Every check a config needs at start-up."""
    check_fidelity_keys(config)
    check_trajectory_keys(config)
    _check_single_keys(config)
    runs = config["runs"]
    check_null_roles(runs)
    check_checkpoint_series(config)
    for name, spec in runs.items():
        _check_layer_keys(name, spec)
        if spec["source"] == "init":
            has_base, has_config = "base" in spec, "config" in spec
            if has_base == has_config:
                raise ConfigError(f"runs.{name}: an init run needs exactly one of `base` (a run name) or `config`")
            if has_base and spec["base"] not in runs:
                raise ConfigError(f"runs.{name}.base = {spec['base']!r} is not a run; runs are {sorted(runs)}")
            if has_base and runs[spec["base"]]["source"] == "init":
                raise ConfigError(f"runs.{name}.base must name a run with trained weights, not another init run")
            if has_base and "n_layers" in spec:
                raise ConfigError(f"runs.{name}.n_layers: an init run with a base has the base's layers; set it on runs.{spec['base']}")
        if spec["source"] == "local" and not (Path(spec["path"]) / "config.json").is_file():
            raise ConfigError(f"runs.{name}.path = {spec['path']!r} holds no Hugging Face model (no config.json)")
    check_map_runs(config)
    for name, spec in runs.items():
        d = _hidden_size(spec, runs, Path(models_dir))
        prepared = Path(models_dir) / name / "config.json"
        if d is None and prepared.is_file():
            cfg = json.loads(prepared.read_text())
            d = cfg.get("text_config", cfg).get("hidden_size")
        if d is not None:
            check_width(config, name, d)
