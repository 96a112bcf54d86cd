"""Retain sources of a studio moderation: the bundled digits, a folder, or the original model's own samples. No Qt."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.data import bundled_tensors, require_images
from engine.errors import UserError
from engine.jobs import Finished, JobControl, Message, Progress
from engine.moderation import SMALL_RETAIN_SET
from engine.sampling import SamplerConfig, iter_sample
from engine.score_model import ScoreModel

RETAIN_KINDS = ("bundled", "folder", "samples")
DEFAULT_SAMPLE_COUNT = 2_000


@dataclass(frozen=True)
class RetainSource:
    """Source of the retain set, one of three kinds.

    - "bundled": the bundled digits outside the forget classes.
    - "folder": every image under `folder`, converted to the model's shape.
    - "samples": `sample_count` samples of the original model from `seed`, by the ancestral DDIM
      sampler at `sampler_steps` steps, minus those that look like the forget set.
    """

    kind: str = "bundled"
    folder: Path | None = None
    sample_count: int = DEFAULT_SAMPLE_COUNT
    sampler_steps: int = 25
    seed: int = 0

    def describe(self) -> str:
        if self.kind == "bundled":
            return "the bundled digits outside the forget classes"
        if self.kind == "folder":
            return f"the images in {self.folder}"
        return f"{self.sample_count:,} samples of the original model"

    def validate(self, bundled_available: bool) -> None:
        """Raise a UserError, naming what to choose instead, when this source cannot work."""
        if self.kind not in RETAIN_KINDS:
            raise UserError(f"unknown retain source {self.kind!r}. Choose one of {', '.join(RETAIN_KINDS)}")
        if self.kind == "bundled" and not bundled_available:
            raise UserError("this model's images do not match the bundled digits, so they cannot be its retain set. "
                            "Choose a folder of images or the original model's own samples as the retain set")
        if self.kind == "folder" and self.folder is None:
            raise UserError("no retain folder is chosen. Choose a folder of images that the model must keep generating")
        if self.kind == "folder" and not Path(self.folder).is_dir():
            raise UserError(f"the retain folder {self.folder} does not exist. Choose another folder")
        if self.kind == "samples" and (self.sample_count < 1 or self.sampler_steps < 1):
            raise UserError("the number of model samples and of sampler steps for the retain set must be at least 1")


def iter_retain_candidates(original: ScoreModel, source: RetainSource, forget_classes: list[int],
                           control: JobControl | None = None) -> Iterator:
    """Read or sample the retain images before any forget judge filters them. Finishes with a tensor (N, C, H, W).

    Bundled digits leave out `forget_classes`. Folder images that cannot be read are named in a
    warning Message and skipped, and a folder without any readable image raises a UserError. Model
    samples report their sampling as Progress events.
    """
    if source.kind == "bundled":
        images, _ = bundled_tensors(exclude=forget_classes)
        yield Finished(result=images)
        return

    if source.kind == "folder":
        loaded = require_images([source.folder], original.image, "retain")
        if loaded.failures:
            listed = ", ".join(f"{path.name} ({reason})" for path, reason in loaded.failures[:5])
            more = f" and {len(loaded.failures) - 5} more" if len(loaded.failures) > 5 else ""
            yield Message(f"{len(loaded.failures)} file(s) in the retain folder were skipped: {listed}{more}", "warning")
        yield Message(f"read {len(loaded.images):,} retain images from {source.folder}")
        if len(loaded.images) < SMALL_RETAIN_SET:
            yield Message(f"the retain folder has only {len(loaded.images):,} images: the model will keep little "
                          f"besides them. Use a folder of at least {SMALL_RETAIN_SET} images of what it should "
                          "still generate, or the bundled digits or the model's own samples.", "warning")
        yield Finished(result=loaded.images)
        return

    yield Message(f"sampling {source.sample_count:,} images of the original model for the retain set")
    config = SamplerConfig(sampler="ddim", steps=source.sampler_steps, eta=1.0)
    for event in iter_sample(original, source.sample_count, source.seed, config, control):
        if isinstance(event, Finished):
            yield Finished(result=event.result.cpu())
            return
        if isinstance(event, Progress):
            yield event
