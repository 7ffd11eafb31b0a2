"""resdyn: dynamics of the transformer residual stream.

The package holds all the numbers (models, corpus, activations, Jacobians,
spectra, statistics, figures) and knows nothing of Snakemake.
"""
__version__ = "0.1.0"
