"""Every registered figure has a caption for the Snakemake report."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def registered_figures():
    names = []
    for smk in (ROOT / "rules").glob("*.smk"):
        for line in smk.read_text().splitlines():
            if line.startswith("ALL_FIGURES +="):
                names += re.findall(r'"(fig[\w{}]+)"', line)
    return names


def test_every_figure_has_a_caption():
    names = registered_figures()
    assert len(names) >= 10
    missing = [n for n in names if not (ROOT / "report" / f"{n.split('_{')[0]}.rst").is_file()]
    assert missing == []
