"""Zero-shot tasks on a score model: inpainting and reconstruction.

Inpainting runs a reverse sampler from the prior and, after every step, overwrites the known pixels
with a freshly noised copy of the observation, m(t) y + sigma(t) n. Reconstruction either encodes an
image with the probability-flow ODE and decodes it again (`ode`), or noises it to t* and runs the
reverse SDE from there (`sde`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from engine.errors import UserError
from engine.jobs import Finished, JobControl, Progress, Stopwatch
from engine.sampling import SAMPLING_EPS, SamplerConfig, denoise, initial_noise, iter_integrate_ode, iter_sample
from engine.score_model import ScoreModel

RECONSTRUCTION_METHODS = ("ode", "sde")


def iter_inpaint(model: ScoreModel, images: torch.Tensor, masks: torch.Tensor, seed: int = 0,
                 config: SamplerConfig | None = None, control: JobControl | None = None) -> Iterator:
    """Fill the pixels where `masks` is 0, keeping those where it is 1; yields Progress, then Finished(images).

    `images` are (N, C, H, W) in [-1, 1]; `masks` are (N, 1 or C, H, W) with 1 on known pixels.
    The known pixels of the result equal the input exactly.
    """
    config = config or SamplerConfig(sampler="pc", steps=100)
    if images.shape[1:] != model.shape:
        raise UserError(f"images have shape {tuple(images.shape[1:])} but the model needs {model.shape}")
    if masks.shape[0] != images.shape[0] or masks.shape[-2:] != images.shape[-2:]:
        raise UserError(f"masks have shape {tuple(masks.shape)}, which does not match the images {tuple(images.shape)}")
    known = (masks > 0.5).float().expand_as(images)
    observed = images.float()
    sde = model.sde

    def keep_known(x: torch.Tensor, t: float, generator: torch.Generator) -> torch.Tensor:
        if t <= 0.0:
            return known * observed + (1 - known) * x
        times = torch.full((len(x),), t)
        noise = torch.randn(x.shape, generator=generator)
        noised = sde.marginal(observed, times, noise)
        return known * noised + (1 - known) * x

    for event in iter_sample(model, len(images), seed, config, control, step_hook=keep_known):
        yield event


@dataclass
class ReconstructionConfig:
    method: str = "ode"  # "ode": encode and decode with the probability-flow ODE; "sde": noise to t and sample back
    t: float = 0.02  # ode: the time the image is noised to before encoding; sde: the time t* it is noised to
    steps: int = 50  # ODE steps each way, or reverse SDE steps
    batch_size: int = 500

    def validate(self) -> None:
        if self.method not in RECONSTRUCTION_METHODS:
            raise UserError(f"unknown reconstruction method {self.method!r}; use ode or sde")
        if not 0.0 < self.t <= 1.0:
            raise UserError(f"t must be in (0, 1], got {self.t}")
        if self.steps < 1:
            raise UserError("steps must be at least 1")


@torch.no_grad()
def iter_reconstruct(model: ScoreModel, images: torch.Tensor, seed: int = 0, config: ReconstructionConfig | None = None,
                     control: JobControl | None = None) -> Iterator:
    """Reconstruct images through the model; yields Progress, then Finished(images)."""
    config = config or ReconstructionConfig()
    config.validate()
    if images.shape[1:] != model.shape:
        raise UserError(f"images have shape {tuple(images.shape[1:])} but the model needs {model.shape}")
    model.network.eval()
    noise, _ = initial_noise(model, len(images), seed)
    t_start = max(config.t, SAMPLING_EPS)
    noised = model.sde.marginal(images.float(), torch.full((len(images),), t_start), noise)

    if config.method == "sde":
        sampler = SamplerConfig(sampler="em", steps=config.steps, batch_size=config.batch_size)
        # The reverse SDE draws its noise from seed + 1 so that it is independent of the re-noising.
        yield from iter_sample(model, len(images), seed + 1, sampler, control, start=(noised, t_start))
        return

    clock = Stopwatch()
    total = 2 * config.steps
    state = noised
    for step, state in enumerate(iter_integrate_ode(model, noised, t_start, 1.0, config.steps, config.batch_size, control), 1):
        yield Progress(step=step, total=total, elapsed=clock.elapsed)
    for step, state in enumerate(iter_integrate_ode(model, state, 1.0, SAMPLING_EPS, config.steps, config.batch_size, control), config.steps + 1):
        yield Progress(step=step, total=total, elapsed=clock.elapsed)
    decoded = denoise(model, state, SAMPLING_EPS, config.batch_size)
    yield Finished(result=decoded.clamp(-1.0, 1.0))
