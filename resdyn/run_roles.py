"""Declared roles of runs: which run is the untrained null of which (``runs.<name>.null_of``).

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
