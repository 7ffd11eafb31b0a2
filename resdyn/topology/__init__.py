"""topology: the activation graphs of each snapshot and their communities. No module imports torch.

Sections are those of Fernando & Guitchounts (2026), "Dynamics of the Transformer Residual
Stream", unless another paper is named.

Index (module: public names — paper section):
- graphs: ``correlation_matrix``, ``knn_signed_graph``, ``snapshot_graphs``, ``pack_graphs``,
  ``unpack_graphs`` — A.4 steps 1-3 (z-scored correlations, top-k signed graph)
- communities: ``signed_leiden``, ``infomap``, ``detect``, ``partition_snapshots`` (A.4, Table 1),
  ``nmi``, ``nmi_matrix`` (A.5 Test 1), ``summarise`` — signed Leiden CPM, modularity, InfoMap
- participation: ``participation`` — A.4 (p_i = 1 − Σ_c (k_ic/k_i)²)
"""
