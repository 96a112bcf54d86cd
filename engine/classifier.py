"""The bundled MNIST classifier: labels samples for the forget rate and gives features for the Fréchet distance."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F

from engine.augment import augment
from engine.data import bundled_tensors
from engine.errors import UserError
from engine.jobs import Finished, JobControl, Message, Progress, Stopwatch

METADATA_KEY = "msgm_studio_classifier"


class DigitClassifier(nn.Module):
    """A small CNN for 1-channel 28x28 images in [-1, 1]; `features` is the 128-d penultimate layer."""

    def __init__(self, classes: int = 10, width: int = 32):
        super().__init__()
        self.width = width
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(2 * width * 49, 128), nn.ReLU(),
        )
        self.head = nn.Linear(128, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


@dataclass
class ClassifierTrainConfig:
    epochs: int = 15
    batch_size: int = 128
    lr: float = 2e-3
    holdout_per_class: int = 50
    seed: int = 0


def iter_train_classifier(config: ClassifierTrainConfig, out: Path, control: JobControl | None = None) -> Iterator:
    """Train on the bundled digits less a held-out set per class; report held-out accuracy; save to `out`."""
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    images, labels = bundled_tensors()
    holdout = torch.zeros(len(labels), dtype=torch.bool)
    for digit in range(10):
        holdout[torch.nonzero(labels == digit)[: config.holdout_per_class, 0]] = True
    train_x, train_y = images[~holdout], labels[~holdout]
    test_x, test_y = images[holdout], labels[holdout]

    network = DigitClassifier()
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.lr, weight_decay=1e-4)
    batches_per_epoch = math.ceil(len(train_x) / config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=config.epochs * batches_per_epoch)
    clock = Stopwatch()
    for epoch in range(1, config.epochs + 1):
        network.train()
        order = torch.randperm(len(train_x), generator=generator)
        for start in range(0, len(order), config.batch_size):
            if control is not None:
                control.checkpoint()
            index = order[start : start + config.batch_size]
            loss = F.cross_entropy(network(augment(train_x[index], generator)), train_y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        accuracy = float((predict(network, test_x).argmax(1) == test_y).float().mean())
        yield Progress(step=epoch, total=config.epochs, elapsed=clock.elapsed, values={"loss": float(loss.detach()), "holdout_accuracy": accuracy})

    yield Message(f"held-out accuracy {accuracy:.1%} on {len(test_y)} digits")
    save_classifier(network, out, {"holdout_accuracy": accuracy, "epochs": config.epochs, "seed": config.seed})
    yield Finished(result=out)


@torch.no_grad()
def predict(network: DigitClassifier, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Class probabilities (N, classes)."""
    network.eval()
    return torch.cat([F.softmax(network(images[i : i + batch_size]), dim=1) for i in range(0, len(images), batch_size)])


@torch.no_grad()
def features(network: DigitClassifier, images: torch.Tensor, batch_size: int = 1000) -> np.ndarray:
    network.eval()
    return torch.cat([network.features(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]).double().numpy()


def save_classifier(network: DigitClassifier, path: Path, facts: dict) -> None:
    from engine.checkpoint import atomic_write

    metadata = {METADATA_KEY: json.dumps({"width": network.width, "classes": 10, **facts})}
    tensors = {key: value.contiguous() for key, value in network.state_dict().items()}
    atomic_write(path, lambda temporary: save_file(tensors, temporary, metadata=metadata))


def load_classifier(path: Path) -> DigitClassifier:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            document = json.loads((handle.metadata() or {})[METADATA_KEY])
        tensors = load_file(str(path))
    except (OSError, KeyError, ValueError, json.JSONDecodeError) as error:
        raise UserError(f"cannot read the classifier {path} ({error}); reinstall msgm-studio or train it again") from error
    network = DigitClassifier(classes=document["classes"], width=document["width"])
    network.load_state_dict(tensors, strict=True)
    return network.eval()
