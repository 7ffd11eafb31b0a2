"""A hard kill loses nothing: `make run` after it redoes exactly the unfinished jobs, and the
final tables are byte-identical to those of an uninterrupted run.

The tiny workflow with two layers per Jacobian job (chunks 00-01 and 02-02) is started with
`make run`. A sitecustomize on the jobs' PYTHONPATH pauses the Jacobian job of chunk 00-01
right after it has written layer 00 (mid-chunk), and the test then SIGKILLs either that job
alone or the whole process group of make and Snakemake (which leaves Snakemake's lock
behind). A second `make run` must finish the workflow by itself.

"Exactly the unfinished jobs": the jobs the second run starts are disjoint from the jobs the
first run reported finished, and together they are the jobs of the uninterrupted run.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from slurm.workflow_helpers import ROOT, clean_env, copy_workflow, snakemake

TINY = yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text())
CONFIG = "config/tiny_chunks.yaml"
PAUSE_AT = "jacobian_chunks/layers_00-01/layer_00.npz"
RUN_LIMIT_S = 1800

# Pauses the process that writes PAUSE_AT (the chunk job, between its two layers) and tells
# the test its PID through the flag file.
PAUSE_HOOK = """
import os
if os.environ.get("RESDYN_TEST_PAUSE_AT"):
    try:
        import resdyn.core.io as _io
    except ImportError:  # not a process of this workflow
        _io = None
    if _io is not None:
        _save_npz = _io.save_npz

        def save_npz(path, **arrays):
            _save_npz(path, **arrays)
            if str(path).endswith(os.environ["RESDYN_TEST_PAUSE_AT"]):
                with open(os.environ["RESDYN_TEST_PAUSE_FLAG"], "w") as fh:
                    fh.write(str(os.getpid()))
                import time
                time.sleep(3600)

        _io.save_npz = save_npz
"""


def _workflow(dest: Path) -> Path:
    wd = copy_workflow(dest)
    cfg = dict(TINY, jacobians=dict(TINY["jacobians"], layers_per_job=2))
    (wd / CONFIG).write_text(yaml.safe_dump(cfg, sort_keys=False))
    (wd / ".venv").symlink_to(Path(sys.executable).parents[1])
    return wd


def _make_run(wd: Path, log: Path, env: dict, **popen) -> subprocess.Popen:
    # -o: the shared venv is installed; never let make reinstall it
    cmd = ["make", "-o", ".venv/.installed-stamp", "run", f"CONFIG={CONFIG}", "CORES=2"]
    return subprocess.Popen(cmd, cwd=wd, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, **popen)


_JOB = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):\s*$")


def started_and_finished(text: str) -> tuple[dict[int, tuple], set[int]]:
    """{jobid: (rule, output)} of every job a Snakemake log shows starting, and the jobids
    it reports finished."""
    jobs, current = {}, None
    for line in text.splitlines():
        m = _JOB.match(line.strip())
        if m:
            current = {"rule": m.group(1), "output": ""}
            continue
        if line[:1] not in ("", " ", "\t"):  # "Error in rule ...", "[date]": the block has ended
            current = None
        if current is None:
            continue
        m = re.match(r"^\s+(output|jobid): (.*)$", line)
        if m:
            current[m.group(1)] = m.group(2).strip()
            if m.group(1) == "jobid":
                jobs[int(current["jobid"])] = (current["rule"], current["output"])
        elif not line.strip():
            current = None
    finished = {int(j) for j in re.findall(r"Finished jobid: (\d+)", text)}
    return jobs, finished


def job_set(text: str, finished_only=False) -> set[tuple]:
    jobs, finished = started_and_finished(text)
    return {job for jobid, job in jobs.items() if not finished_only or jobid in finished}


def final_tables(wd: Path) -> dict[str, bytes]:
    folder = wd / "results" / "tables"
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix in (".csv", ".md")}


def _wait_for(path: Path, proc: subprocess.Popen, log: Path, limit=RUN_LIMIT_S) -> int:
    t0 = time.monotonic()
    while not (path.is_file() and path.read_text()):
        assert proc.poll() is None, f"the run ended before the pause:\n{log.read_text()[-5000:]}"
        assert time.monotonic() - t0 < limit, "the chunk job never reached its pause"
        time.sleep(0.2)
    return int(path.read_text())


def processes_in(folder: Path) -> list[str]:
    """Live processes whose working directory is inside folder (what a run left running)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cwd = Path(os.readlink(proc / "cwd"))
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
                zombie = (proc / "stat").read_text().split(") ")[-1].startswith("Z")
            except OSError:
                continue
            if (cwd == folder or folder in cwd.parents) and not zombie:
                found.append(f"{proc.name}: {cmd}")
    return found


def _gone(pid: int, wait_s=30) -> bool:
    for _ in range(int(wait_s * 10)):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].startswith("Z"):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted `make run`: its log and its final tables."""
    wd = _workflow(tmp_path_factory.mktemp("uninterrupted") / "wf")
    log = wd.parent / "run.log"
    proc = _make_run(wd, log, clean_env())
    assert proc.wait(timeout=RUN_LIMIT_S) == 0, log.read_text()[-6000:]
    return job_set(log.read_text()), final_tables(wd)


def _interrupted(tmp_path: Path, kill_whole_group: bool):
    wd = _workflow(tmp_path / "wf")
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(PAUSE_HOOK)
    flag = tmp_path / "paused.pid"
    paused_env = clean_env(
        PYTHONPATH=os.pathsep.join([str(wd), str(hook)]),
        RESDYN_TEST_PAUSE_AT=PAUSE_AT,
        RESDYN_TEST_PAUSE_FLAG=flag,
    )
    log1 = tmp_path / "run1.log"
    run1 = _make_run(wd, log1, paused_env, start_new_session=True)
    try:
        job_pid = _wait_for(flag, run1, log1)
        chunk = wd / "results" / "tiny" / "jacobian_chunks" / "layers_00-01"
        assert not chunk.exists(), "the chunk folder is in place before its job finished"
        if kill_whole_group:
            os.killpg(run1.pid, signal.SIGKILL)
            run1.wait(timeout=60)
            assert list((wd / ".snakemake" / "locks").iterdir()), "a SIGKILLed Snakemake leaves its lock"
        else:
            os.kill(job_pid, signal.SIGKILL)
            assert run1.wait(timeout=RUN_LIMIT_S) != 0, "the run succeeded although its Jacobian job was killed"
        assert _gone(job_pid), f"the paused Jacobian job {job_pid} outlived the kill"
    finally:
        if run1.poll() is None:
            os.killpg(run1.pid, signal.SIGKILL)
            run1.wait(timeout=60)
    assert not chunk.exists(), f"the killed job left {chunk}"
    # a job can finish its outputs in the instant before the kill, too late for the log to say so
    present = {str(p.relative_to(wd)) for p in (wd / "results").rglob("*")}

    log2 = tmp_path / "run2.log"
    run2 = _make_run(wd, log2, clean_env())
    assert run2.wait(timeout=RUN_LIMIT_S) == 0, log2.read_text()[-6000:]
    return wd, log1.read_text(), log2.read_text(), present


@pytest.mark.parametrize("kill_whole_group", [False, True], ids=["kill_jacobian_job", "sigkill_snakemake_group"])
def test_make_run_after_a_hard_kill_redoes_exactly_the_unfinished_jobs(reference, tmp_path, kill_whole_group):
    all_jobs, tables = reference
    wd, out1, out2, present = _interrupted(tmp_path, kill_whole_group)
    if kill_whole_group:
        assert "lifting its stale lock and resuming" in out2, out2[-3000:]
    # done before the kill: logged as finished, or every output in place when the run died
    done_before = job_set(out1, finished_only=True) | {
        job for job in job_set(out1) if job[1] and all(o in present for o in job[1].split(", "))
    }
    redone = job_set(out2)
    assert ("jacobian_layers", "results/tiny/jacobian_chunks/layers_00-01") in redone, sorted(redone)
    assert not done_before & redone, f"the rerun redid finished jobs: {sorted(done_before & redone)}"
    assert done_before | redone == all_jobs, (
        f"missing: {sorted(all_jobs - done_before - redone)}\nextra: {sorted(done_before | redone - all_jobs)}"
    )
    assert final_tables(wd) == tables, "final tables differ from the uninterrupted run's"
    # nothing left to do, and no shadow folder of the killed job left behind
    dry = snakemake(["-n", "--cores", "1", "--configfile", CONFIG], cwd=wd)
    assert "Nothing to be done" in dry.stdout + dry.stderr, (dry.stdout + dry.stderr)[-3000:]
    shadow = wd / ".snakemake" / "shadow"
    assert not shadow.exists() or not any(shadow.iterdir()), list(shadow.iterdir())
    assert not processes_in(wd), f"processes of the runs still alive: {processes_in(wd)}"


def test_a_lock_make_cannot_vouch_for_names_the_one_command(tmp_path):
    """A lock with no `make run` PID behind it (a Snakemake started by hand): make run stops
    at once and says what to type."""
    wd = _workflow(tmp_path / "wf")
    (wd / ".snakemake" / "locks").mkdir(parents=True)
    (wd / ".snakemake" / "locks" / "0.input.lock").write_text("results/corpus/samples.jsonl\n")
    log = tmp_path / "run.log"
    proc = _make_run(wd, log, clean_env())
    assert proc.wait(timeout=120) != 0
    assert "make unlock run" in log.read_text(), log.read_text()
    assert not (wd / "results").exists(), "make run started work on a locked folder"


def test_a_lock_of_a_live_make_run_is_left_alone(tmp_path):
    """The Snakemake that `make run` recorded is still running here: a second make run
    must not lift its lock."""
    wd = _workflow(tmp_path / "wf")
    (wd / ".snakemake" / "locks").mkdir(parents=True)
    (wd / ".snakemake" / "locks" / "0.input.lock").write_text("results/corpus/samples.jsonl\n")
    alive = subprocess.Popen(["bash", "-c", "exec -a snakemake sleep 120"], cwd=wd)  # stands in for it
    try:
        (wd / ".snakemake" / "make_run.pid").write_text(f"{alive.pid}\n")
        log = tmp_path / "run.log"
        proc = _make_run(wd, log, clean_env(), start_new_session=True)
        try:
            assert proc.wait(timeout=120) != 0
        finally:  # a broken check would start the workflow: end it
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        assert f"Snakemake (pid {alive.pid}) is still running in this folder" in log.read_text(), log.read_text()
        assert (wd / ".snakemake" / "locks" / "0.input.lock").exists()
    finally:
        alive.kill()
        alive.wait()
