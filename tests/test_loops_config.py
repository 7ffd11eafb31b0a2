"""config/loops.yaml plans the loop study alone on the A100 profile; a `loops` section
adds it to a decoder config; the embedded default plans no loop job; cross-key errors
name their keys."""
from __future__ import annotations

import copy

import pytest
import yaml

from resdyn.core.config_checks import ConfigError
from resdyn.loops.config import check_loops_config
from slurm.workflow_helpers import GPU_RULES, ROOT, copy_workflow, dry_run

LOOP_GPU_RULES = {"loop_spectrum", "loop_attribution", "loop_cosine", "loop_checkpoint"}


@pytest.fixture(scope="module")
def loops_plan(tmp_path_factory):
    wd = copy_workflow(tmp_path_factory.mktemp("loops") / "wf")
    planned, counts, text = dry_run(wd, "--profile", "profiles/slurm-a100", "--configfile", "config/loops.yaml")
    assert planned, text[-3000:]
    return planned, counts


def test_loops_yaml_plans_every_loop_job_and_nothing_else(loops_plan):
    planned, counts = loops_plan
    cfg = yaml.safe_load((ROOT / "config" / "loops.yaml").read_text())["loops"]
    n_models, n_study, n_series = len(cfg["models"]), len(cfg["study"]), len(cfg["checkpoints"]["series"])
    assert (n_models, n_study, n_series) == (10, 2, 9)
    assert counts == {"corpus": 1, "loop_prepare": n_models, "loop_prompts": 1, "loop_spectrum": n_study,
                      "loop_attribution": n_study, "loop_cosine": n_study, "loop_checkpoint": n_series,
                      "loop_combine": 6, "fig_loops": 1, "all": 1}
    for job in planned:
        res = job.resources
        if job.rule in LOOP_GPU_RULES:
            assert res["slurm_partition"] == "gpu" and res["gpu"] == 1 and res["gpu_model"] == "a100", job
            assert res["tasks"] == 0 and "gres" not in res, job
        elif job.rule != "all":
            assert res["slurm_partition"] == "cpu" and "gpu" not in res, job


def test_loop_job_resources_scale_with_the_model_and_the_work(loops_plan):
    planned, _ = loops_plan

    def res(rule, model):
        return next(j.resources for j in planned if j.rule == rule and j.wildcards.get("model") == model)

    ouro, huginn = res("loop_spectrum", "ouro_1p4b"), res("loop_spectrum", "huginn_0125")
    assert huginn["mem_mb"] > ouro["mem_mb"] > 4 * 1.4e9 / 2**20  # float32 weights in host memory
    assert huginn["runtime"] > ouro["runtime"]
    # 20 prompts x 64 steps x 50 probes take longer than 5 prompts x 32 steps x 1 probe
    assert res("loop_spectrum", "huginn_0125")["runtime"] > res("loop_checkpoint", "huginn_0125")["runtime"]


def test_a_loops_section_adds_the_study_to_a_decoder_config(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    paper = yaml.safe_load((wd / "config" / "paper.yaml").read_text())
    paper["loops"] = yaml.safe_load((wd / "config" / "loops.yaml").read_text())["loops"]
    (wd / "config" / "both.yaml").write_text(yaml.safe_dump(paper, sort_keys=False))
    _, counts, _ = dry_run(wd, "--configfile", "config/both.yaml")
    assert counts["loop_spectrum"] == 2 and counts["loop_checkpoint"] == 9
    assert counts["prepare_model"] == 5 and counts["corpus"] == 1  # the pipeline's own jobs stay


def test_the_embedded_default_plans_no_loop_job(tmp_path):
    _, counts, _ = dry_run(copy_workflow(tmp_path / "wf"))
    assert counts and not [r for r in counts if r.startswith("loop_")]
    assert LOOP_GPU_RULES <= GPU_RULES


def test_cross_key_errors_name_their_keys():
    base = yaml.safe_load((ROOT / "config" / "loops.yaml").read_text())["loops"]
    base["prompts"] = {"n": 20, "listed": ["a", "b"]}
    base["checkpoints"].update(n_prompts=5)
    check_loops_config(base)
    for edit, key in [(lambda c: c["study"].append("ouro_2p6b"), "loops.study"),
                      (lambda c: c["checkpoints"]["series"].reverse(), "training order"),
                      (lambda c: c["checkpoints"].update(n_prompts=30), "loops.checkpoints.n_prompts"),
                      (lambda c: c["checkpoints"]["series"].append({"model": "ouro_1p4b", "step": 10**6}),
                       "mixes architectures")]:
        bad = copy.deepcopy(base)
        edit(bad)
        with pytest.raises(ConfigError, match=key):
            check_loops_config(bad)


SCHEMA = str(ROOT / "schemas" / "config.schema.yaml")


def _validate(cfg):
    from snakemake.utils import validate

    validate(copy.deepcopy(cfg), SCHEMA)


def test_schema_takes_the_loop_study_alone_and_fills_its_defaults():
    from snakemake.utils import validate

    cfg = yaml.safe_load((ROOT / "config" / "loops.yaml").read_text())
    validate(cfg, SCHEMA)
    assert cfg["loops"]["prompts"]["listed"][0] == "Water is composed of"  # schema default: the seed's five
    assert cfg["loops"]["loop_state"] == "sequence" and cfg["loops"]["dtype"] == "float32"
    for edit, match in [(lambda c: c.pop("loops"), "runs|loops"),
                        (lambda c: c["loops"]["models"]["ouro_1p4b"].update(arch="llama"), "llama"),
                        (lambda c: c["loops"]["models"]["ouro_1p4b"].pop("model_id"), "model_id"),
                        (lambda c: c["loops"]["spectrum"].update(kk=3), "kk")]:
        bad = yaml.safe_load((ROOT / "config" / "loops.yaml").read_text())
        edit(bad)
        with pytest.raises(Exception, match=match):
            _validate(bad)


def test_a_decoder_config_still_needs_all_its_sections():
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    _validate(cfg)
    cfg.pop("jacobians")
    with pytest.raises(Exception):
        _validate(cfg)
