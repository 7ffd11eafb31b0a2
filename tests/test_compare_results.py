"""benchmarks/compare_results.py: a moved number is caught; a moved last digit and added columns are named."""
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from compare_results import main  # noqa: E402

TABLE = pd.DataFrame({"run": ["a", "b", "c"], "layer": [0, 1, 2], "rho": [0.1, float("nan"), -0.3]})


def _root(path: Path, table: pd.DataFrame, findings: str = "claim,verdict\nx,holds\n") -> Path:
    (path / "results" / "tables").mkdir(parents=True)
    table.to_csv(path / "results" / "tables" / "spectra.csv", index=False)
    (path / "results" / "findings.csv").write_text(findings)
    return path


def _compare(tmp_path, after: pd.DataFrame, capsys, rtol="1e-12", **kw):
    before = _root(tmp_path / "before", TABLE)
    code = main([str(before), str(_root(tmp_path / "after", after, **kw)), "--rtol", rtol])
    return code, capsys.readouterr().out


def test_identical_folders_pass(tmp_path, capsys):
    code, out = _compare(tmp_path, TABLE, capsys)
    assert code == 0 and "results/tables/spectra.csv: identical" in out and "2 tables compared, 0 differ" in out


@pytest.mark.parametrize("change, rtol, ok", [(1e-14, "1e-12", True), (1e-9, "1e-12", False), (1e-9, "1e-8", True)])
def test_a_moved_number_is_held_to_the_tolerance(tmp_path, capsys, change, rtol, ok):
    moved = TABLE.assign(rho=TABLE["rho"] * (1 + change))
    code, out = _compare(tmp_path, moved, capsys, rtol=rtol)
    assert (code == 0) == ok, out
    assert ("within" in out) == ok and ("DIFFERS: relative difference" in out) != ok


def test_added_columns_pass_when_the_old_ones_are_unchanged(tmp_path, capsys):
    code, out = _compare(tmp_path, TABLE.assign(norm="token"), capsys)
    assert code == 0 and "columns added ['norm']; the others identical" in out
    code, out = _compare(tmp_path / "again", TABLE.assign(norm="token", layer=[0, 1, 3]), capsys)
    assert code == 1 and "DIFFERS" in out


@pytest.mark.parametrize("after, why", [
    (TABLE.assign(run=["a", "b", "d"]), "column run: text differs at row 2"),
    (TABLE.assign(rho=[0.1, 0.2, -0.3]), "column rho: NaN in one table only"),
    (TABLE.drop(columns="rho"), "columns differ"),
    (TABLE.iloc[:2], "3 rows vs 2"),
])
def test_what_differs_is_named(tmp_path, capsys, after, why):
    code, out = _compare(tmp_path, after, capsys)
    assert code == 1 and why in out


def test_a_changed_verdict_and_a_missing_table_fail(tmp_path, capsys):
    code, out = _compare(tmp_path, TABLE, capsys, findings="claim,verdict\nx,differs\n")
    assert code == 1 and "results/findings.csv: DIFFERS: column verdict" in out
    before = _root(tmp_path / "b2", TABLE)
    after = _root(tmp_path / "a2", TABLE)
    (after / "results" / "tables" / "spectra.csv").unlink()
    assert main([str(before), str(after)]) == 1 and "spectra.csv: DIFFERS: MISSING" in capsys.readouterr().out
