"""The scorecard's verdicts and how a rule's two tests decide one.

Every rule answers two questions about a claim: does it hold at the strength the paper states
(``strength``), and does it hold in its direction (``direction``)? Each answer is True, False
or None (undecided: the number's band, e.g. over Schur eigenvalue orders or a censored κ,
lies on both sides of the threshold). ``decide`` turns the two into one verdict.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

HOLDS = "holds"
DIRECTION_ONLY = "holds in direction only"
DIFFERS = "differs"
NOT_RESOLVED = "not resolved: depends on an arbitrary choice"
NOT_TESTABLE = "not testable with these runs"
VERDICTS = (HOLDS, DIRECTION_ONLY, DIFFERS, NOT_RESOLVED, NOT_TESTABLE)
NO_RESOLUTION = "resolution not measured"


class Untestable(Exception):
    """A claim cannot be tested on these runs; the message says why (a table, a null, a mode)."""


@dataclass
class Outcome:
    """What a rule measured and its two answers (True / False / None = undecided)."""

    measured: str
    strength: bool | None
    direction: bool | None
    resolution: str = NO_RESOLUTION
    null_run: str = ""


def decide(strength: bool | None, direction: bool | None) -> str:
    """holds (both), holds in direction only, differs (direction fails), else not resolved."""
    strength, direction = _tri(strength), _tri(direction)
    if direction is False:
        return DIFFERS
    if direction is None:
        return NOT_RESOLVED
    if strength is None:
        return NOT_RESOLVED
    return HOLDS if strength else DIRECTION_ONLY


def _tri(value) -> bool | None:
    """A rule's answer as True / False / None (numpy booleans included)."""
    return None if value is None else bool(value)


def answer(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "undecided"}[_tri(value)]


def agree(low: bool, high: bool) -> bool | None:
    """One answer where both ends of a band give it, else undecided."""
    return bool(low) if bool(low) == bool(high) else None


def over_band(test: Callable[[float], bool], low: float, high: float) -> bool | None:
    """A threshold test on a quantity known only to lie in [low, high] (its ends decide)."""
    return agree(test(low), test(high))


def all_of(*answers: bool | None) -> bool | None:
    """Three-valued AND: False if any is False, None if any is undecided, else True."""
    answers = [_tri(a) for a in answers]
    if any(a is False for a in answers):
        return False
    return None if any(a is None for a in answers) else True


def greater(a: float, b: float, a_lower_bound: bool = False, b_lower_bound: bool = False) -> bool | None:
    """a > b where either may be only a lower bound of the true value (a censored κ)."""
    if a > b and not b_lower_bound:
        return True
    if a <= b and not a_lower_bound:
        return False
    return None


def exceeds(x: float, threshold: float, x_lower_bound: bool = False, x_upper_bound: bool = False) -> bool | None:
    """x > threshold where x may be known only from below or from above (a difference of censored κ)."""
    if x_lower_bound and x_upper_bound:
        return None
    if x > threshold:
        return None if x_upper_bound else True
    return None if x_lower_bound else False
