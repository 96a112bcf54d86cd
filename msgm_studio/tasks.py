"""Engine work that the studio submits to its job engine, written as generators of engine events. No Qt."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from engine.data import MNIST_CLASSES, bundled_tensors, model_to_uint8
from engine.errors import UserError
from engine.jobs import Finished, JobControl, Progress, Stopwatch
from engine.moderation import ModerationConfig, iter_moderate
from engine.sampling import SamplerConfig, iter_sample
from engine.score_model import ScoreModel
from msgm_studio.forget_set import ForgetSet

# Shape of the bundled MNIST digits (channels, height, width).
BUNDLED_SHAPE = (1, 28, 28)


def bundled_classes(model: ScoreModel) -> list[str]:
    """Class names of the bundled data that fit `model`, or [] when it works on other images or classes."""
    if model.shape != BUNDLED_SHAPE:
        return []
    if model.classes and list(model.classes) != MNIST_CLASSES:
        return []
    return list(MNIST_CLASSES)


def call(function: Callable, *args, **kwargs) -> Iterator[Finished]:
    """A job of one step: call `function` when iterated and finish with its return value."""
    yield Finished(result=function(*args, **kwargs))


@dataclass
class SampleSet:
    """Samples of one model: uint8 images (N, H, W, C) and, for the bundled digits, the classifier's labels."""

    images: np.ndarray
    labels: np.ndarray | None
    seed: int


def iter_sample_models(
    models: dict[str, ScoreModel], count: int, seed: int, steps: int, control: JobControl | None = None
) -> Iterator[Progress | Finished]:
    """Sample every model from the same seed, one after another, and finish with {role: SampleSet}.

    The DDIM sampler with eta=1 is the ancestral sampler, good at 25 steps. Progress counts the steps of
    all models together.
    """
    from engine.metrics import Labels

    config = SamplerConfig(sampler="ddim", steps=steps, eta=1.0)
    total = steps * len(models)
    clock = Stopwatch()
    results: dict[str, SampleSet] = {}
    for index, (role, model) in enumerate(models.items()):
        images = None
        for event in iter_sample(model, count, seed, config, control):
            if isinstance(event, Progress):
                yield Progress(step=index * steps + event.step, total=total, elapsed=clock.elapsed)
            elif isinstance(event, Finished):
                images = event.result

        labels = Labels.of(images).predicted if bundled_classes(model) else None
        results[role] = SampleSet(images=model_to_uint8(images), labels=labels, seed=seed)
    yield Finished(result=results)


def iter_studio_moderation(
    original: ScoreModel, forget_set: ForgetSet, config: ModerationConfig, control: JobControl | None = None
) -> Iterator:
    """Moderate `original` with the bundled digits outside the forget classes as the retain set."""
    if not bundled_classes(original):
        # NOTE: the studio has no other retain source yet (a folder or the model's own samples).
        raise UserError(
            f"this model works on {original.shape} images, but the only retain set the studio offers is the "
            f"bundled MNIST digits {BUNDLED_SHAPE}. Moderate it with `msgm-studio moderate --retain FOLDER` instead"
        )
    forget_images = forget_set.images()
    retain_images, _ = bundled_tensors(exclude=forget_set.classes)
    yield from iter_moderate(original, forget_images, retain_images, config, control, forget_summary=forget_set.summary())
