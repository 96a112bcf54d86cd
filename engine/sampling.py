"""Seeded samplers for the reverse SDE and the probability-flow ODE.

The starting noise and every noise draw come from a CPU generator seeded with `seed` and are drawn
for the whole batch at once. So the same seed gives the same noise for any model of the same image
shape and any `batch_size`, and an original and a moderated model are compared on equal terms.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from engine.jobs import Finished, JobControl, Progress, Stopwatch
from engine.score_model import ScoreModel

SAMPLERS = ("em", "pc", "ode", "ddim")
DEFAULT_STEPS = {"em": 250, "pc": 150, "ode": 50, "ddim": 25}
SAMPLING_EPS = 1e-3


@dataclass
class SamplerConfig:
    sampler: str = "em"
    steps: int | None = None  # None: the sampler's default in DEFAULT_STEPS
    snr: float = 0.16  # signal-to-noise ratio of the Langevin corrector
    eta: float = 1.0  # ddim only: 0 is the deterministic DDIM step, 1 the ancestral (DDPM) step
    batch_size: int = 500
    denoise: bool = True  # finish with one Tweedie denoising step

    @property
    def step_count(self) -> int:
        return self.steps or DEFAULT_STEPS[self.sampler]


def _batched(model: ScoreModel, function, x: torch.Tensor, t: float, batch_size: int) -> torch.Tensor:
    """Apply function(model, x_chunk, t_chunk) chunk by chunk, for memory rather than for speed."""
    outputs = []
    for start in range(0, len(x), batch_size):
        chunk = x[start : start + batch_size].to(model.device)
        times = torch.full((len(chunk),), t, device=model.device)
        outputs.append(function(chunk, times).cpu())
    return torch.cat(outputs)


def denoise(model: ScoreModel, x: torch.Tensor, t: float, batch_size: int = 500) -> torch.Tensor:
    """Tweedie's estimate of x0 from x_t: (x - sigma * eps) / m."""

    def estimate(chunk: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        sigma = model.sde.sigma(times).reshape(-1, 1, 1, 1)
        mean = model.sde.mean_coeff(times).reshape(-1, 1, 1, 1)
        return (chunk - sigma * model.eps(chunk, times)) / mean

    return _batched(model, estimate, x, t, batch_size)


def initial_noise(model: ScoreModel, count: int, seed: int) -> tuple[torch.Tensor, torch.Generator]:
    """The seeded standard normal noise every sampler starts from, and the generator for later draws."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn((count, *model.shape), generator=generator), generator


@torch.no_grad()
def iter_sample(
    model: ScoreModel,
    count: int,
    seed: int = 0,
    config: SamplerConfig | None = None,
    control: JobControl | None = None,
    start: tuple[torch.Tensor, float] | None = None,
    step_hook=None,
) -> Iterator[Progress | Finished]:
    """Generate `count` images in [-1, 1]; yields Progress per step and Finished(images) at the end.

    `start` = (x_t, t) begins the reverse process from a given state instead of the prior (used by
    reconstruction); `step_hook(x, t)` may replace the state after every step (used by inpainting).
    """
    config = config or SamplerConfig()
    if config.sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {config.sampler!r}; expected one of {', '.join(SAMPLERS)}")
    model.network.eval()
    sde = model.sde
    noise, generator = initial_noise(model, count, seed)
    if start is None:
        x, t_start = sde.prior_sample(noise), 1.0
    else:
        x, t_start = start[0].clone().float(), start[1]
    steps = config.step_count
    times = torch.linspace(t_start, SAMPLING_EPS, steps + 1)
    clock = Stopwatch()

    def score(chunk, t_chunk):
        return model.score(chunk, t_chunk)

    for index in range(steps):
        if control is not None:
            control.checkpoint()
        t, t_next = float(times[index]), float(times[index + 1])
        dt = t_next - t  # negative: the reverse process runs from t_start down to SAMPLING_EPS
        t_tensor = torch.full((count,), t)

        if config.sampler == "ode":
            x = _heun_step(model, x, t, t_next, config.batch_size)
        elif config.sampler == "ddim":
            x = _ddim_step(model, x, t, t_next, config.eta, generator, config.batch_size)
        else:
            if config.sampler == "pc":
                x = _langevin_step(model, x, t, config.snr, generator, config.batch_size)
            s = _batched(model, score, x, t, config.batch_size)
            g = sde.diffusion(t_tensor).reshape(-1, 1, 1, 1)
            z = torch.randn(x.shape, generator=generator)
            x = x + (sde.drift(x, t_tensor) - g**2 * s) * dt
            if index < steps - 1 or not config.denoise:
                # The last step returns the mean: noise added there would stay in the image as faint speckle.
                x = x + g * math.sqrt(-dt) * z

        if step_hook is not None:
            x = step_hook(x, t_next, generator)
        yield Progress(step=index + 1, total=steps, elapsed=clock.elapsed)

    if config.denoise:
        x = denoise(model, x, SAMPLING_EPS, config.batch_size)
        if step_hook is not None:
            x = step_hook(x, 0.0, generator)
    yield Finished(result=x.clamp(-1.0, 1.0))


def _ode_drift(model: ScoreModel, x: torch.Tensor, t: float, batch_size: int) -> torch.Tensor:
    """dx/dt of the probability-flow ODE: f - g^2 s / 2."""
    sde = model.sde

    def drift(chunk, t_chunk):
        g = sde.diffusion(t_chunk).reshape(-1, 1, 1, 1)
        return sde.drift(chunk, t_chunk) - 0.5 * g**2 * model.score(chunk, t_chunk)

    return _batched(model, drift, x, t, batch_size)


def _heun_step(model: ScoreModel, x: torch.Tensor, t: float, t_next: float, batch_size: int) -> torch.Tensor:
    dt = t_next - t
    d1 = _ode_drift(model, x, t, batch_size)
    guess = x + d1 * dt
    d2 = _ode_drift(model, guess, t_next, batch_size)
    return x + 0.5 * (d1 + d2) * dt


@torch.no_grad()
def iter_integrate_ode(model: ScoreModel, x: torch.Tensor, t_from: float, t_to: float, steps: int,
                       batch_size: int = 500, control: JobControl | None = None) -> Iterator[torch.Tensor]:
    """Integrate the probability-flow ODE from t_from to t_to with fixed-step Heun (either direction).

    Yields the state after every step; the last one is the result.
    """
    model.network.eval()
    times = torch.linspace(t_from, t_to, steps + 1)
    for index in range(steps):
        if control is not None:
            control.checkpoint()
        x = _heun_step(model, x, float(times[index]), float(times[index + 1]), batch_size)
        yield x


def _ddim_step(model: ScoreModel, x: torch.Tensor, t: float, t_next: float, eta: float, generator: torch.Generator, batch_size: int) -> torch.Tensor:
    """Take one DDIM step, written for any SDE with x_t = m x0 + sigma z.

    x_next = m_next x0_hat + sqrt(sigma_next^2 - c^2) eps + c z, where x0_hat is Tweedie's estimate and
    c^2 = eta^2 sigma_next^2 (1 - SNR_t / SNR_next) is the posterior variance of q(x_next | x_t, x0)
    scaled by eta^2 (SNR = m^2 / sigma^2).
    """
    sde = model.sde
    eps = _batched(model, lambda chunk, t_chunk: model.eps(chunk, t_chunk), x, t, batch_size)
    m, sigma = float(sde.mean_coeff(torch.tensor(t))), float(sde.sigma(torch.tensor(t)))
    m_next, sigma_next = float(sde.mean_coeff(torch.tensor(t_next))), float(sde.sigma(torch.tensor(t_next)))
    x0_hat = (x - sigma * eps) / m
    snr_ratio = (m * sigma_next) ** 2 / (m_next * sigma) ** 2
    c = eta * sigma_next * math.sqrt(max(0.0, 1.0 - snr_ratio))
    z = torch.randn(x.shape, generator=generator)
    return m_next * x0_hat + math.sqrt(max(0.0, sigma_next**2 - c**2)) * eps + c * z


def _langevin_step(model: ScoreModel, x: torch.Tensor, t: float, snr: float, generator: torch.Generator, batch_size: int) -> torch.Tensor:
    """Take one Langevin corrector step, its size set by the target signal-to-noise ratio."""
    s = _batched(model, lambda chunk, t_chunk: model.score(chunk, t_chunk), x, t, batch_size)
    z = torch.randn(x.shape, generator=generator)
    score_norm = s.flatten(1).norm(dim=1).clamp_min(1e-12)
    noise_norm = z.flatten(1).norm(dim=1)
    alpha = 1.0
    if model.sde_config.kind in ("vp", "subvp"):
        # The discrete VP chain's alpha_i = 1 - beta_i / N, with N = 1000 as in DDPM.
        alpha = 1.0 - float(model.sde.beta(torch.tensor(t))) / 1000.0
    step_size = (2.0 * alpha * (snr * noise_norm / score_norm) ** 2).reshape(-1, 1, 1, 1)
    return x + step_size * s + torch.sqrt(2.0 * step_size) * z


def run(job: Iterator) -> object:
    """Drive a job generator to its end and return the result of its Finished event."""
    result = None
    for event in job:
        if isinstance(event, Finished):
            result = event.result
    return result


def sample(model: ScoreModel, count: int, seed: int = 0, config: SamplerConfig | None = None) -> torch.Tensor:
    return run(iter_sample(model, count, seed, config))
