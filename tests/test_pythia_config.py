"""config/pythia.yaml plans on a cluster: nine Pythia-160M checkpoints, their Jacobians one job per
(run, layer) on the GPU partition, and the checkpoint series' table, figure and scorecard."""
import json

import yaml

from slurm.workflow_helpers import GPU_RULES, ROOT, TARGET_RULES, copy_workflow, dry_run, snakemake

STEPS = [0, 1000, 2000, 4000, 8000, 16000, 32000, 64000, 143000]
RUNS = [f"pythia160m_step{s}" for s in STEPS]
# EleutherAI/pythia-160m's config.json, as prepare_model leaves it (12 layers, d = 768)
PYTHIA = dict(model_type="gpt_neox", num_hidden_layers=12, hidden_size=768, intermediate_size=3072,
              vocab_size=50304, num_attention_heads=12, use_parallel_residual=True)


def test_the_pythia_config_declares_its_series_in_training_order():
    cfg = yaml.safe_load((ROOT / "config" / "pythia.yaml").read_text())
    assert sorted(cfg["runs"]) == sorted(RUNS)
    assert cfg["checkpoint_series"] == {"pythia160m": {"runs": RUNS, "steps": STEPS}}
    for run, step in zip(RUNS, STEPS):
        spec = cfg["runs"][run]
        assert (spec["source"], spec["model_id"], spec["revision"]) == ("hf", "EleutherAI/pythia-160m", f"step{step}")
    assert cfg["runs"][RUNS[0]]["null_of"] == RUNS[-1]  # step 0: the null, exempt from the health gate
    assert cfg["corpus"]["source"] == "wikitext_hf" and cfg["corpus"]["dataset_config"] == "wikitext-2-raw-v1"


def test_pythia_dry_run_plans_every_jacobian_and_the_series(tmp_path):
    wd = copy_workflow(tmp_path / "wf")  # no model prepared: runs.<name>.n_layers plans the Jacobians
    planned, counts, text = dry_run(wd, "--profile", "profiles/slurm-a100", "--configfile", "config/pythia.yaml")
    assert planned, text[-3000:]
    shards = {(j.wildcards["run"], int(j.wildcards["layer"])) for j in planned if j.rule == "jacobian_layer"}
    assert shards == {(run, layer) for run in RUNS for layer in range(12)}
    assert counts["checkpoint_series_table"] == counts["fig_checkpoint_series"] == counts["findings"] == 1
    # GPT-NeoX has no residual split in the Lyapunov maps: both stages that use them are off
    assert not [r for r in counts if r.startswith(("lyapunov_", "trajectory_"))], counts
    for job in planned:
        if job.rule in TARGET_RULES:
            continue
        expected = "gpu" if job.rule in GPU_RULES else "cpu"
        assert job.resources.get("slurm_partition") == expected, (job.rule, job.resources)
    findings = next(j for j in planned if j.rule == "findings")
    assert "results/tables/checkpoint_series.csv" in findings.input


def test_a_prepared_gpt_neox_run_in_the_lyapunov_stage_is_refused_at_start(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    cfg = yaml.safe_load((wd / "config" / "pythia.yaml").read_text())
    cfg["lyapunov"]["runs"] = [RUNS[-1]]
    (wd / "lyap.yaml").write_text(yaml.safe_dump(cfg))
    folder = wd / "resources" / "models" / RUNS[-1]
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(PYTHIA))
    proc = snakemake(["-n", "--cores", "1", "--configfile", "lyap.yaml"], cwd=wd, check=False)
    assert proc.returncode != 0
    assert f"lyapunov.runs holds run '{RUNS[-1]}', a 'gpt_neox' model" in proc.stdout + proc.stderr
