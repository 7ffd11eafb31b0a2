"""The protocol comparison runs end to end on the tiny config and lands in the scorecard."""
import numpy as np
import pandas as pd
import yaml

from slurm.workflow_helpers import copy_workflow, snakemake


def test_protocol_comparison_and_its_scorecard_rows(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    config = yaml.safe_load((work / "config" / "tiny.yaml").read_text())
    config["protocol_comparison"] = {"run": "tiny", "n_samples": 3}
    (work / "compare.yaml").write_text(yaml.safe_dump(config))
    snakemake(["results/tables/protocol_comparison.csv", "results/findings.csv",
               "results/figures/cumulative_transport.png", "--cores", "2", "--configfile", "compare.yaml"],
              cwd=work, timeout=900)
    table = pd.read_csv(work / "results" / "tables" / "protocol_comparison.csv")
    layers = set(range(3))
    for quantity in ("kappa_median", "self_alignment_J", "henrici_J", "erank_P", "cohens_d",
                     "jacobian_relative_difference_median"):
        assert set(table.loc[table["quantity"] == quantity, "layer"]) == layers, quantity
    # the single-token side on the subset is the main stage's computation on the same samples
    single = pd.read_csv(work / "results" / "tiny" / "protocols" / "single_token" / "layer_spectra.csv")
    assert (single["n_samples"] == 3).all()
    rel = table[table["quantity"] == "jacobian_relative_difference_median"]["in_context"]
    assert (rel > 1e-3).all()  # the samples have context: the protocols differ
    card = pd.read_csv(work / "results" / "findings.csv")
    assert {"in_context (first 3 samples)", "single_token (first 3 samples)"} <= set(card["protocol"])
    # transport beside the product of means, both protocols; at the top layer both are E[J_{L-1}]
    transport = pd.read_csv(work / "results" / "tables" / "cumulative_transport.csv")
    assert list(transport.columns) == ["run", "protocol", "layer", "d", "n_samples", "erank_transport",
                                       "log_norm_transport", "erank_product_of_means", "log_norm_product_of_means"]
    assert set(transport["protocol"]) == {"in_context", "single_token"} and (transport["n_samples"] == 3).all()
    top = transport[transport["layer"] == 2]
    np.testing.assert_allclose(top["erank_transport"], top["erank_product_of_means"], rtol=1e-9)
    np.testing.assert_allclose(top["log_norm_transport"], top["log_norm_product_of_means"], rtol=1e-9)
    assert (work / "results" / "figures" / "cumulative_transport.pdf").is_file()
