"""config/pythia.yaml plans on a cluster: nine Pythia-160M checkpoints, their Jacobians one job per
(run, layer) on the GPU partition, and the checkpoint series' table, figure and scorecard."""
import yaml

from slurm.workflow_helpers import GPU_RULES, ROOT, TARGET_RULES, copy_workflow, dry_run

STEPS = [0, 1000, 2000, 4000, 8000, 16000, 32000, 64000, 143000]
RUNS = [f"pythia160m_step{s}" for s in STEPS]


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
    # FTLE, spectra and attribution at every checkpoint (GPT-NeoX: one parallel attention + MLP step
    # per layer); token trajectories for the eight trained ones (the step-0 null generates nothing)
    for rule in ("lyapunov_ftle", "lyapunov_spectrum", "lyapunov_attribution", "lyapunov_attention"):
        assert {j.wildcards["run"] for j in planned if j.rule == rule} == set(RUNS), rule
    assert {j.wildcards["run"] for j in planned if j.rule == "trajectory_generate"} == set(RUNS[1:])
    for job in planned:
        if job.rule in TARGET_RULES:
            continue
        expected = "gpu" if job.rule in GPU_RULES else "cpu"
        assert job.resources.get("slurm_partition") == expected, (job.rule, job.resources)
    findings = next(j for j in planned if j.rule == "findings")
    assert "results/tables/checkpoint_series.csv" in findings.input
