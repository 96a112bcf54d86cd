"""Measuring a model: forget rate, class histogram, recognisability and a Fréchet distance.

Samples are labelled by the bundled MNIST classifier. The Fréchet distance compares the classifier's
128-d penultimate features of the generated samples that are not labelled as a forget class with the
features of the real bundled digits of the kept classes (an Inception FID needs downloaded weights).
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from engine.classifier import DigitClassifier, features, load_classifier, predict
from engine.data import bundled_tensors
from engine.jobs import Finished
from engine.sampling import SamplerConfig, iter_sample
from engine.score_model import ScoreModel

CONFIDENT = 0.9


@functools.lru_cache(maxsize=1)
def bundled_classifier() -> DigitClassifier:
    from resources import CLASSIFIER

    return load_classifier(CLASSIFIER)


@functools.lru_cache(maxsize=16)
def _real_features(exclude: tuple[int, ...]) -> np.ndarray:
    images, _ = bundled_tensors(exclude=list(exclude))
    return features(bundled_classifier(), images)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (rows are samples).

    tr(sqrt(S_a S_b)) is computed as the sum of square roots of the eigenvalues of
    sqrt(S_a) S_b sqrt(S_a), which is symmetric, so only symmetric eigensolvers are needed.
    """
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    middle = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_root = np.sqrt(np.clip(middle, 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_root)


@dataclass
class Labels:
    """The classifier's verdict on a batch of images."""

    predicted: np.ndarray  # class index per image
    confidence: np.ndarray  # probability of the predicted class

    @classmethod
    def of(cls, images: torch.Tensor) -> Labels:
        probabilities = predict(bundled_classifier(), images.float().cpu())
        confidence, predicted = probabilities.max(dim=1)
        return cls(predicted=predicted.numpy(), confidence=confidence.numpy())


@dataclass
class Evaluation:
    count: int
    forget_classes: list[int]
    forget_rate: float  # share of samples labelled as any forget class
    recognisable: float  # share labelled with probability >= CONFIDENT
    histogram: list[float]  # share of samples per class
    frechet_kept: float | None  # Fréchet distance of the kept-class samples to the real kept digits
    sampler: dict = field(default_factory=dict)
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate_images(images: torch.Tensor, forget_classes: list[int]) -> Evaluation:
    labels = Labels.of(images)
    histogram = np.bincount(labels.predicted, minlength=10) / len(labels.predicted)
    is_forget = np.isin(labels.predicted, forget_classes)
    kept_images = images[torch.from_numpy(~is_forget)]
    frechet = None
    if len(kept_images) > 1:
        generated = features(bundled_classifier(), kept_images.float().cpu())
        frechet = frechet_distance(generated, _real_features(tuple(sorted(forget_classes))))
    return Evaluation(
        count=len(images),
        forget_classes=list(forget_classes),
        forget_rate=float(is_forget.mean()),
        recognisable=float((labels.confidence >= CONFIDENT).mean()),
        histogram=[float(value) for value in histogram],
        frechet_kept=frechet,
    )


def iter_evaluate(model: ScoreModel, forget_classes: list[int], count: int = 1000, seed: int = 0,
                  sampler: SamplerConfig | None = None, control=None):
    """Sample `count` images from fixed seeds and measure them; yields sampling progress, then Finished(Evaluation)."""
    sampler = sampler or SamplerConfig()
    images = None
    for event in iter_sample(model, count, seed, sampler, control):
        if isinstance(event, Finished):
            images = event.result
        else:
            yield event
    evaluation = evaluate_images(images, forget_classes)
    evaluation.sampler = {"sampler": sampler.sampler, "steps": sampler.step_count}
    evaluation.seed = seed
    yield Finished(result=evaluation)
