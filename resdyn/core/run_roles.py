"""Declared roles of runs: which run is the untrained null of which (``runs.<name>.null_of``),
and which runs form a checkpoint series in training order (``checkpoint_series``).

Figures and the findings scorecard pair a trained run with its null from this declaration,
never from the run's name or source (an `hf` checkpoint at step 0 is as much a null as an
`init` run, and an `init` run without `null_of` is just another configuration).
"""
from __future__ import annotations


def null_of(runs: dict) -> dict[str, str]:
    """{trained run: its null run} from the runs section of a config."""
    out = {}
    for name, spec in runs.items():
        target = spec.get("null_of")
        if target is None:
            continue
        if target not in runs or target == name:
            raise ValueError(f"runs.{name}.null_of = {target!r} must name another run; runs are {sorted(runs)}")
        if target in out:
            raise ValueError(f"runs.{name}.null_of and runs.{out[target]}.null_of both name {target!r}; "
                             "a run has at most one null")
        out[target] = name
    return out


def is_null(runs: dict) -> dict[str, bool]:
    """{run: True for a null run (it declares `null_of`), False otherwise}."""
    return {name: "null_of" in spec for name, spec in runs.items()}


def null_runs(runs: dict) -> list[str]:
    """The runs that declare `null_of`, in config order."""
    return [name for name, flag in is_null(runs).items() if flag]


class SeriesError(ValueError):
    pass


def declared_series(section: dict | None, runs) -> dict[str, dict]:
    """{series: {"runs": [...], "steps": [...]}} from ``checkpoint_series``, checked: every run
    exists, at least 2 distinct runs, one step (an integer) per run, steps strictly increasing."""
    out = {}
    for name, spec in (section or {}).items():
        key = f"checkpoint_series.{name}"
        names, steps = list(spec.get("runs", [])), list(spec.get("steps", []))
        if len(names) < 2:
            raise SeriesError(f"{key}.runs = {names} needs at least 2 runs in training order")
        unknown = [r for r in names if r not in runs]
        if unknown:
            raise SeriesError(f"{key}.runs names {unknown}, which are not runs; runs are {sorted(runs)}")
        if len(set(names)) != len(names):
            raise SeriesError(f"{key}.runs = {names} lists a run twice")
        if len(steps) != len(names):
            raise SeriesError(f"{key}.steps has {len(steps)} entries for {len(names)} runs (one training step per run)")
        if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in steps):
            raise SeriesError(f"{key}.steps = {steps} must be non-negative integers (training steps)")
        if not all(a < b for a, b in zip(steps, steps[1:])):
            raise SeriesError(f"{key}.steps = {steps} must increase strictly (runs in training order)")
        out[name] = {"runs": names, "steps": steps}
    return out
