"""Forget judges: models that score whether an image looks like the forget set.

A judge maps images to the probability that they show the forget concept. For bundled MNIST classes
the bundled classifier is the judge (`ClassJudge`). For any other forget set (drawn, dropped or picked
images) a small CNN is trained in a few hundred steps to tell the forget images from retain images
(`Detector`), with the same augmentation as moderation so that ten examples stand for a concept. The
judge measures the forget rate of a model and filters retain images that look like the forget set.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from engine.augment import augment
from engine.errors import UserError
from engine.jobs import Finished, JobControl, Message, Progress, Stopwatch
from engine.sampling import SamplerConfig, iter_sample
from engine.score_model import ScoreModel


class ForgetJudge:
    """Base of the judges: `probability` returns P(forget) per image, on the CPU."""

    name = "judge"

    def probability(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def verdicts(self, images: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
        """Return a bool per image: True where the judge calls it forget content."""
        return self.probability(images) >= threshold


class ClassJudge(ForgetJudge):
    """The bundled MNIST classifier: P(forget) is its softmax summed over the forget classes."""

    def __init__(self, classes: list[int]) -> None:
        if not classes:
            raise UserError("a class judge needs at least one forget class")
        self.classes = sorted(set(classes))
        self.name = f"classifier: class{'es' if len(self.classes) > 1 else ''} {', '.join(map(str, self.classes))}"

    @torch.no_grad()
    def probability(self, images: torch.Tensor) -> torch.Tensor:
        from engine.classifier import predict
        from engine.metrics import bundled_classifier

        return predict(bundled_classifier(), images.float().cpu())[:, self.classes].sum(dim=1)


class DetectorNetwork(nn.Module):
    """A small CNN for images of any channel count and size >= 8 pixels: one logit (forget vs retain)."""

    def __init__(self, channels: int, width: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.GroupNorm(4, width), nn.SiLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.GroupNorm(4, 2 * width), nn.SiLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 4 * width, 3, padding=1), nn.GroupNorm(4, 4 * width), nn.SiLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(4 * width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).squeeze(1)


class Detector(ForgetJudge):
    """A trained forget-vs-retain detector. `accuracy` is measured on held-out forget and retain images."""

    def __init__(self, network: DetectorNetwork, accuracy: dict[str, float], forget_count: int, retain_count: int) -> None:
        self.network = network.eval()
        self.accuracy = accuracy
        self.name = f"detector ({forget_count:,} forget, {retain_count:,} retain images)"

    @torch.no_grad()
    def probability(self, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        images = images.float().cpu()
        return torch.cat([torch.sigmoid(self.network(images[i : i + batch_size])) for i in range(0, len(images), batch_size)])


@dataclass
class DetectorConfig:
    """Training settings of a forget detector."""

    steps: int = 300
    batch_size: int = 64  # half forget, half retain images in each batch
    lr: float = 1e-3
    seed: int = 0
    held_out: float = 0.2  # share of the forget and of the retain images kept out of training
    rounds: int = 2  # training rounds: the first on the given images, each later one self-trained (see below)
    pseudo_label_threshold: float = 0.8  # P(forget) above which a retain image joins the forget examples
    negative_threshold: float = 0.2  # P(forget) below which a retain image stays a negative example

    def validate(self) -> None:
        """Raise a UserError naming the first setting out of range."""
        checks = [
            (self.steps >= 1, f"detector steps must be at least 1, got {self.steps}"),
            (self.batch_size >= 2, f"detector batch size must be at least 2, got {self.batch_size}"),
            (self.lr > 0, f"detector learning rate must be positive, got {self.lr}"),
            (0 <= self.held_out < 1, f"detector held-out share must be in [0, 1), got {self.held_out}"),
            (self.rounds >= 1, f"detector rounds must be at least 1, got {self.rounds}"),
            (0 <= self.negative_threshold <= self.pseudo_label_threshold <= 1,
             "detector thresholds need 0 <= negative_threshold <= pseudo_label_threshold <= 1"),
        ]
        for passed, message in checks:
            if not passed:
                raise UserError(message)


def _fit(network: DetectorNetwork, positives: torch.Tensor, negatives: torch.Tensor, config: DetectorConfig,
         generator: torch.Generator, steps: range, total: int, clock: Stopwatch, control: JobControl | None) -> Iterator:
    """Train `network` on balanced, augmented batches of positives (forget) and negatives (retain)."""
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.lr, weight_decay=1e-4)
    half = max(1, config.batch_size // 2)
    targets = torch.cat([torch.ones(half), torch.zeros(half)])
    network.train()
    for step in steps:
        if control is not None:
            control.checkpoint()
        batch = torch.cat([
            positives[torch.randint(len(positives), (half,), generator=generator)],
            negatives[torch.randint(len(negatives), (half,), generator=generator)],
        ])
        batch = augment(batch, generator, shift=0.08, degrees=10.0, scale=0.1, stroke=0.3)
        loss = F.binary_cross_entropy_with_logits(network(batch), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        yield Progress(step=step, total=total, elapsed=clock.elapsed, values={"detector_loss": float(loss.detach())})


def _split(images: torch.Tensor, share: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Split into (train, held out). A set of fewer than 5 images is used whole for training, with no held-out part."""
    order = torch.randperm(len(images), generator=generator)
    held = int(round(len(images) * share))
    if len(images) < 5 or held == 0:
        return images, None
    return images[order[held:]], images[order[:held]]


def iter_train_detector(forget: torch.Tensor, retain: torch.Tensor, config: DetectorConfig | None = None,
                        control: JobControl | None = None) -> Iterator:
    """Train a Detector on forget vs retain images. Yields Progress, a Message with the held-out accuracy, then Finished(Detector).

    Each batch is half forget, half retain images, all augmented (shifts, rotations, scaling, stroke
    width), so a small forget set is not memorised pixel by pixel. With fewer than 5 forget images the
    held-out accuracy is measured on augmented copies of the training images, and the message states this.
    """
    config = config or DetectorConfig()
    config.validate()
    if len(forget) == 0 or len(retain) == 0:
        raise UserError("a forget detector needs forget images and retain images; add some of each")
    if forget.shape[1:] != retain.shape[1:]:
        raise UserError(f"forget images {tuple(forget.shape[1:])} and retain images {tuple(retain.shape[1:])} differ in shape")

    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    forget_train, forget_test = _split(forget.float(), config.held_out, generator)
    retain_train, retain_test = _split(retain.float(), config.held_out, generator)
    clock = Stopwatch()
    total = config.steps * config.rounds

    network = None
    positives, negatives = forget_train, retain_train
    for round_index in range(config.rounds):
        if network is not None:
            # Self-training: retain images the last network is sure about count as forget examples, and
            # uncertain ones are left out of the negatives. Ten examples then grow into hundreds.
            probability = Detector(network, {}, 0, 0).probability(retain_train)
            positives = torch.cat([forget_train, retain_train[probability >= config.pseudo_label_threshold]])
            negatives = retain_train[probability < config.negative_threshold]
            if len(negatives) == 0:
                negatives = retain_train
            yield Message(f"forget detector round {round_index + 1}: {len(positives) - len(forget_train):,} retain "
                          "images taken as forget examples")
        network = DetectorNetwork(forget.shape[1])
        steps = range(round_index * config.steps + 1, (round_index + 1) * config.steps + 1)
        yield from _fit(network, positives, negatives, config, generator, steps, total, clock, control)

    detector = Detector(network, {}, len(forget), len(retain))
    note = ""
    if forget_test is None:
        forget_test = augment(forget_train.repeat(8, 1, 1, 1), generator, shift=0.08, degrees=10.0, scale=0.1)
        note = " (too few forget images to hold some out, so augmented copies were measured)"
    if retain_test is None:
        retain_test = retain_train
    detector.accuracy = {
        "forget": float(detector.verdicts(forget_test).float().mean()),
        "retain": float((~detector.verdicts(retain_test)).float().mean()),
    }
    yield Message(f"forget detector: {detector.accuracy['forget']:.0%} of held-out forget images and "
                  f"{detector.accuracy['retain']:.0%} of held-out retain images recognised{note}")
    yield Finished(result=detector)


# A retain image is dropped from 20% P(forget) up: losing a few retain images costs little, while
# forget images left in the retain set teach the moderated model to keep generating them.
RETAIN_FILTER_THRESHOLD = 0.2


def filter_retain(images: torch.Tensor, judge: ForgetJudge, threshold: float = RETAIN_FILTER_THRESHOLD) -> torch.Tensor:
    """Return the images that the judge does not call forget content, keeping only clear non-forget ones."""
    return images[~judge.verdicts(images, threshold)]


def iter_model_retain(model: ScoreModel, count: int, seed: int, judge: ForgetJudge, control: JobControl | None = None,
                      steps: int = 25) -> Iterator:
    """Sample `count` images from the model and keep those the judge does not call forget. Finishes with the kept images.

    The ancestral DDIM sampler (eta 1) at 25 steps gives usable samples of the bundled model quickly.
    """
    images = None
    for event in iter_sample(model, count, seed, SamplerConfig(sampler="ddim", steps=steps, eta=1.0), control):
        if isinstance(event, Finished):
            images = event.result
        else:
            yield event
    kept = filter_retain(images.cpu(), judge)
    yield Message(f"kept {len(kept):,} of {count:,} samples of the original model as retain images; "
                  f"{count - len(kept):,} looked like the forget set")
    if len(kept) == 0:
        raise UserError("every sample of the model looks like the forget set, so there is nothing to retain; "
                        "choose the bundled data or a folder as the retain source")
    yield Finished(result=kept)
