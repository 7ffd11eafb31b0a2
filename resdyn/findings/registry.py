"""Rule functions by claim id: each takes (context, claim, subject) and returns an Outcome."""
from __future__ import annotations

RULES: dict = {}


def rule(claim_id: str):
    def register(fn):
        if claim_id in RULES:
            raise ValueError(f"two rules for claim {claim_id!r}")
        RULES[claim_id] = fn
        return fn
    return register
