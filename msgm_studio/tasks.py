"""Engine work that the studio submits to its job engine, written as generators of engine events. No Qt."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from engine.checkpoint import load_checkpoint
from engine.data import MNIST_CLASSES, model_to_uint8
from engine.detector import ClassJudge, DetectorConfig, filter_retain, iter_train_detector
from engine.errors import UserError
from engine.jobs import Finished, JobControl, Message, Progress, Stopwatch
from engine.moderation import ModerationConfig, iter_moderate
from engine.sampling import SamplerConfig, iter_sample
from engine.score_model import ScoreModel
from msgm_studio.forget_set import ForgetSet, bundled_class_examples
from msgm_studio.retain_source import RetainSource, iter_retain_candidates

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


def open_model(path: Path, device) -> ScoreModel:
    """Load a checkpoint and, for a model of the bundled digits, the class thumbnails the forget set panel shows.

    Both read files, so the studio calls this on the job engine. `bundled_class_examples` caches its result.
    """
    model = load_checkpoint(path, device)
    if bundled_classes(model):
        bundled_class_examples()
    return model


def iter_studio_moderation(
    original: ScoreModel, forget_set: ForgetSet, retain_source: RetainSource, config: ModerationConfig,
    control: JobControl | None = None, detector_config: DetectorConfig | None = None, **moderate_options,
) -> Iterator:
    """Build the retain set from `retain_source`, find a forget judge, then moderate `original`.

    `moderate_options` go to `iter_moderate` as they are: `autosave`, `autosave_every` and `resume`.

    A forget set of bundled classes only is judged by the bundled classifier. Any other forget set
    first trains a forget detector on the forget images against the retain source's images. The
    judge then drops retain images that look like the forget set, except a folder's, which the user
    chose as they are.
    """
    retain_source.validate(bundled_available=bool(bundled_classes(original)))
    forget_images = forget_set.images()
    candidates = yield from _result_of(iter_retain_candidates(original, retain_source, forget_set.classes, control),
                                       "sampling the retain set")

    if forget_set.has_only_classes():
        judge = ClassJudge(forget_set.classes)
    else:
        yield Message(f"training a forget detector on {len(forget_images):,} forget and {len(candidates):,} retain images")
        judge = yield from _result_of(iter_train_detector(forget_images, candidates, detector_config, control),
                                      "training the forget detector")

    if retain_source.kind == "folder" or (retain_source.kind == "bundled" and forget_set.has_only_classes()):
        # A chosen folder is used as it is, and the bundled digits are already without the forget classes.
        retain_images = candidates
    else:
        retain_images = filter_retain(candidates, judge)
        yield Message(f"kept {len(retain_images):,} of {len(candidates):,} retain images, because "
                      f"{len(candidates) - len(retain_images):,} looked like the forget set to the {judge.name}")
    if len(retain_images) == 0:
        raise UserError(f"every image of {retain_source.describe()} looks like the forget set, so nothing is left to "
                        "retain. Choose another retain source")

    # The judge also measures the forget rate during the run, every config.monitor_every steps.
    yield from iter_moderate(original, forget_images, retain_images, config, control, forget_summary=forget_set.summary(),
                             judge=judge, **moderate_options)


def _result_of(events: Iterator, phase: str) -> Iterator:
    """Pass on the events of a job generator and return its Finished result (use with `yield from`).

    Its Progress events are marked with `phase`, so that they are not taken for moderation steps.
    """
    for event in events:
        if isinstance(event, Finished):
            return event.result
        yield replace(event, phase=phase) if isinstance(event, Progress) else event
    raise RuntimeError("the job ended without a Finished event")
