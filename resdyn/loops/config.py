"""Cross-key checks of the `loops` config section (the schema checks each key alone)."""
from __future__ import annotations

from resdyn.core.config_checks import ConfigError


def check_loops_config(loops: dict) -> None:
    models = loops["models"]
    for key, names in (("loops.study", loops["study"]),
                       ("loops.checkpoints.series", [s["model"] for s in loops["checkpoints"]["series"]])):
        unknown = [n for n in names if n not in models]
        if unknown:
            raise ConfigError(f"{key} names {unknown}, which are not in loops.models ({sorted(models)})")
    series = loops["checkpoints"]["series"]
    steps = [s["step"] for s in series]
    if steps != sorted(steps):
        raise ConfigError(f"loops.checkpoints.series must be in training order (steps {steps})")
    if len({s["model"] for s in series}) != len(series):
        raise ConfigError("loops.checkpoints.series lists a model twice")
    if loops["checkpoints"]["n_prompts"] > loops["prompts"]["n"]:
        raise ConfigError(f"loops.checkpoints.n_prompts = {loops['checkpoints']['n_prompts']} exceeds "
                          f"loops.prompts.n = {loops['prompts']['n']}")
    archs = {models[s["model"]]["arch"] for s in series}
    if len(archs) > 1:
        raise ConfigError(f"loops.checkpoints.series mixes architectures {sorted(archs)}: one model's training series")


def needs_corpus(loops: dict) -> bool:
    """Whether the prompts need corpus rows (more prompts than listed ones)."""
    return loops["prompts"]["n"] > len(loops["prompts"]["listed"])
