"""Checks of a workflow config beyond its JSON schema, run at start-up before any work.

The schema catches unknown keys, wrong types and out-of-range numbers; these
checks catch what needs more than one key at a time.
"""
from __future__ import annotations

import json
from pathlib import Path

from resdyn.run_roles import null_of


class ConfigError(ValueError):
    pass


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
    """Sample subsets within the corpus; regime layers in order."""
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
    for name, spec in config["runs"].items():
        layers = spec.get("regime_layers")
        if layers is not None and not layers[0] < layers[1]:
            raise ConfigError(f"runs.{name}.regime_layers = {layers}: the first mid layer must come before the first late layer")


def check_null_roles(runs: dict) -> None:
    """`runs.<name>.null_of` names another run, and no run has two nulls."""
    try:
        null_of(runs)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def check_config(config: dict, models_dir="resources/models") -> None:
    check_fidelity_keys(config)
    runs = config["runs"]
    check_null_roles(runs)
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
    k = config["spectra"]["k"]
    for name, spec in runs.items():
        d = _hidden_size(spec, runs, Path(models_dir))
        prepared = Path(models_dir) / name / "config.json"
        if d is None and prepared.is_file():
            cfg = json.loads(prepared.read_text())
            d = cfg.get("text_config", cfg).get("hidden_size")
        if d is not None and k > d:
            raise ConfigError(f"spectra.k = {k} exceeds the hidden size d = {d} of run {name!r}")
