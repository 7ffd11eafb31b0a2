"""Reference dynamical systems whose Lyapunov exponents are published, written as
batched torch maps (rows are independent points) for the estimators' validation.

Published values (Sprott, *Chaos and Time-Series Analysis*, OUP 2003, Appendix A):
- Hénon map (a = 1.4, b = 0.3): lambda = 0.41922, -1.62319 (sum = ln b exactly).
- Lorenz flow (sigma = 10, rho = 28, beta = 8/3): lambda = 0.9056, 0, -14.5723
  (sum = -(sigma + 1 + beta) exactly).
- Logistic map x -> 4x(1-x): lambda = ln 2 exactly (Ulam & von Neumann 1947).
- Arnold's cat map (x, y) -> (2x + y, x + y) mod 1: lambda = +-ln((3 + sqrt 5)/2) exactly
  (Arnold & Avez 1968).
"""
from __future__ import annotations

import math

import torch

HENON_EXPONENTS = (0.41922, -1.62319)
LORENZ_EXPONENTS = (0.9056, 0.0, -14.5723)
LOGISTIC4_EXPONENT = math.log(2.0)
CAT_MAP_EXPONENTS = (math.log((3 + math.sqrt(5)) / 2), -math.log((3 + math.sqrt(5)) / 2))


def henon(a: float = 1.4, b: float = 0.3):
    def f(z: torch.Tensor) -> torch.Tensor:
        x, y = z[..., 0], z[..., 1]
        return torch.stack((1.0 - a * x * x + y, b * x), dim=-1)

    return f


def logistic(r: float = 4.0):
    def f(z: torch.Tensor) -> torch.Tensor:
        return r * z * (1.0 - z)

    return f


def cat_map():
    """Arnold's cat map on the unit torus (its tangent map is the constant [[2, 1], [1, 1]])."""
    a = torch.tensor([[2.0, 1.0], [1.0, 1.0]], dtype=torch.float64)

    def f(z: torch.Tensor) -> torch.Tensor:
        return torch.remainder(z @ a.to(z.dtype).T, 1.0)

    return f


def lorenz_field(sigma: float = 10.0, rho: float = 28.0, beta: float = 8.0 / 3.0):
    """dx = sigma (y - x), dy = x (rho - z) - y, dz = x y - beta z, on rows (B, 3)."""

    def v(z: torch.Tensor) -> torch.Tensor:
        x, y, w = z.unbind(-1)
        return torch.stack((sigma * (y - x), x * (rho - w) - y, x * y - beta * w), dim=-1)

    return v


def rk4(field, dt: float):
    """The time-``dt`` map of the flow of ``field`` by one classical Runge-Kutta step."""

    def f(z: torch.Tensor) -> torch.Tensor:
        k1 = field(z)
        k2 = field(z + 0.5 * dt * k1)
        k3 = field(z + 0.5 * dt * k2)
        k4 = field(z + dt * k3)
        return z + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)

    return f


def linear(a: torch.Tensor):
    """z -> A z for a fixed matrix (exponents: log |eigenvalues| when A is diagonalisable)."""

    def f(z: torch.Tensor) -> torch.Tensor:
        return z @ a.T

    return f


def iterate(f, z: torch.Tensor, n: int) -> torch.Tensor:
    """Run ``n`` steps of ``f`` without tangents (to land on the attractor)."""
    with torch.no_grad():
        for _ in range(n):
            z = f(z)
    return z
