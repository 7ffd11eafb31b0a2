"""Building blocks shared by the loop architectures, written for forward-mode AD
(eager attention, no fused kernels) and any float dtype (float64 in tests)."""
from __future__ import annotations

import torch


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """weight * x / sqrt(mean(x^2) + eps), in x's dtype (the references upcast bf16 to
    float32 here; float32 and float64 states are left as they are)."""
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def inverse_frequencies(head_dim: int, theta: float, dtype=torch.float64) -> torch.Tensor:
    return 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)).to(dtype)


def rope_half(x: torch.Tensor, pos: torch.Tensor, inv_freq: torch.Tensor) -> torch.Tensor:
    """Llama-style rotary embedding on (B, H, m, hd): dimension i pairs with i + hd/2."""
    ang = pos.to(inv_freq.dtype)[:, None] * inv_freq[None, :]  # (m, hd/2)
    cos = torch.cat([ang.cos(), ang.cos()], -1).to(x.dtype)
    sin = torch.cat([ang.sin(), ang.sin()], -1).to(x.dtype)
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], -1)
    return x * cos + rotated * sin


def rope_pairs(x: torch.Tensor, pos: torch.Tensor, inv_freq: torch.Tensor) -> torch.Tensor:
    """Complex-style rotary embedding on (B, H, m, hd): dimensions 2i and 2i+1 form a pair."""
    ang = pos.to(inv_freq.dtype)[:, None] * inv_freq[None, :]  # (m, hd/2)
    cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
    pairs = x.unflatten(-1, (-1, 2))
    a, b = pairs[..., 0], pairs[..., 1]
    return torch.stack([a * cos - b * sin, b * cos + a * sin], -1).flatten(-2)


def attend(q, k, v, q_pos, k_pos, window: int | None = None) -> torch.Tensor:
    """Causal softmax attention. q (B, H, m, hd); k, v (B, Hkv, M, hd) with Hkv | H.

    Query at position p sees keys at positions <= p (and > p - window with a sliding
    window). Returns (B, m, H * hd).
    """
    h, hkv = q.shape[1], k.shape[1]
    if h != hkv:
        k = k.repeat_interleave(h // hkv, dim=1)
        v = v.repeat_interleave(h // hkv, dim=1)
    scores = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
    ok = k_pos[None, :] <= q_pos[:, None]
    if window is not None:
        ok &= k_pos[None, :] > q_pos[:, None] - window
    scores = scores.masked_fill(~ok, float("-inf"))
    out = torch.softmax(scores, dim=-1) @ v  # (B, H, m, hd)
    return out.transpose(1, 2).flatten(2)


class KVContext:
    """Keys/values of the context positions for one attention layer (post-rotary),
    (1, Hkv, c, hd) each, and their positions (c,). Empty when c = 0."""

    def __init__(self, k: torch.Tensor, v: torch.Tensor, pos: torch.Tensor):
        self.k, self.v, self.pos = k, v, pos

    def extend(self, k: torch.Tensor, v: torch.Tensor, pos: torch.Tensor):
        """The context followed by a batch's own keys/values: (B, Hkv, c + m, hd), positions."""
        b = k.shape[0]
        kk = torch.cat([self.k.expand(b, -1, -1, -1).to(k.dtype), k], dim=2)
        vv = torch.cat([self.v.expand(b, -1, -1, -1).to(v.dtype), v], dim=2)
        return kk, vv, torch.cat([self.pos, pos])
