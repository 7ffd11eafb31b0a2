"""Bad configs fail at start-up with the offending key named."""
import copy
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from snakemake.utils import validate

from resdyn.core.config_checks import ConfigError, canonical, check_config
from config_helpers import reversed_keys

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "schemas" / "config.schema.yaml")


@pytest.fixture
def config():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def _invalid(cfg, match):
    with pytest.raises(Exception, match=match):
        validate(copy.deepcopy(cfg), SCHEMA)


def test_embedded_default_is_valid(config):
    validate(config, SCHEMA)
    check_config(config, models_dir="/nonexistent")


def test_unknown_key_is_named(config):
    config["spectra"]["kk"] = 3
    _invalid(config, "'kk' was unexpected")


def test_nonpositive_sample_count_is_refused(config):
    config["corpus"]["n_samples"] = 0
    _invalid(config, "n_samples")


def test_unknown_run_source_is_refused(config):
    config["runs"]["smollm2_135m"]["source"] = "torrent"
    _invalid(config, "torrent")


def test_unknown_protocol_is_refused(config):
    config["runs"]["smollm2_135m"]["protocol"] = "sideways"
    _invalid(config, "sideways")


def test_init_run_must_name_an_existing_base(config):
    config["runs"]["smollm2_135m_step0"]["base"] = "nope"
    with pytest.raises(ConfigError, match="runs.smollm2_135m_step0.base = 'nope' is not a run"):
        check_config(config)


def test_k_larger_than_a_known_d_is_refused(config):
    config["runs"] = {"tiny": {"source": "init", "seed": 0, "config": {"model_type": "llama", "hidden_size": 32}}}
    config["protocol_comparison"] = {"run": "tiny"}
    config["spectra"]["k"] = 64
    with pytest.raises(ConfigError, match="spectra.k = 64 exceeds the hidden size d = 32 of run 'tiny'"):
        check_config(config)


def test_local_run_without_a_model_is_refused(config, tmp_path):
    config["runs"]["mine"] = {"source": "local", "path": str(tmp_path)}
    with pytest.raises(ConfigError, match="runs.mine.path"):
        check_config(config)


def test_knn_not_below_a_known_d_is_refused(config):
    config["runs"] = {"tiny": {"source": "init", "seed": 0, "config": {"model_type": "llama", "hidden_size": 32}}}
    config["protocol_comparison"] = {"run": None}
    config["spectra"]["k"] = 4
    config["graphs"]["knn"] = 31  # every other unit: the largest k-NN there is
    check_config(config)
    config["graphs"]["knn"] = 32
    with pytest.raises(ConfigError, match=r"graphs.knn = 32 must be below the hidden size d = 32 of run 'tiny'"):
        check_config(config)


def test_knn_is_checked_against_a_prepared_model(config, tmp_path):
    """GGUF runs: d is read from the prepared folder (the issue's 5000 with d = 576)."""
    (tmp_path / "smollm2_135m").mkdir()
    (tmp_path / "smollm2_135m" / "config.json").write_text('{"hidden_size": 576}')
    config["graphs"]["knn"] = 5000
    with pytest.raises(ConfigError, match=r"graphs.knn = 5000 must be below the hidden size d = 576 of run 'smollm2_135m'"):
        check_config(config, models_dir=tmp_path)


def test_min_chars_above_max_chars_is_refused(config):
    config["corpus"].update(min_chars=800, max_chars=800)
    check_config(config, models_dir="/nonexistent")  # equal: one length passes
    config["corpus"]["min_chars"] = 801
    with pytest.raises(ConfigError, match="corpus.min_chars = 801 exceeds corpus.max_chars = 800"):
        check_config(config, models_dir="/nonexistent")


@pytest.mark.parametrize("bounds", [[0.8, 0.2], [0.5, 0.5]])
def test_regime_bounds_must_increase(config, bounds):
    config["spectra"]["regime_bounds"] = bounds
    with pytest.raises(ConfigError, match=re.escape(f"spectra.regime_bounds = {bounds} must increase")):
        check_config(config, models_dir="/nonexistent")


def test_trajectory_thresholds_are_all_set_and_ordered(config):
    thresholds = config["token_trajectories"]["regimes"]["thresholds"]
    del thresholds["ct_kinematic"]["clipped_mad"]["variability_high"]
    _invalid(config, "'variability_high' is a required property")
    del thresholds["ct_kinematic"]
    _invalid(config, "'ct_kinematic' is a required property")
    thresholds["ct_dynamical"]["raw"].update(level_low=0.5, level_high=0.2)
    with pytest.raises(ConfigError, match=re.escape("thresholds.ct_dynamical.raw: level_low = 0.5 exceeds level_high = 0.2")):
        check_config(config, models_dir="/nonexistent")


def test_regime_layers_must_increase(config):
    config["runs"]["smollm2_135m"]["regime_layers"] = [20, 8]
    with pytest.raises(ConfigError, match=re.escape("runs.smollm2_135m.regime_layers = [20, 8] must increase")):
        check_config(config, models_dir="/nonexistent")


@pytest.mark.parametrize("doses", [[0.25, 0.5, 1, 2], [0, 1, 1.5], [0, 0.5, 2.0]])
def test_schur_doses_without_table3_doses_are_refused(config, doses):
    missing = [c for c in (0, 1, 2) if c not in doses]
    config["schur"].update(modes=["J", "R"], doses=doses)  # config/paper.yaml's modes
    with pytest.raises(ConfigError, match=re.escape(f"schur.doses = {doses} lacks {missing}")):
        check_config(config, models_dir="/nonexistent")


def test_schur_doses_of_one_mode_need_no_table3(config):
    """One mode: Table 3 is not asked for, so any doses will do (the tiny config's [0, 1])."""
    config["schur"].update(modes=["J"], doses=[0, 1])
    check_config(config, models_dir="/nonexistent")
    config["schur"].update(modes=["J", "R"], doses=[0.0, 1.0, 2.0])  # floats count
    check_config(config, models_dir="/nonexistent")


def _mapping_orders(value, path=()):
    """(path, keys in order) of every mapping in value."""
    if isinstance(value, dict):
        yield path, list(value)
        for key, item in value.items():
            yield from _mapping_orders(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _mapping_orders(item, (*path, i))


def test_canonical_config_ignores_key_order_at_every_level(config):
    """What the rules see (repr, as Snakemake compares params) is the same for the default
    config and for it with every mapping reversed; list order is a value and is kept."""
    flipped = reversed_keys(config)
    changed_orders = [p for (p, a), (_, b) in zip(_mapping_orders(config), _mapping_orders(flipped)) if a != b]
    assert len(changed_orders) > 10, "the reversal must change the order at many levels"
    assert repr(config) != repr(flipped)
    assert repr(canonical(config)) == repr(canonical(flipped))
    for path, keys in _mapping_orders(canonical(config)):
        assert keys == sorted(keys), path
    assert canonical(config)["schur"]["doses"] == config["schur"]["doses"]
    assert canonical({"l": [3, 1, 2]}) == {"l": [3, 1, 2]}


def _dry_run(tmp_path, *configfiles):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", *map(str, configfiles),
         "--directory", str(tmp_path), "--snakefile", str(ROOT / "Snakefile")],
        capture_output=True, text=True,
    )


def test_workflow_start_up_rejects_bad_config(tmp_path):
    """The Snakefile validates before building any job: a dry run fails naming the key."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("spectra: {k: 64, regime_bounds: [0.2, 0.6], bogus: 1}\n")
    proc = _dry_run(tmp_path, ROOT / "config.yaml", bad)
    assert proc.returncode != 0
    assert "bogus" in proc.stdout + proc.stderr


# The four the start-up checks used to let through (issue 18), on the tiny config (d = 32,
# known at start): each dry run fails before planning a job, naming the key.
@pytest.mark.parametrize(
    "overlay, message",
    [
        ("graphs: {knn: 32}", "graphs.knn = 32 must be below the hidden size d = 32"),
        ("corpus: {source: offline_pydoc, n_samples: 8, min_chars: 200, max_chars: 100}", "corpus.min_chars = 200 exceeds"),
        ("spectra: {k: 4, regime_bounds: [0.8, 0.2]}", "spectra.regime_bounds = [0.8, 0.2] must increase"),
        ("schur: {doses: [0.5, 1], modes: [J, R]}", "schur.doses = [0.5, 1] lacks [0, 2]"),
    ],
    ids=["knn", "min_chars", "regime_bounds", "schur_doses"],
)
def test_workflow_start_up_rejects_configs_that_need_two_keys(tmp_path, overlay, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(overlay + "\n")
    proc = _dry_run(tmp_path, ROOT / "config" / "tiny.yaml", bad)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-2000:]
    assert message in out, out[-2000:]
    assert "Job stats" not in out, "jobs were planned before the check"


@pytest.mark.parametrize("key", ["lyapunov", "token_trajectories"])
def test_map_stage_runs_must_be_runs(config, key):
    config[key]["runs"] = ["smollm2_135m", "nope"]
    with pytest.raises(ConfigError, match=rf"{key}\.runs: \['nope'\] are not runs"):
        check_config(config, models_dir="/nonexistent")
    config[key]["runs"] = []  # the stage off
    check_config(config, models_dir="/nonexistent")


def test_map_stage_runs_of_a_generic_type_are_accepted(config):
    """The decoder maps serve every type the model preparation accepts: no type check at start-up."""
    config["runs"]["neox"] = {"source": "init", "seed": 0, "config": {
        "model_type": "gpt_neox", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "intermediate_size": 128, "vocab_size": 256}}
    config["lyapunov"]["runs"] = ["neox"]
    check_config(config, models_dir="/nonexistent")
