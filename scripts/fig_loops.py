"""Loop-study figures from the combined loop_* tables."""
import pandas as pd

from resdyn.plots import loops as plots
from resdyn.plots.common import save_figure

inp, out = snakemake.input, snakemake.output
conv = pd.read_csv(inp.loop_convergence)
save_figure(plots.spectrum_convergence(conv, pd.read_csv(inp.loop_spectrum)), out.loop_spectrum)
save_figure(plots.state_change(conv), out.loop_state_change)
save_figure(plots.attribution_bars(pd.read_csv(inp.loop_attribution)), out.loop_attribution)
save_figure(plots.cosine_heatmap(pd.read_csv(inp.loop_cosine)), out.loop_cosine)
if "loop_directions" in out.keys():
    save_figure(plots.directions_heatmap(pd.read_csv(inp.loop_directions)), out.loop_directions)
if "loop_checkpoints" in out.keys():
    save_figure(plots.checkpoint_series(pd.read_csv(inp.loop_checkpoints)), out.loop_checkpoints)
