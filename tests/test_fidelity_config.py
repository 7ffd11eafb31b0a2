"""Fidelity keys (bos, regime_layers, sample subsets) are checked at start-up, naming the key."""
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from resdyn.core.config_checks import ConfigError, check_config
from resdyn.dynamics.spectra import regime_labels

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "schemas" / "config.schema.yaml")


@pytest.fixture
def config():
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    validate(cfg, SCHEMA)
    return cfg


def test_bos_mode_must_be_known(config):
    config["runs"]["gemma3_270m"]["bos"] = "sometimes"
    with pytest.raises(Exception, match="sometimes"):
        validate(config, SCHEMA)


def test_defaults_filled(config):
    assert config["runs"]["gemma3_270m"]["bos"] == "auto"
    assert config["activations"]["health"] == {"samples": 16, "max_loss_fraction": 0.75}


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda c: c["jacobians"].__setitem__("n_samples", 701), "jacobians.n_samples = 701 exceeds corpus.n_samples = 700"),
        (lambda c: c["runs"]["gemma3_270m"].__setitem__("regime_layers", [9, 4]), r"runs.gemma3_270m.regime_layers = \[9, 4\]"),
        (lambda c: c["protocol_comparison"].__setitem__("run", "nope"), "protocol_comparison.run = 'nope' is not a run"),
        (lambda c: c["protocol_comparison"].__setitem__("n_samples", 701), "protocol_comparison.n_samples = 701 exceeds"),
    ],
)
def test_inconsistent_fidelity_keys_are_named(config, edit, match):
    edit(config)
    with pytest.raises(ConfigError, match=match):
        check_config(config, models_dir="/nonexistent")


def test_regime_layers_give_the_papers_split_where_fractions_cannot():
    gemma4 = regime_labels(42, (0.15625, 0.625), layers=(8, 28))
    assert gemma4.count("early") == 8 and gemma4.count("mid") == 20 and gemma4.count("late") == 14
    by_fraction = regime_labels(42, (0.15625, 0.625))
    assert (by_fraction.count("early"), by_fraction.count("mid")) == (7, 19)  # 7/26: not the paper's Table 2
    assert regime_labels(32, (0.15625, 0.625)) == regime_labels(32, (0.5, 0.5), layers=(5, 20))
    with pytest.raises(ValueError, match="regime_layers"):
        regime_labels(18, (0.1, 0.5), layers=(5, 20))
