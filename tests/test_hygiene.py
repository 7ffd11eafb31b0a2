"""Snakemake hygiene: no lint findings, snakefmt-formatted, every rule logs and benchmarks."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_snakemake_lint_has_no_findings():
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=ROOT, capture_output=True, text=True)
    assert "Lints for" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert proc.returncode == 0


def test_snakefmt_check_passes():
    proc = subprocess.run([sys.executable, "-m", "snakefmt", "--check", "."], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_job_rule_has_log_and_benchmark():
    for smk in (ROOT / "rules").glob("*.smk"):
        for name, body in re.findall(r"^(?:rule|checkpoint) (\w+):\n(.*?)(?=^\S|\Z)", smk.read_text(), re.M | re.S):
            assert "log:" in body and "benchmark:" in body, f"rule {name} in {smk.name}"
