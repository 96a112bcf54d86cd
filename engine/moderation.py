"""MSGM moderation: fine-tune a score model so that its score turns away from a forget set.

At optimiser step k the loss is
    L_k = w_R * L_R(retain batch) + w_F * [k mod K == 0] * L_F(forget batch),
with L_R denoising score matching and L_F one of the forget objectives in `engine.objectives`.
`retain-only` drops the forget term: the "retrain without the forget data" baseline as a fine-tune.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING

import torch

from engine import __version__
from engine.augment import augment
from engine.device import PRECISIONS, autocast_for
from engine.errors import UserError
from engine.jobs import Cancelled, Finished, JobControl, Message, Preview, Progress, Stopwatch
from engine.moderation_state import ModerationState, capture_state, check_resume, restore_state
from engine.monitor import Monitor
from engine.objectives import METHODS, dsm_loss, forget_loss, perturb, sample_times
from engine.sampling import SamplerConfig, iter_sample, run
from engine.score_model import ScoreModel
from engine.training import Optimisation

if TYPE_CHECKING:
    from engine.detector import ForgetJudge

log = logging.getLogger(__name__)

TRAIN_EPS = 1e-5


# Below this many retain images the studio and the command line warn: the retain term then fits a
# handful of images and the model keeps little else.
SMALL_RETAIN_SET = 100

@dataclass
class ModerationConfig:
    """Settings of one moderation run. `PRESETS` contains named sets of them."""

    method: str = "obtuse"
    steps: int = 300
    retain_batch_size: int = 64
    forget_batch_size: int = 64
    lr: float = 2e-4
    warmup: int = 20
    grad_clip: float = 1.0
    ema_decay: float = 0.98
    retain_weight: float = 1.0  # w_R
    forget_weight: float = 0.03  # w_F
    forget_period: int = 1  # K: the forget term is applied every K-th step
    forget_t_min: float = TRAIN_EPS  # the forget term acts on times drawn from [forget_t_min, forget_t_max]
    # Only small t: there a noised forget image still looks like itself, so the forget term changes the
    # score near the forget data alone. Over all of [0, 1] (noised images that look like any digit) it
    # cost the bundled model twice the kept-class Fréchet distance for a worse forget rate.
    forget_t_max: float = 0.1
    margin: float = 0.1  # obtuse only: the cosine is pushed below -margin
    augment_forget: bool = True  # random shifts, rotations, scaling and stroke width on forget images
    seed: int = 0
    preview_every: int = 0  # sample a preview grid every N steps (0: never)
    preview_count: int = 16
    preview_seed: int = 0
    monitor_every: int = 0  # measure forget rate, quality and the score diagnostic every N steps (0: never)
    monitor_count: int = 32  # samples per measurement, from fixed seeds (engine.monitor)
    # "auto" uses bfloat16 autocast where the device runs it natively (CUDA GPUs, CPUs with AVX-512
    # BF16 or AMX) and float32 elsewhere. "fp32" and "bf16" force one of them.
    precision: str = "auto"

    def problems(self) -> list[tuple[str, tuple[str, ...]]]:
        """List every setting that cannot work: (message, names of the fields behind it), in field order."""
        if self.method not in METHODS:
            return [(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}", ("method",))]
        checks = [
            (self.steps >= 1, "steps must be at least 1", ("steps",)),
            (self.retain_batch_size >= 1, "the retain batch size must be at least 1", ("retain_batch_size",)),
            (self.forget_batch_size >= 1, "the forget batch size must be at least 1", ("forget_batch_size",)),
            (self.lr > 0, "the learning rate must be positive", ("lr",)),
            (self.forget_period >= 1, "the forget period K must be at least 1", ("forget_period",)),
            (0 < self.forget_t_min < self.forget_t_max <= 1,
             "the forget time range needs 0 < t from < t to <= 1", ("forget_t_min", "forget_t_max")),
            (0 <= self.ema_decay < 1, "the EMA decay must be in [0, 1)", ("ema_decay",)),
            (self.retain_weight >= 0, "the retain weight cannot be negative", ("retain_weight",)),
            (self.forget_weight >= 0, "the forget weight cannot be negative", ("forget_weight",)),
            (self.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}", ("precision",)),
            (self.preview_every >= 0, "the preview interval cannot be negative", ("preview_every",)),
            (self.monitor_every >= 0, "the measurement interval cannot be negative", ("monitor_every",)),
            (self.preview_count >= 1, "the preview sample count must be at least 1", ("preview_count",)),
            (self.monitor_count >= 1, "the measured sample count must be at least 1", ("monitor_count",)),
        ]
        return [(message, names) for passed, message, names in checks if not passed]

    def validate(self) -> None:
        """Raise a UserError naming every setting that cannot work."""
        problems = self.problems()
        if problems:
            raise UserError(f"invalid moderation settings: {'; '.join(message for message, _names in problems)}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModerationConfig:
        names = {item.name for item in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


# Named settings. "default" is what `msgm-studio moderate` uses; "paper" is the published
# re-training weighting (w_R 0.99, w_F 0.01, K 4), which is too weak for a short fine-tune.
PRESETS: dict[str, dict] = {
    "default": {},
    "fast": {"steps": 150},
    "thorough": {"steps": 600},
    "paper": {"retain_weight": 0.99, "forget_weight": 0.01, "forget_period": 4, "forget_t_max": 1.0},
}


def preset(name: str, **overrides) -> ModerationConfig:
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return replace(ModerationConfig(**PRESETS[name]), **overrides)


@dataclass
class ModerationResult:
    """The moderated model (EMA weights), how far the run got, and the state to continue it from."""

    model: ScoreModel
    steps_done: int
    cancelled: bool
    seconds: float
    last_values: dict[str, float] = field(default_factory=dict)
    state: ModerationState | None = None
    judge: ForgetJudge | None = None  # the forget judge the run was given, for judging samples afterwards


def iter_moderate(
    original: ScoreModel,
    forget_images: torch.Tensor,
    retain_images: torch.Tensor,
    config: ModerationConfig,
    control: JobControl | None = None,
    forget_summary: str = "",
    *,
    judge: ForgetJudge | None = None,
    autosave: Callable[[ModerationState], None] | None = None,
    autosave_every: int = 0,
    resume: ModerationState | None = None,
) -> Iterator:
    """Run moderation step by step and finish with Finished(ModerationResult).

    Yields Message, then per step Progress, a Preview every `config.preview_every` steps, and Metrics
    and ScoreDiagnostic every `config.monitor_every` steps, at step 0 and at the last step (see
    engine.monitor). `judge` (an engine.detector.ForgetJudge) measures the forget rate in Metrics;
    without one, Metrics has no forget rate.

    The original model is never modified: the run trains a deep copy. On cancel the run stops
    between steps and finishes with the state reached (`cancelled=True`).

    Autosave: every `autosave_every` steps, `autosave(state)` is called on the thread that runs this
    generator, before that step's events. When it raises a UserError or an OSError, the run goes on
    and yields one warning Message. `engine.moderation_state.save_state` writes a state to a file.

    Resume: with `resume`, the run continues after `resume.step` and ends with the same weights as an
    uninterrupted run (on the CPU, bit for bit). Pass the same original model and the same forget and
    retain images as the run that saved it. A different image count raises a UserError, and so does
    any changed setting except steps and the preview and monitor settings.
    """
    config.validate()
    _check_images(original, forget_images, "forget", required=config.method != "retain-only")
    _check_images(original, retain_images, "retain", required=True)
    if resume is not None:
        check_resume(resume, config, len(forget_images), len(retain_images))

    device = original.device
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    moderated = original.copy()
    moderated.network.train()
    optimisation = Optimisation(moderated.network, config.lr, config.warmup, config.grad_clip, config.ema_decay)
    start = 0
    if resume is not None:
        restore_state(resume, moderated, optimisation, generator)
        start = resume.step
    uses_forget = config.method != "retain-only"
    monitor = None
    if config.monitor_every:
        monitor = Monitor(original, forget_images, retain_images, judge, config.monitor_count)
    resumed = f", resumed after step {start}" if resume is not None else ""
    yield Message(
        f"moderating with {config.method} for {config.steps} steps: {len(forget_images)} forget and "
        f"{len(retain_images)} retain images on {device}{resumed}"
    )

    clock = Stopwatch()
    earlier_seconds = resume.seconds if resume is not None else 0.0
    summary = forget_summary or f"{len(forget_images)} images"

    def state_after(step_done: int) -> ModerationState:
        return capture_state(step_done, config, moderated, optimisation, generator, len(forget_images),
                             len(retain_images), earlier_seconds + clock.elapsed, summary)

    if monitor is not None and start == 0:
        yield from monitor.measure(_ema_view(moderated, optimisation), 0)
    values: dict[str, float] = {}
    cancelled = False
    autosave_failed = False
    step = start
    try:
        for step in range(start + 1, config.steps + 1):
            if control is not None:
                control.checkpoint()
            values = _step(moderated, optimisation, forget_images, retain_images, config, step, generator, uses_forget)
            if autosave is not None and autosave_every > 0 and step % autosave_every == 0:
                try:
                    autosave(state_after(step))
                except (UserError, OSError) as error:
                    log.warning("autosave at step %d failed: %s", step, error)
                    if not autosave_failed:
                        autosave_failed = True
                        yield Message(f"autosave failed at step {step}: {error}. The run goes on without it.", "warning")

            yield Progress(step=step, total=config.steps, elapsed=earlier_seconds + clock.elapsed, values=values)
            last = step == config.steps
            if config.preview_every and (step % config.preview_every == 0 or last):
                yield Preview(step=step, images=preview(_ema_view(moderated, optimisation), config))
            if monitor is not None and (step % config.monitor_every == 0 or last):
                yield from monitor.measure(_ema_view(moderated, optimisation), step)
    except Cancelled:
        # Raised by control.checkpoint() before the step ran, so `step` was not done.
        cancelled, step = True, step - 1

    result_model = _ema_model(moderated, optimisation)
    result_model.history.append({
        "kind": "moderation",
        "method": config.method,
        "settings": config.to_dict(),
        "steps_done": step,
        "cancelled": cancelled,
        "forget_set": summary,
        "retain_images": len(retain_images),
        "producer": f"msgm-studio {__version__}",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })
    result = ModerationResult(model=result_model, steps_done=step, cancelled=cancelled,
                              seconds=earlier_seconds + clock.elapsed, last_values=values, state=state_after(step),
                              judge=judge)
    yield Finished(result=result, cancelled=cancelled)


def _step(model: ScoreModel, optimisation: Optimisation, forget_images: torch.Tensor, retain_images: torch.Tensor,
          config: ModerationConfig, step: int, generator: torch.Generator, uses_forget: bool) -> dict[str, float]:
    """One optimiser step; returns the loss terms."""
    device = model.device
    autocast = autocast_for(device, config.precision)

    retain = retain_images[torch.randint(len(retain_images), (config.retain_batch_size,), generator=generator)]
    t_retain = sample_times(len(retain), TRAIN_EPS, 1.0, generator)
    noised_retain = perturb(model, retain, t_retain, generator)
    with autocast:
        eps_retain = model.eps(noised_retain.xt.to(device), t_retain.to(device)).float()
    retain_loss = dsm_loss(eps_retain, noised_retain.z.to(device))
    loss = config.retain_weight * retain_loss
    values = {"retain_loss": float(retain_loss.detach())}

    if uses_forget and step % config.forget_period == 0:
        forget = forget_images[torch.randint(len(forget_images), (config.forget_batch_size,), generator=generator)]
        if config.augment_forget:
            forget = augment(forget, generator, shift=0.08, degrees=10.0, scale=0.1, stroke=0.3)
        t_forget = sample_times(len(forget), config.forget_t_min, config.forget_t_max, generator)
        noised_forget = perturb(model, forget, t_forget, generator)
        with autocast:
            eps_forget = model.eps(noised_forget.xt.to(device), t_forget.to(device)).float()
        term = forget_loss(config.method, eps_forget, noised_forget.z.to(device), config.margin)
        loss = loss + config.forget_weight * term
        values["forget_loss"] = float(term.detach())

    values["grad_norm"] = optimisation.step(loss)
    values["loss"] = float(loss.detach())
    return values


def _ema_model(moderated: ScoreModel, optimisation: Optimisation) -> ScoreModel:
    """Copy the current EMA weights into a standalone model."""
    snapshot = moderated.copy()
    snapshot.network.load_state_dict(optimisation.ema.state_dict())
    snapshot.network.eval()
    return snapshot


def _ema_view(moderated: ScoreModel, optimisation: Optimisation) -> ScoreModel:
    """Wrap the live EMA network as a model, without copying it, for sampling between steps."""
    return ScoreModel(network=optimisation.ema, sde_config=moderated.sde_config, image=moderated.image,
                      name=moderated.name, classes=moderated.classes)


def preview(model: ScoreModel, config: ModerationConfig) -> torch.Tensor:
    """Sample a small grid from fixed seeds, cheap enough to draw during training."""
    return run(iter_sample(model, config.preview_count, config.preview_seed, SamplerConfig(sampler="ddim", steps=25, eta=1.0)))


def _check_images(model: ScoreModel, images: torch.Tensor, role: str, required: bool) -> None:
    if required and len(images) == 0:
        raise UserError(f"the {role} set is empty; add at least one image")
    if len(images) and tuple(images.shape[1:]) != model.shape:
        raise UserError(f"the {role} images have shape {tuple(images.shape[1:])} but the model needs {model.shape}")


def moderate(original: ScoreModel, forget_images: torch.Tensor, retain_images: torch.Tensor,
             config: ModerationConfig, forget_summary: str = "") -> ModerationResult:
    return run(iter_moderate(original, forget_images, retain_images, config, forget_summary=forget_summary))
