"""Live measurements of a moderation run: forget rate, quality on kept content and the score diagnostic.

`iter_moderate` builds one `Monitor` per run and calls it every `monitor_every` steps on the EMA
weights (the weights that are saved). Each call yields two events:

- `Metrics(step, values)`: `forget_rate` is the share of `count` samples from fixed seeds that the
  forget judge flags (only with a judge). `quality` is the share of the samples the judge does not
  flag that the bundled MNIST classifier labels with probability >= 0.9 (only for models on the
  bundled 1x28x28 digits; without a judge every sample counts).
- `ScoreDiagnostic(step, times, forget, retain)`: at each time in `SCORE_TIMES`, the mean cosine
  between the moderated and the original model's predicted noise on a fixed small batch of noised
  forget and retain images. It is 1 before training. `obtuse` drives the forget curve below 0 and
  `orthogonal` towards 0, while the retain curve should stay near 1 for every method.

The samples come from the ancestral DDIM sampler (eta 1) with `SAMPLER_STEPS` steps. That is too few
steps for a final figure (the `evaluate` command uses 25), but enough to follow the trend, and with
few samples the forget rate moves in coarse jumps (1/16 = 6% with 16 samples).

Cost per call, from `benchmarks/monitor_cost.py` with one torch thread on the 2-core development
CPU while other jobs ran: 1.1 to 1.3 s with 16 samples, of which the score diagnostic (64 network
evaluations) takes 0.3 to 0.5 s. Sampling grows linearly with the count: 32 samples take about 3 s.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.nn import functional as F

from engine.data import MNIST_CLASSES
from engine.jobs import Metrics, ScoreDiagnostic
from engine.sampling import SamplerConfig, iter_sample, run
from engine.score_model import ScoreModel

SAMPLER_STEPS = 10
SAMPLE_SEED = 0
# Times at which the score diagnostic compares the two models, denser at low noise where images form.
SCORE_TIMES = (0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0)
# Forget and retain images per time in the score diagnostic, and the seed that picks them and their noise.
SCORE_BATCH = 4
SCORE_SEED = 0
# Probability from which the bundled classifier counts a sample as recognised (as in engine.metrics).
RECOGNISED = 0.9
BUNDLED_SHAPE = (1, 28, 28)


def works_on_bundled_digits(model: ScoreModel) -> bool:
    """Tell whether the model makes images of the bundled MNIST digits' shape and classes."""
    if model.shape != BUNDLED_SHAPE:
        return False
    return not model.classes or list(model.classes) == MNIST_CLASSES


def sample_measures(images: torch.Tensor, judge=None, bundled: bool = True) -> dict[str, float]:
    """Measure samples: `forget_rate` with a judge, `quality` for bundled digits (see the module docstring).

    `judge` is an `engine.detector.ForgetJudge`. A value is left out when it cannot be measured, for
    example `quality` when the judge flags every sample.
    """
    images = images.float().cpu()
    values: dict[str, float] = {}
    kept = images
    if judge is not None:
        flagged = judge.verdicts(images)
        values["forget_rate"] = float(flagged.float().mean())
        kept = images[~flagged]

    if bundled and len(kept):
        from engine.metrics import Labels

        values["quality"] = float((Labels.of(kept).confidence >= RECOGNISED).mean())
    return values


class ScoreProbe:
    """Fixed noised forget and retain images and the original model's predicted noise on them.

    The batch, its noise and the times are drawn once, so every measurement of a run compares the
    models on the same inputs. The original model is evaluated once, without gradients, and not changed.
    """

    def __init__(self, original: ScoreModel, forget_images: torch.Tensor, retain_images: torch.Tensor,
                 times: tuple[float, ...] = SCORE_TIMES, batch: int = SCORE_BATCH, seed: int = SCORE_SEED) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.times = [float(t) for t in times]
        self._inputs = {role: self._noised(original, images, batch, generator)
                        for role, images in (("forget", forget_images), ("retain", retain_images))}
        self._original_eps = {role: self._eps(original, inputs) for role, inputs in self._inputs.items()}

    def _noised(self, model: ScoreModel, images: torch.Tensor, batch: int,
                generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Noise `batch` images at every time: (x_t, t) with len(times) * batch rows, or None without images."""
        if len(images) == 0:
            return None
        chosen = images[torch.randperm(len(images), generator=generator)[:batch]].float().cpu()
        x0 = chosen.repeat(len(self.times), 1, 1, 1)
        t = torch.tensor(self.times).repeat_interleave(len(chosen))
        z = torch.randn(x0.shape, generator=generator)
        return model.sde.marginal(x0, t, z), t

    @staticmethod
    @torch.no_grad()
    def _eps(model: ScoreModel, inputs: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor | None:
        if inputs is None:
            return None
        xt, t = inputs
        return model.eps(xt.to(model.device), t.to(model.device)).float().cpu()

    def cosines(self, model: ScoreModel) -> tuple[list[float], list[float]]:
        """Return the mean cosine to the original's predicted noise per time, on forget and on retain images."""
        result = []
        for role in ("forget", "retain"):
            eps = self._eps(model, self._inputs[role])
            if eps is None:
                result.append([])
                continue
            cosine = F.cosine_similarity(eps.flatten(1), self._original_eps[role].flatten(1), dim=1).clamp(-1.0, 1.0)
            result.append([float(value) for value in cosine.reshape(len(self.times), -1).mean(dim=1)])
        return result[0], result[1]


class Monitor:
    """The measurements of one moderation run, taken on fixed seeds and inputs so that they form curves."""

    def __init__(self, original: ScoreModel, forget_images: torch.Tensor, retain_images: torch.Tensor,
                 judge=None, count: int = 32) -> None:
        self.judge = judge
        self.count = count
        self.bundled = works_on_bundled_digits(original)
        self.probe = ScoreProbe(original, forget_images, retain_images)

    def measure(self, model: ScoreModel, step: int) -> Iterator[Metrics | ScoreDiagnostic]:
        """Sample and probe `model` (the moderated EMA weights); yield Metrics, then ScoreDiagnostic."""
        values = {}
        if self.judge is not None or self.bundled:
            sampler = SamplerConfig(sampler="ddim", steps=SAMPLER_STEPS, eta=1.0)
            images = run(iter_sample(model, self.count, SAMPLE_SEED, sampler))
            values = sample_measures(images, self.judge, self.bundled)
        yield Metrics(step=step, values=values)

        forget, retain = self.probe.cosines(model)
        yield ScoreDiagnostic(step=step, times=list(self.probe.times), forget=forget, retain=retain)
