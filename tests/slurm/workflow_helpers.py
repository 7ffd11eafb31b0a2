"""Helpers shared by the workflow-level tests: copy the workflow to a scratch folder,
run Snakemake there as a subprocess, and parse what a dry run says it would do."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# What a scratch copy of the workflow needs (no outputs, caches or VCS data).
_IGNORE = shutil.ignore_patterns(
    ".git", "results", "resources", "logs", ".snakemake", "out", "__pycache__",
    ".pytest_cache", "*.egg-info", ".venv", "report.html", "*.zip",
)

# Rules that need a GPU on a cluster: activations, Jacobian shards, Lyapunov exponents
# (lyapunov_bridge is statistics on their tables: CPU).
GPU_RULES = {
    "extract_activations",
    "jacobian_layer",
    "jacobian_layers",  # jacobians.layers_per_job > 1
    "lyapunov_ftle",
    "lyapunov_spectrum",
    "lyapunov_attribution",
    "lyapunov_attention",
    "loop_spectrum",  # loop transformers (rules/loops.smk)
    "loop_attribution",
    "loop_cosine",
    "loop_checkpoint",
    "trajectory_generate",
    "protocol_tables",  # both protocols' Jacobians (rules/protocols.smk)
}
# Target rules without an action: Snakemake runs them on the submit host.
TARGET_RULES = {"all", "figures"}


def copy_workflow(dest: Path) -> Path:
    """A fresh copy of the workflow (code, configs, profiles) at dest."""
    shutil.copytree(ROOT, dest, ignore=_IGNORE, dirs_exist_ok=True)
    return dest


@contextmanager
def edited(path: Path):
    """The file with a comment appended and its mtime in the future (a code change Snakemake
    sees); its text and times are restored afterwards."""
    text, stat = path.read_text(), path.stat()
    try:
        path.write_text(text + "\n# edited by a workflow test\n")
        now = time.time() + 2
        os.utime(path, (now, now))
        yield path
    finally:
        path.write_text(text)
        os.utime(path, (stat.st_atime, stat.st_mtime))


def clean_env(**extra) -> dict:
    """The test process environment without RESDYN_* cluster settings, plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESDYN_SLURM_")}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def snakemake(args, cwd: Path, env=None, timeout=None, check=True) -> subprocess.CompletedProcess:
    """Run `python -m snakemake args` in cwd; on failure show its output."""
    cmd = [sys.executable, "-m", "snakemake", *map(str, args)]
    proc = subprocess.run(
        cmd, cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(map(str, args))} failed ({proc.returncode}):\n"
            f"{proc.stdout[-6000:]}\n{proc.stderr[-12000:]}"
        )
    return proc


@dataclass
class PlannedJob:
    rule: str
    wildcards: dict = field(default_factory=dict)
    resources: dict = field(default_factory=dict)
    input: str = ""
    output: str = ""
    reason: str = ""
    threads: int = 1
    local: bool = False  # a localrule: runs on the submit host, never submitted


_KV = re.compile(r"(\w+)=((?:[^,]|,(?!\s*\w+=))*)")


def _value(v: str):
    v = v.strip()
    return int(v) if re.fullmatch(r"-?\d+", v) else v


def _pairs(text: str) -> dict:
    return {k: _value(v) for k, v in _KV.findall(text)}


def parse_dry_run(text: str) -> list[PlannedJob]:
    """Jobs of a `snakemake -n` listing (rule blocks with wildcards/resources)."""
    jobs: list[PlannedJob] = []
    current = None
    for line in text.splitlines():
        m = re.match(r"^(local)?(?:rule|checkpoint) (\w+):\s*$", line.strip())
        if m:
            current = PlannedJob(m.group(2), local=bool(m.group(1)))
            jobs.append(current)
            continue
        if current is None:
            continue
        m = re.match(r"^\s+(wildcards|resources|input|output|reason|threads): (.*)$", line)
        if m:
            key, value = m.groups()
            if key in ("wildcards", "resources"):
                setattr(current, key, _pairs(value))
            elif key == "threads":
                current.threads = int(value)
            else:
                setattr(current, key, value)
        elif not line.strip():
            current = None
    return jobs


def job_counts(text: str) -> dict[str, int]:
    """The `Job stats` table of a dry run as {rule: count}; {} when nothing to do."""
    counts: dict[str, int] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == "Job stats:":
            for row in lines[i + 3:]:
                parts = row.split()
                if len(parts) != 2 or parts[0] == "total":
                    break
                counts[parts[0]] = int(parts[1])
            break
    return counts


def dry_run(cwd: Path, *args, env=None) -> tuple[list[PlannedJob], dict[str, int], str]:
    proc = snakemake(["-n", "--cores", "1", *args], cwd=cwd, env=env)
    text = proc.stdout + proc.stderr
    return parse_dry_run(text), job_counts(text), text


# Settings the single-node test cluster needs on top of the A100 profile: it has no
# accounting database (sacct fails, so poll with squeue), jobs are seconds long, and
# the test wants every SLURM log kept to inspect it.
TEST_PROFILE_OVERRIDES = {
    "slurm-status-command": "squeue",
    "slurm-init-seconds-before-status-checks": 1,
    "slurm-keep-successful-logs": True,
    "slurm-no-account": True,
    "max-status-checks-per-second": 2,
    "latency-wait": 5,
    "jobs": 4,
}


def derive_test_profile(dest: Path, env: dict | None = None, **overrides) -> Path:
    """A profile at dest: profiles/slurm-a100 as the environment `env` renders it,
    with TEST_PROFILE_OVERRIDES (and `overrides`) on top. GPU/CPU placement and the
    resource functions are the A100 profile's own."""
    import yaml
    import yte

    saved = dict(os.environ)
    try:
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        with open(ROOT / "profiles" / "slurm-a100" / "config.yaml") as fh:
            profile = yte.process_yaml(fh, require_use_yte=True)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    profile.update(TEST_PROFILE_OVERRIDES)
    profile.update(overrides)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return dest


def list_rules(cwd: Path, *args) -> set[str]:
    """Rule names of the workflow (`--list-rules` prints docstrings indented below)."""
    out = snakemake(["--list-rules", *args], cwd=cwd).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip() and not line[0].isspace()}
