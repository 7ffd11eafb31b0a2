"""protocol_comparison.csv from two protocols' tables, and its figure."""
import numpy as np
import pandas as pd
import pytest

from resdyn.findings.protocol_comparison import COLUMNS, ProtocolTables, protocol_comparison
from resdyn.plots.protocol import figure_protocol_comparison

LAYERS = [0, 1, 2]


def spectra(run, kappa, self_alignment, henrici, frac_complex, **extra):
    return pd.DataFrame({"run": run, "layer": LAYERS, "regime": ["early", "mid", "late"], "kappa_median": kappa,
                         "self_alignment_J": self_alignment, "henrici_J": henrici, "frac_complex": frac_complex,
                         "kappa_q25": 0.0, **extra})


def cumulative(run, erank):
    return pd.DataFrame({"run": run, "layer": LAYERS, "erank": erank, "log10_fro": 0.0, "method": "exact"})


def coupling(run, d_by_method):
    return pd.DataFrame([{"run": run, "method": m, "layer": layer, "snapshot": 2 * layer, "cohens_d": d}
                         for m, ds in d_by_method.items() for layer, d in zip(LAYERS, ds)])


SINGLE = ProtocolTables(
    spectra("m", [5.9e4, 100.0, 15.2], [0.53, 0.6, 0.9], [0.78, 0.5, 0.2], [0.5, 0.0, 0.25]),
    cumulative("m", [10.0, 20.0, 40.0]),
    coupling("m", {"signed_cpm": [0.5, -0.2, 0.0], "infomap": [9.0, 9.0, 9.0]}),
)
CONTEXT = ProtocolTables(
    spectra("m_ic", [2.3e3, 100.0, 14.7], [0.78, 0.6, 0.8], [0.41, 0.5, 0.3], [0.25, 0.5, 0.25]),
    cumulative("m_ic", [5.0, 30.0, 40.0]),
    coupling("m_ic", {"signed_cpm": [0.25, -0.4, 1.0], "infomap": [1.0, 1.0, 1.0]}),
)


def _value(table, quantity, layer, column):
    row = table[(table["quantity"] == quantity) & (table["layer"] == layer)]
    assert len(row) == 1
    return row[column].iloc[0]


def test_values_differences_and_relative_differences():
    table = protocol_comparison(SINGLE, CONTEXT, coupling_method="signed_cpm")
    assert list(table.columns) == COLUMNS
    assert set(table["run"]) == {"m"}  # named after the single-token run
    assert list(table["quantity"].unique()) == ["kappa_median", "self_alignment_J", "henrici_J", "frac_complex",
                                                "erank_P", "cohens_d"]
    assert len(table) == 6 * 3
    assert _value(table, "kappa_median", 0, "single_token") == 5.9e4
    assert _value(table, "kappa_median", 0, "in_context") == 2.3e3
    assert _value(table, "kappa_median", 0, "difference") == pytest.approx(2.3e3 - 5.9e4)
    assert _value(table, "kappa_median", 0, "relative_difference") == pytest.approx((2.3e3 - 5.9e4) / 5.9e4)
    assert _value(table, "self_alignment_J", 2, "difference") == pytest.approx(-0.1)
    assert _value(table, "henrici_J", 0, "relative_difference") == pytest.approx((0.41 - 0.78) / 0.78)
    assert _value(table, "frac_complex", 1, "difference") == pytest.approx(0.5)
    assert np.isnan(_value(table, "frac_complex", 1, "relative_difference"))  # single-token value 0
    assert _value(table, "erank_P", 1, "relative_difference") == pytest.approx(0.5)
    assert _value(table, "cohens_d", 1, "relative_difference") == pytest.approx((-0.4 + 0.2) / 0.2)  # |single|
    assert _value(table, "cohens_d", 2, "in_context") == 1.0  # signed_cpm, not infomap


def test_spectra_alone_and_the_robust_fraction():
    single = ProtocolTables(spectra("m", [1.0, 2.0, 4.0], 0.5, 0.5, 0.5, frac_complex_robust=[0.1, 0.2, 0.3]))
    context = ProtocolTables(spectra("x", [2.0, 2.0, 2.0], 0.5, 0.5, 0.5, frac_complex_robust=[0.2, 0.2, 0.2]))
    table = protocol_comparison(single, context)
    assert list(table["quantity"].unique())[-1] == "frac_complex_robust"
    np.testing.assert_allclose(table.loc[table["quantity"] == "kappa_median", "relative_difference"], [1.0, 0.0, -0.5])
    np.testing.assert_allclose(table.loc[table["quantity"] == "frac_complex_robust", "difference"], [0.1, 0.0, -0.1])


def test_a_run_picked_from_multi_run_tables():
    both = pd.concat([SINGLE.layer_spectra, CONTEXT.layer_spectra])
    table = protocol_comparison(ProtocolTables(both, run="m"), ProtocolTables(both, run="m_ic"))
    assert _value(table, "henrici_J", 0, "in_context") == 0.41
    with pytest.raises(ValueError, match=r"holds runs \['m', 'm_ic'\]; name the run"):
        protocol_comparison(ProtocolTables(both), ProtocolTables(both, run="m_ic"))


def test_bad_input_names_the_cause():
    short = ProtocolTables(CONTEXT.layer_spectra[CONTEXT.layer_spectra["layer"] < 2])
    with pytest.raises(ValueError, match=r"different layers \(single-token only: \[2\]"):
        protocol_comparison(ProtocolTables(SINGLE.layer_spectra), short)
    with pytest.raises(ValueError, match=r"several method values \['infomap', 'signed_cpm'\]"):
        protocol_comparison(SINGLE, CONTEXT)
    with pytest.raises(ValueError, match="missing column"):
        protocol_comparison(ProtocolTables(SINGLE.layer_spectra.drop(columns="henrici_J")),
                            ProtocolTables(CONTEXT.layer_spectra))
    with pytest.raises(ValueError, match="frac_complex_robust is in the in-context layer_spectra only"):
        protocol_comparison(ProtocolTables(SINGLE.layer_spectra),
                            ProtocolTables(CONTEXT.layer_spectra.assign(frac_complex_robust=0.0)))
    with pytest.raises(ValueError, match="cumulative rows given for one protocol only"):
        protocol_comparison(ProtocolTables(SINGLE.layer_spectra, cumulative=SINGLE.cumulative),
                            ProtocolTables(CONTEXT.layer_spectra))


def test_figure_draws_both_profiles_of_every_quantity():
    table = protocol_comparison(SINGLE, CONTEXT, coupling_method="signed_cpm")
    fig = figure_protocol_comparison(table, "m")
    axes = fig.axes
    assert [ax.get_title() for ax in axes][0] == "median $\\kappa(J_\\ell)$"
    assert len(axes) == 6
    for ax, quantity in zip(axes, table["quantity"].unique()):
        single, context = ax.get_lines()
        rows = table[table["quantity"] == quantity]
        np.testing.assert_array_equal(single.get_ydata(), rows["single_token"])
        np.testing.assert_array_equal(context.get_ydata(), rows["in_context"])
    assert axes[0].get_yscale() == "log" and axes[1].get_yscale() == "linear"
    with pytest.raises(ValueError, match="no rows for run 'x'"):
        figure_protocol_comparison(table, "x")
