"""The paper's claims as data: ``claims.yaml`` beside this module, one row per claim."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

CLAIMS_FILE = Path(__file__).with_name("claims.yaml")
SUBJECTS = ("trained", "nulls", "runs", "series")
FIELDS = ("id", "finding", "ref", "sentence", "value", "strength", "direction", "params", "tables", "over")


@dataclass(frozen=True)
class Claim:
    id: str
    finding: str
    ref: str
    sentence: str
    value: str
    strength: str
    direction: str
    tables: tuple
    over: str
    params: dict = field(default_factory=dict)

    @property
    def rule(self) -> str:
        return f"holds if {self.strength}; in direction if {self.direction}"


def parse(rows: list[dict]) -> tuple[Claim, ...]:
    """Claims from rows, checked: every field present, ``over`` known, ids unique."""
    out, seen = [], set()
    for i, row in enumerate(rows):
        missing = [f for f in FIELDS if f not in row]
        if missing:
            raise ValueError(f"claim {row.get('id', f'#{i}')} lacks {missing}")
        if row["over"] not in SUBJECTS:
            raise ValueError(f"claim {row['id']}: over = {row['over']!r}, allowed {SUBJECTS}")
        if row["id"] in seen:
            raise ValueError(f"claim id {row['id']!r} appears twice")
        seen.add(row["id"])
        out.append(Claim(**{**row, "tables": tuple(row["tables"]), "params": dict(row["params"] or {})}))
    return tuple(out)


@lru_cache(maxsize=1)
def load_claims(path: str = str(CLAIMS_FILE)) -> tuple[Claim, ...]:
    return parse(yaml.safe_load(Path(path).read_text(encoding="utf-8")))
