"""What a loop architecture exposes: its loop step as an ordered list of sublayers.

The sublayers of anonymous authors (2026), "Lyapunov Spectral Analysis of Loop Transformer
Dynamics", Section 3.2 (intra-loop attribution).

A sublayer maps token states x (B, m, d) at positions ``pos`` (m,) to new states. An
attention sublayer attends to the batch's own positions (causally) and, when ``ctx`` is
given, to the fixed keys/values of earlier context positions; with ``record`` (a list)
it appends the keys/values it computed for x, which is how an unperturbed pass over the
context collects the context of the token maps. ``fixed`` holds a prompt's inputs that
the loop holds constant (Huginn's prelude output e).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from resdyn.loops.blocks import KVContext

SublayerFn = Callable[[torch.Tensor, torch.Tensor, "KVContext | None", dict, "list | None"], torch.Tensor]


@dataclass
class Sublayer:
    name: str
    fn: SublayerFn
    attention: bool  # has keys/values (a context to hold fixed in the token maps)


@dataclass
class PreparedPrompt:
    """A prompt as the loop sees it: the initial state z0 (1, n, d), the inputs held
    fixed over the loops, and the token count."""

    z0: torch.Tensor
    fixed: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.z0.shape[1]
