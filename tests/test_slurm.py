"""The tiny configuration end to end on a real single-node SLURM cluster.

tests/slurm/cluster.sh installs Debian's slurm-wlm + munge (if missing) and starts
munged, slurmctld and slurmd as root, with partitions `cpu` and `gpu` and one fake GPU
(GRES). Snakemake submits every job with `--executor slurm` through a profile derived
from profiles/slurm-a100. One Jacobian shard is cancelled while its script runs; the
test checks that nothing of it looks complete, that the failure names its SLURM log,
that a rerun submits only the missing jobs, and then, from SLURM's own records, that
GPU rules ran in partition `gpu` with a GPU and everything else in `cpu`.

Skips only where it cannot run: not root, or SLURM missing and no apt-get. In CI (root,
apt) it runs. Budget: ~16 s apt install, <1 s cluster start, a few minutes of jobs.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from slurm.workflow_helpers import (
    GPU_RULES,
    ROOT,
    clean_env,
    copy_workflow,
    derive_test_profile,
    dry_run,
    job_counts,
)

CLUSTER = ROOT / "tests" / "slurm" / "cluster.sh"
BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol")
RUN_LIMIT_S = 1200  # one snakemake invocation; CI's whole budget is 90 min
# Every process this test starts carries this variable, inherited down to the SLURM jobs
# (sbatch --export=ALL), their job steps and the rule scripts: the daemons, Snakemake,
# and whatever a cancelled job leaves orphaned are found by it, ended, and checked gone.
TAG = "RESDYN_TEST_PROCESS_TAG"  # not RESDYN_SLURM_*: clean_env drops those
TAG_VALUE = f"{os.getpid()}-{uuid.uuid4().hex}"


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root (it starts munged, slurmctld and slurmd)"
    if not all(shutil.which(b) for b in BINARIES) and shutil.which("apt-get") is None:
        return "slurm-wlm/munge are not installed and apt-get is unavailable to install them"
    return None


def _sh(*args, env=None, timeout=60, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def cluster():
    reason = _skip_reason()
    if reason:
        pytest.skip(f"real SLURM test skipped: {reason}")
    t0 = time.monotonic()
    _sh("bash", CLUSTER, "install", timeout=900)
    t_install = time.monotonic() - t0
    state = Path(f"/tmp/resdyn-slurm-test-{os.getpid()}")  # short: munge's socket path
    env = clean_env(RESDYN_SLURM_STATE=state, **{TAG: TAG_VALUE})
    up = _sh("bash", CLUSTER, "up", env=env, timeout=180, check=False)
    if up.returncode == 4:  # a real cluster's /etc/slurm/slurm.conf is in place
        pytest.skip(f"real SLURM test skipped: {up.stderr.strip()}")
    assert up.returncode == 0, f"cluster did not start:\n{up.stdout}\n{up.stderr}"
    print(f"slurm install {t_install:.1f} s, cluster up {time.monotonic() - t0 - t_install:.1f} s")
    pidfiles = [state / "slurmd.pid", state / "slurmctld.pid", state / "munge" / "munged.pid"]
    pids = [int(p.read_text()) for p in pidfiles]
    try:
        yield state
    finally:
        _sh("bash", CLUSTER, "down", env=env, timeout=180, check=False)
        for pid in pids:  # every daemon stopped, by its PID
            for _ in range(40):
                if not _alive(pid):
                    break
                time.sleep(0.25)
        stragglers = _end_tagged()
        shutil.rmtree(state, ignore_errors=True)
        assert not [p for p in pids if _alive(p)], f"daemons {pids} still running after cluster.sh down"
        assert not _tagged(), f"processes of this test still alive: {_describe(_tagged())}"
        if stragglers:
            print(f"ended {len(stragglers)} process(es) left after cluster.sh down: {stragglers}")


def _tagged() -> list[int]:
    """PIDs of live processes whose environment carries this test's tag."""
    needle = f"{TAG}={TAG_VALUE}".encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                if needle in (proc / "environ").read_bytes().split(b"\0") and _alive(int(proc.name)):
                    pids.append(int(proc.name))
            except OSError:  # gone meanwhile, or not ours to read
                continue
    return pids


def _describe(pids: list[int]) -> list[str]:
    out = []
    for pid in pids:
        try:
            cmd = (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            out.append(f"{pid}: {cmd[:200]}")
        except OSError:
            out.append(f"{pid}: (gone)")
    return out


def _end_tagged(grace_s: float = 10) -> list[str]:
    """SIGTERM, then SIGKILL, every process of this test still alive; their descriptions."""
    left = _tagged()
    described = _describe(left)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in left:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and any(_alive(p) for p in left):
            time.sleep(0.2)
        left = [p for p in left if _alive(p)]
        if not left:
            break
    return described


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


def _snakemake_cmd(*args) -> list[str]:
    # SIGTERM makes Snakemake wait for running jobs; -k makes sure it ends.
    return ["timeout", "-k", "30", str(RUN_LIMIT_S), sys.executable, "-m", "snakemake", *map(str, args)]


def _jobs() -> dict[int, dict]:
    """Every job the controller knows (MinJobAge keeps finished ones), by id."""
    out = _sh("scontrol", "-o", "show", "job", check=False).stdout
    jobs = {}
    for line in out.splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        if "JobId" in fields:
            jobs[int(fields["JobId"])] = fields
    return jobs


def _rule_of(job: dict) -> str:
    m = re.match(r"rule_(\w+?)(?:_wildcards_.*)?$", job.get("Comment", ""))
    return m.group(1) if m else ""


def _script_pids(name: str) -> list[int]:
    """PIDs of running Snakemake `script:` copies for rule scripts named name."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if f".{name}.py" in cmd and ".snakemake/scripts" in cmd:
                pids.append(int(proc.name))
    return pids


def _slurm_job_of(pid: int) -> int | None:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for item in env:
        if item.startswith(b"SLURM_JOB_ID="):
            return int(item.split(b"=", 1)[1])
    return None


def test_tiny_workflow_on_real_slurm(cluster, tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    profile = derive_test_profile(wd / "profiles" / "slurm-test", env=clean_env(RESDYN_SLURM_GPU_CPUS=1))
    env = clean_env(**{TAG: TAG_VALUE}, RESDYN_ALLOW_CPU=1)  # the node's GPU is fake (gres File=/dev/null)
    # Cap job memory at what the node offers (resource functions ask for >= 2-4 GB).
    node = dict(re.findall(r"(\w+)=(\S*)", _sh("scontrol", "-o", "show", "node").stdout))
    common = ["--profile", profile, "--configfile", "config/tiny.yaml", "--resources", f"mem_mb={node['RealMemory']}"]
    before = set(_jobs())

    # 1. Run everything; cancel the first Jacobian shard while its script runs.
    t0 = time.monotonic()
    log1 = open(tmp_path / "run1.log", "w+")
    proc = subprocess.Popen(
        _snakemake_cmd(*common, "--retries", "0"), cwd=wd, env=env, stdout=log1, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        killed = _cancel_first_jacobian_job(proc)
        proc.wait(timeout=RUN_LIMIT_S + 60)
    finally:  # a failed check must not leave Snakemake submitting behind the cluster's teardown
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # its SLURM jobs: cluster.sh down, then the tag sweep
            proc.wait(timeout=60)
    t_run1 = time.monotonic() - t0
    log1.seek(0)
    out1 = log1.read()
    assert killed is not None, f"no Jacobian job was seen running:\n{out1[-5000:]}"
    assert proc.returncode != 0, "snakemake succeeded although a Jacobian job was cancelled"
    _after_the_cancel(cluster, wd, common, env, before, killed, out1, t_run1)


def _cancel_first_jacobian_job(proc) -> int | None:
    """Cancel the SLURM job of the first Jacobian script seen running; its job id."""
    killed = None
    while proc.poll() is None and killed is None:
        for pid in _script_pids("jacobian_layer"):
            job_id = _slurm_job_of(pid)
            if job_id is not None:
                # the tag reaches the rule scripts inside job steps (so the final sweep sees them)
                assert pid in _tagged(), f"the Jacobian script {pid} of job {job_id} lacks {TAG}"
                _sh("scancel", str(job_id), check=False)
                killed = job_id
                break
        time.sleep(0.1)
    return killed


def _after_the_cancel(cluster, wd, common, env, before, killed, out1, t_run1):
    jobs = _jobs()
    layer = int(re.search(r"_(\d+)$", jobs[killed]["Comment"]).group(1))
    shard = wd / "results" / "tiny" / "jacobians" / f"layer_{layer:02d}.npz"
    # Nothing Snakemake could take as complete: no shard file, no temp file left in place.
    assert not shard.exists(), f"cancelled job left {shard}"
    leftovers = [p.name for p in shard.parent.iterdir() if f"layer_{layer:02d}" in p.name] if shard.parent.exists() else []
    assert not leftovers, f"cancelled job left {leftovers}"
    # The failure is reported with the SLURM log's path, and that log exists.
    m = re.search(rf"(\S*logs/slurm/rule_jacobian_layer/\S*/{killed}\.log)", out1)
    assert m, f"failure of SLURM job {killed} reported without its log path:\n{out1[-5000:]}"
    assert Path(m.group(1) if m.group(1).startswith("/") else wd / m.group(1)).is_file()

    # 2. A dry run plans only what is missing: that shard and what depends on it.
    planned, counts, text = dry_run(wd, *common, env=env)
    assert counts.get("jacobian_layer") == 1, text[-4000:]
    assert [j.wildcards.get("layer") for j in planned if j.rule == "jacobian_layer"] == [layer]
    for upstream in ("prepare_model", "corpus", "extract_activations"):
        assert upstream not in counts, f"rerun would redo {upstream}: {counts}"

    # 3. Resume: only the planned jobs are submitted, and the workflow completes.
    t0 = time.monotonic()
    run2 = subprocess.run(_snakemake_cmd(*common), cwd=wd, env=env, capture_output=True, text=True)
    t_run2 = time.monotonic() - t0
    out2 = run2.stdout + run2.stderr
    assert run2.returncode == 0, out2[-8000:]
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", out2)
    resumed = [_rule_of(_jobs()[int(j)]) for j in submitted]
    groups = set(resumed) - set(counts)  # group jobs (combine_table) are named by group
    assert set(resumed) - groups <= set(counts), f"resume submitted {resumed}, planned {counts}"
    assert resumed.count("jacobian_layer") == 1, resumed
    # the resource functions reach sbatch: the shard's --mem is what the plan said
    shard_job = next(_jobs()[int(j)] for j in submitted if _rule_of(_jobs()[int(j)]) == "jacobian_layer")
    planned_mem = next(j.resources.get("mem_mb") for j in planned if j.rule == "jacobian_layer")
    if isinstance(planned_mem, int):
        assert shard_job["MinMemoryNode"] == f"{planned_mem}M", (shard_job["MinMemoryNode"], planned_mem)
    assert not {"prepare_model", "corpus", "extract_activations"} & set(resumed), resumed
    print(f"run with kill {t_run1:.0f} s, resume {t_run2:.0f} s ({len(submitted)} jobs)")

    # 4. Outputs: nothing left to do, every table and figure there, shards complete.
    assert job_counts(dry_run(wd, *common, env=env)[2]) == {}
    tables = list((wd / "results" / "tables").glob("*.csv"))
    figures = list((wd / "results" / "figures").glob("*.png"))
    assert tables and figures
    import numpy as np

    for path in sorted((wd / "results" / "tiny" / "jacobians").glob("layer_*.npz")):
        with np.load(path) as z:
            assert z["mean_J"].shape == (32, 32) and np.isfinite(z["mean_J"]).all()

    # 5. SLURM's record: GPU rules in partition gpu with a GPU, all others in cpu without.
    ours = {i: j for i, j in _jobs().items() if i not in before and _rule_of(j)}
    assert ours, "no SLURM jobs recorded"
    gpu_rules = set()
    for job_id, job in ours.items():
        rule = _rule_of(job)
        gres = " ".join(job.get(k, "") for k in ("TresPerJob", "TresPerNode", "TresPerTask"))
        if rule in GPU_RULES:
            gpu_rules.add(rule)
            assert job["Partition"] == "gpu", f"{rule} (job {job_id}) ran in {job['Partition']}"
            assert "gpu" in gres, f"{rule} (job {job_id}) requested no GPU: {gres!r}"
        else:
            assert job["Partition"] == "cpu", f"{rule} (job {job_id}) ran in {job['Partition']}"
            assert "gpu" not in gres, f"{rule} (job {job_id}) requested a GPU: {gres!r}"
        # the job's own log, kept by the test profile
        assert list((wd / "logs" / "slurm").rglob(f"{job_id}.log")), f"no SLURM log for job {job_id}"
    assert {"extract_activations", "jacobian_layer"} <= gpu_rules
    # jobcomp/filetxt: the controller's completion record agrees on the partitions
    record = (cluster / "jobcomp.log").read_text()
    for job_id, job in ours.items():
        m = re.search(rf"^JobId={job_id} .*?Partition=(\S+)", record, re.M)
        assert m and m.group(1) == job["Partition"], f"jobcomp record of {job_id}"
    assert jobs[killed]["JobState"] == "CANCELLED"
