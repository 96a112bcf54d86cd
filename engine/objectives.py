"""Training objectives: denoising score matching for retained data, MSGM terms for forget data.

All losses are written in the noise-prediction form. With s = -eps/sigma and the conditional score
c = -z/sigma, <s, c> = <eps, z> / sigma^2, so every condition on the score's direction is a
condition on the direction of eps relative to the noise z that produced x_t.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from engine.score_model import ScoreModel

FORGET_METHODS = ("orthogonal", "orthogonal-elementwise", "obtuse")
METHODS = FORGET_METHODS + ("retain-only",)


@dataclass
class Perturbed:
    """A noised batch: the clean data, the times, the noise and the perturbed images."""

    x0: torch.Tensor
    t: torch.Tensor
    z: torch.Tensor
    xt: torch.Tensor


def perturb(model: ScoreModel, x0: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None = None) -> Perturbed:
    z = torch.randn(x0.shape, generator=generator, device=x0.device)
    return Perturbed(x0=x0, t=t, z=z, xt=model.sde.marginal(x0, t, z))


def sample_times(count: int, low: float, high: float, generator: torch.Generator | None = None, device="cpu") -> torch.Tensor:
    """Times drawn uniformly from [low, high]."""
    return low + (high - low) * torch.rand(count, generator=generator, device=device)


def dsm_loss(eps: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Denoising score matching with sigma^2 weighting: mean over pixels of (eps - z)^2."""
    return F.mse_loss(eps, z)


def orthogonal_loss(eps: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Ask for <s, c> = 0: the batch mean of (<eps, z> / d)^2, with d the number of pixels."""
    inner = (eps * z).flatten(1).mean(dim=1)
    return inner.pow(2).mean()


def orthogonal_elementwise_loss(eps: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Ask every coordinate of s * c to vanish: the mean over pixels of (eps * z)^2."""
    return (eps * z).pow(2).mean()


def obtuse_loss(eps: torch.Tensor, z: torch.Tensor, margin: float = 0.1) -> torch.Tensor:
    """Ask for <s, c> < 0: the batch mean of max(0, cos(eps, z) + margin).

    The loss falls as cos(eps, z) falls, so minimising it turns the score away from the forget
    data. It is bounded in [0, 1 + margin] and is zero once the angle exceeds arccos(-margin).
    """
    cosine = F.cosine_similarity(eps.flatten(1), z.flatten(1), dim=1)
    return F.relu(cosine + margin).mean()


def forget_loss(method: str, eps: torch.Tensor, z: torch.Tensor, margin: float = 0.1) -> torch.Tensor:
    if method == "orthogonal":
        return orthogonal_loss(eps, z)
    if method == "orthogonal-elementwise":
        return orthogonal_elementwise_loss(eps, z)
    if method == "obtuse":
        return obtuse_loss(eps, z, margin)
    raise ValueError(f"unknown forget method {method!r}; expected one of {', '.join(FORGET_METHODS)}")
