"""Loop transformers (Ouro, Huginn) as functional iterated maps in plain torch.

Implements Lyapunov Spectral Analysis of Loop Transformer Dynamics (anonymous, 2026).

Neither model has a transformers class (both are hub remote code), so their published
folders (config.json + *.safetensors) are read here directly and each loop step is a
list of named sublayer maps that the Lyapunov engines (resdyn.lyapunov.benettin) push
tangents through.

Modules: ``weights`` (config.json and safetensors of a folder), ``blocks`` (RMSNorm,
the two rotary conventions, causal attention over a context), ``ouro`` and ``huginn``
(the architectures), ``loop_maps`` (the iterated state: whole sequence or last token),
``measurements`` (the loop paper's tables), ``prompts`` (its listed prompts plus corpus rows),
``sublayers`` (a loop step as an ordered list of named sublayers), ``config`` (the stage's settings),
``loaders`` (a folder to a model, by architecture), ``jobs`` (what every loop job does
first: the model and its prompts; the hub download). All need torch except ``config`` and ``prompts``.
"""
