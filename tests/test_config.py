"""Bad configs fail at start-up with the offending key named."""
import copy
from pathlib import Path

import jsonschema
import pytest
import yaml
from snakemake.utils import validate

from resdyn.config_checks import ConfigError, check_config

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


def test_workflow_start_up_rejects_bad_config(tmp_path):
    """The Snakefile validates before building any job: a dry run fails naming the key."""
    import subprocess
    import sys

    bad = tmp_path / "bad.yaml"
    bad.write_text("spectra: {k: 64, regime_bounds: [0.2, 0.6], bogus: 1}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", str(ROOT / "config.yaml"), str(bad),
         "--directory", str(tmp_path), "--snakefile", str(ROOT / "Snakefile")],
        capture_output=True, text=True,
    )
    assert proc.returncode != 0
    assert "bogus" in proc.stdout + proc.stderr
