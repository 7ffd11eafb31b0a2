"""protocol_comparison.csv and its figure: each per-layer finding in both protocols, same samples."""
import pandas as pd

from resdyn.core.io import save_csv
from resdyn.findings.protocol_comparison import ProtocolTables, protocol_comparison
from resdyn.plots.common import save_figure
from resdyn.plots.protocol import figure_protocol_comparison

i, run = snakemake.input, snakemake.params.run


def one_reading(coupling: pd.DataFrame) -> pd.DataFrame:
    """Test 3 rows of the column-norm reading the FDR counts use (coupling.csv holds both)."""
    return coupling[coupling["column_norm"] == snakemake.params.column_norm]


sides = {
    protocol: ProtocolTables(
        layer_spectra=pd.read_csv(i[f"{protocol}_layer_spectra"]),
        cumulative=pd.read_csv(i[f"{protocol}_cumulative"]),
        coupling=one_reading(pd.read_csv(i[f"{protocol}_coupling"])),
        run=run,
    )
    for protocol in ("single_token", "in_context")
}
table = protocol_comparison(sides["single_token"], sides["in_context"], coupling_method=snakemake.params.method)
rel = pd.read_csv(i.relative_difference).groupby("layer")["relative_difference"].median()
extra = pd.DataFrame({"run": run, "layer": rel.index, "quantity": "jacobian_relative_difference_median",
                      "single_token": 0.0, "in_context": rel.to_numpy(), "difference": rel.to_numpy()})
table = pd.concat([table, extra], ignore_index=True)
save_csv(snakemake.output.table, table)
save_figure(figure_protocol_comparison(table, run), snakemake.output.figure)  # draws the shared quantities
