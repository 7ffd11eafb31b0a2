"""What a job's Python sees: this checkout first on PYTHONPATH, the user's entries kept after it."""
from __future__ import annotations

import os

from slurm.workflow_helpers import clean_env, copy_workflow, snakemake

# Python runs `sitecustomize` from the first sys.path entry that has one: a folder on the
# user's PYTHONPATH holding this probe records the PYTHONPATH of every process that sees it.
PROBE = """
import os
with open(os.environ["RESDYN_TEST_PROBE_LOG"], "a") as fh:
    fh.write(os.environ.get("PYTHONPATH", "") + "\\n")
"""


def test_jobs_keep_the_users_pythonpath(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    user_lib = tmp_path / "user_lib"
    user_lib.mkdir()
    (user_lib / "sitecustomize.py").write_text(PROBE)
    probe_log = tmp_path / "probe.log"
    env = clean_env(PYTHONPATH=user_lib, RESDYN_TEST_PROBE_LOG=probe_log)
    snakemake(
        ["results/corpus/samples.jsonl", "--cores", "1", "--configfile", "config/tiny.yaml"],
        cwd=wd, env=env, timeout=600,
    )
    seen = probe_log.read_text().splitlines()
    in_jobs = [p.split(os.pathsep) for p in seen if p.split(os.pathsep)[0] == str(wd)]
    assert in_jobs, f"no job saw the user's PYTHONPATH (seen: {seen})"
    assert all(path == [str(wd), str(user_lib)] for path in in_jobs), in_jobs
