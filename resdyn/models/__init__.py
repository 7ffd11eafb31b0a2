"""models: where a run's weights come from, and each decoder family's block as maps on the residual stream.

Sections are those of Fernando & Guitchounts (2026), "Dynamics of the Transformer Residual
Stream", unless another paper is named.

Index (module: public names — paper section — torch?):
- sources: ``materialise`` (a run's weights once, float32, as a Hugging Face folder), ``load_prepared``,
  ``load_for_inference`` (the whole-model stages), ``load_tokenizer``, ``load_layer``, ``layer_tensors``,
  ``compute_device`` — A.1 — torch
- architectures: ``architecture_of``, ``engine_of``, ``check_supported``, ``pre_mlp_module`` — which engine
  and which snapshot each family gets (A.1, A.4) — no torch at import
- block: ``Block``, ``rotary_tables`` — A.2 (a block as a function of the last token's state, closed form) — torch
- in_context: ``in_context_jacobians``, ``attention_step``, ``mlp_step_jacobian`` — A.2 in context — torch
- gemma4: ``Gemma4Block``, ``per_layer_inputs`` — A.2 for Gemma 4 (sandwich norms, PLE, layer scalar) — torch
- generic: ``DecoderLayer``, ``decoder_stack`` — A.2 by autodiff through any transformers layer — torch
- layer_files: ``single_token_block`` — one block's weights read alone from a prepared folder — torch
- decoder_map: ``SamplePass``, ``LayerMap``, ``Decoder`` — the residual maps of one sample through depth,
  every architecture, checked against the model's own hidden states (the Lyapunov stage) — torch
- self_check: ``check_decoder``, ``checked_layers`` — any decoder at preparation: maps, causality, snapshot,
  autodiff against finite differences — torch
"""
