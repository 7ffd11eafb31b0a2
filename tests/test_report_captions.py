"""Every registered figure has a caption for the Snakemake report."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def registered_figures():
    """Names in every `ALL_FIGURES += ...` statement of the rule files (lists may span lines)."""
    names = []
    for smk in (ROOT / "rules").glob("*.smk"):
        for statement in re.findall(r"^ALL_FIGURES \+= (.*?)$(?=\n\S|\Z)", smk.read_text(), re.M | re.S):
            names += re.findall(r'"([\w{}]+)"', statement)
    return names


def test_every_figure_has_a_caption():
    names = registered_figures()
    assert len(names) >= 10
    missing = [n for n in names if not (ROOT / "report" / f"{n.split('_{')[0]}.rst").is_file()]
    assert missing == []
