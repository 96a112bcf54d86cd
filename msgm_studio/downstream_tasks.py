"""Inpainting and reconstruction jobs of the studio: one input image through every model, from one seed. No Qt."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from engine.data import MNIST_CLASSES, model_to_uint8
from engine.downstream import ReconstructionConfig, iter_inpaint, iter_reconstruct
from engine.errors import UserError
from engine.jobs import Finished, JobControl, Progress, Stopwatch
from engine.sampling import SamplerConfig
from engine.score_model import ScoreModel
from msgm_studio.tasks import bundled_classes


@dataclass
class Verdict:
    """The bundled classifier's label of one image and its probability."""

    label: str
    probability: float

    def text(self) -> str:
        return f"classified as {self.label} ({self.probability:.0%})"


@dataclass
class DownstreamResult:
    """The result of every model on one input image, from the same seed.

    `images` maps a role ("original", "moderated") to a uint8 image (H, W, C). Verdicts exist only for
    models of the bundled digits' shape, which the bundled classifier can label.
    """

    images: dict[str, np.ndarray]
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    input_verdict: Verdict | None = None
    seed: int = 0


def classify(images: torch.Tensor) -> list[Verdict]:
    """Label model images (N, 1, 28, 28) with the bundled classifier."""
    from engine.metrics import Labels

    labels = Labels.of(images)
    return [Verdict(MNIST_CLASSES[int(index)], float(probability))
            for index, probability in zip(labels.predicted, labels.confidence)]


def iter_models(models: dict[str, ScoreModel], image: torch.Tensor, seed: int,
                make_job: Callable[[ScoreModel, torch.Tensor], Iterator]) -> Iterator[Progress | Finished]:
    """Run `make_job(model, images)` for every model on the batch of one `image` (C, H, W).

    Progress counts the steps of all models together; finishes with a DownstreamResult.
    """
    clock = Stopwatch()
    batch = image[None].float()
    outputs: dict[str, torch.Tensor] = {}
    for index, (role, model) in enumerate(models.items()):
        for event in make_job(model, batch):
            if isinstance(event, Progress):
                yield Progress(step=index * event.total + event.step, total=event.total * len(models), elapsed=clock.elapsed)
            elif isinstance(event, Finished):
                outputs[role] = event.result

    result = DownstreamResult(images={role: model_to_uint8(output)[0] for role, output in outputs.items()}, seed=seed)
    if all(bundled_classes(model) for model in models.values()):
        verdicts = classify(torch.cat([batch, *outputs.values()]))
        result.input_verdict = verdicts[0]
        result.verdicts = dict(zip(outputs, verdicts[1:]))
    yield Finished(result=result)


def iter_inpaint_models(models: dict[str, ScoreModel], image: torch.Tensor, fill: np.ndarray, seed: int, steps: int,
                        control: JobControl | None = None) -> Iterator[Progress | Finished]:
    """Inpaint `image` (C, H, W) in [-1, 1] where `fill` (H, W, bool) is True, with every model from `seed`.

    The predictor-corrector sampler runs `steps` steps. Finishes with a DownstreamResult.
    """
    if not fill.any():
        raise UserError("the mask is empty, so there is nothing to fill. Paint the area to fill or choose a preset mask")
    known = torch.from_numpy(~fill).float()[None, None]
    config = SamplerConfig(sampler="pc", steps=steps)
    yield from iter_models(models, image, seed, lambda model, images: iter_inpaint(model, images, known, seed, config, control))


def iter_reconstruct_models(models: dict[str, ScoreModel], image: torch.Tensor, config: ReconstructionConfig, seed: int,
                            control: JobControl | None = None) -> Iterator[Progress | Finished]:
    """Reconstruct `image` (C, H, W) in [-1, 1] with every model from `seed`. Finishes with a DownstreamResult."""
    config.validate()
    yield from iter_models(models, image, seed, lambda model, images: iter_reconstruct(model, images, seed, config, control))
