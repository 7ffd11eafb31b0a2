"""Reference Jacobians by finite differences, for the engines' tests."""
import torch


def central_differences(f, x, eps=1e-6):
    """∂f/∂x (..., d_out, d_in) by central differences; x is (d,) or (B, d). A batch perturbs one
    coordinate of every sample at once (samples taken alone do not interact, so each column
    gives every sample's own derivative). Use float64 for ~1e-9 accuracy."""
    cols = []
    for j in range(x.shape[-1]):
        e = torch.zeros_like(x)
        e[..., j] = eps
        cols.append((f(x + e) - f(x - e)) / (2 * eps))
    return torch.stack(cols, dim=-1)
