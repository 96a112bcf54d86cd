"""Continuous-time forward SDEs: VP, sub-VP and VE.

Each SDE perturbs data as x_t = m(t) x_0 + sigma(t) z with z ~ N(0, I). The formulas follow
Song et al., "Score-Based Generative Modeling through Stochastic Differential Equations" (ICLR 2021).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch


@dataclass(frozen=True)
class SDEConfig:
    """Serialisable description of an SDE, stored in every checkpoint."""

    kind: str = "vp"  # "vp", "subvp" or "ve"
    beta_min: float = 0.1
    beta_max: float = 20.0
    sigma_min: float = 0.01
    sigma_max: float = 50.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SDEConfig:
        known = {key: data[key] for key in cls.__dataclass_fields__ if key in data}
        return cls(**known)


def _expand(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape a per-sample vector so that it broadcasts against an image batch."""
    return values.reshape(-1, *([1] * (like.dim() - 1)))


class SDE:
    """Base class: the marginal m(t), sigma(t), the drift f(x, t) and the diffusion g(t)."""

    config: SDEConfig
    # The network input that identifies the noise level: "t" scaled to [0, 999] or log sigma.
    noise_input = "time"

    def mean_coeff(self, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def drift(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def prior_sample(self, noise: torch.Tensor) -> torch.Tensor:
        """Map standard normal noise to a sample of the prior p_1."""
        raise NotImplementedError

    def marginal(self, x0: torch.Tensor, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Perturb clean data x0 to time t with the given standard normal noise z."""
        return _expand(self.mean_coeff(t), x0) * x0 + _expand(self.sigma(t), x0) * z

    def noise_conditioning(self, t: torch.Tensor) -> torch.Tensor:
        """Return the scalar per sample that the network is conditioned on."""
        return 999.0 * t


class VPSDE(SDE):
    """Variance preserving SDE with a linear beta schedule; sigma(t)^2 = 1 - m(t)^2."""

    def __init__(self, config: SDEConfig):
        self.config = config
        self.beta_min = config.beta_min
        self.beta_max = config.beta_max

    def beta(self, t: torch.Tensor) -> torch.Tensor:
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def log_mean_coeff(self, t: torch.Tensor) -> torch.Tensor:
        return -0.25 * t**2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min

    def mean_coeff(self, t: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.log_mean_coeff(t))

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(-torch.expm1(2.0 * self.log_mean_coeff(t)))

    def drift(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return -0.5 * _expand(self.beta(t), x) * x

    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(self.beta(t))

    def prior_sample(self, noise: torch.Tensor) -> torch.Tensor:
        return noise


class SubVPSDE(VPSDE):
    """Sub-VP SDE: the VP mean with sigma(t) = 1 - m(t)^2, which stays below the VP variance."""

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        return -torch.expm1(2.0 * self.log_mean_coeff(t))

    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        discount = -torch.expm1(-2.0 * self.beta_min * t - (self.beta_max - self.beta_min) * t**2)
        return torch.sqrt(self.beta(t) * discount)


class VESDE(SDE):
    """Variance exploding SDE: m(t) = 1 and a geometric sigma(t) from sigma_min to sigma_max."""

    noise_input = "log_sigma"

    def __init__(self, config: SDEConfig):
        self.config = config
        self.sigma_min = config.sigma_min
        self.sigma_max = config.sigma_max
        self._log_ratio = math.log(self.sigma_max / self.sigma_min)

    def mean_coeff(self, t: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(t)

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        return self.sigma_min * torch.exp(t * self._log_ratio)

    def drift(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)

    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        return self.sigma(t) * math.sqrt(2.0 * self._log_ratio)

    def prior_sample(self, noise: torch.Tensor) -> torch.Tensor:
        return self.sigma_max * noise

    def noise_conditioning(self, t: torch.Tensor) -> torch.Tensor:
        return torch.log(self.sigma(t))


_KINDS = {"vp": VPSDE, "subvp": SubVPSDE, "ve": VESDE}


def build_sde(config: SDEConfig) -> SDE:
    """Create the SDE that a config describes."""
    if config.kind not in _KINDS:
        raise ValueError(f"unknown SDE kind {config.kind!r}; expected one of {sorted(_KINDS)}")
    return _KINDS[config.kind](config)
