"""data: the samples and what a model makes of them: corpus, token ids, residual states, model health.

Sections are those of Fernando & Guitchounts (2026), "Dynamics of the Transformer Residual
Stream", unless another paper is named.

Index (module: public names — paper section — torch?):
- corpus: ``load_samples`` (A.1: WikiText-2, length filter, first N in order), ``read_jsonl``,
  ``write_jsonl``, ``length_filtered``, ``python_docs_categorised`` (trajectory prompts) — no torch
- tokens: ``encode``, ``encode_all``, ``encode_prefixes`` — A.1 (token ids as the model was trained,
  the run's bos mode) — no torch; ``token_tensors`` (the same ids as tensors) — torch
- activations: ``extract_with_loss``, ``extract_last_token`` (A.1, A.4: the 2L last-token snapshots),
  ``prefix_states``, ``block_inputs`` (A.2 in context), ``residual_hooks`` — torch
- health: ``check_health``, ``LossTally`` — (next-token loss of a run on the corpus) — torch
"""
