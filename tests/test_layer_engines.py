"""A Jacobian job's dispatch refuses an unknown protocol or precision before it reads anything."""
import pytest

from resdyn.dynamics.engines import layer_stats_by_engine


@pytest.mark.parametrize("protocol, precision, message", [
    ("in_contxt", "single", r"runs\.r\.protocol = 'in_contxt': use one of \('single_token', 'in_context'\)"),
    ("single_token", "half", r"jacobians\.precision must be one of"),
])
def test_bad_protocol_or_precision_fails_before_any_file_is_read(protocol, precision, message):
    with pytest.raises(ValueError, match=message):  # "no/such/model" would raise FileNotFoundError if read
        next(layer_stats_by_engine("no/such/model", [0], protocol, None, "no/such/corpus.jsonl", run="r",
                                   precision=precision))
