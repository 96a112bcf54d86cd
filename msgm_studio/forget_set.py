"""The forget set being assembled in the studio: bundled classes, image files, drawings and picked samples. No Qt."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from engine.data import MNIST_CLASSES, bundled_mnist, bundled_tensors, model_to_uint8
from engine.score_model import ImageSpec

# Below this many images (and with no bundled class) the panel warns that the forget set is small.
MIN_IMAGES = 5

KINDS = ("file", "drawing", "picked")
_KIND_NAMES = {"file": ("image file", "image files"), "drawing": ("drawing", "drawings"),
               "picked": ("picked sample", "picked samples")}


@dataclass(eq=False)
class ForgetImage:
    """One image of the forget set, already in the model's shape (C, H, W) and in [-1, 1].

    `kind` is "file", "drawing" or "picked". `origin` is the file path or a description of where the
    image came from. `pixels_key` is a digest of the 8-bit pixels, so two images that look the same
    after conversion have the same key.
    """

    image: torch.Tensor
    kind: str
    origin: str
    pixels_key: bytes


def pixels_key(image: torch.Tensor) -> bytes:
    """Digest of an image's 8-bit pixels, the level at which the studio shows and saves images."""
    return hashlib.sha1(model_to_uint8(image[None]).tobytes()).digest()


def drawing_to_model(drawing: np.ndarray, spec: ImageSpec) -> torch.Tensor:
    """Convert a drawing, float (H, W) in [0, 1] with 1 where painted, to one model image (1, C, H, W).

    Strokes take the colour opposite the model's background: white strokes on black for the bundled
    digits (painted 1 -> +1, unpainted 0 -> -1), black strokes on white for white-background models.
    """
    if drawing.shape != (spec.size, spec.size):
        raise ValueError(f"a drawing of shape {drawing.shape} does not fit the model's {spec.size}x{spec.size} images")
    painted = torch.from_numpy(np.clip(drawing, 0.0, 1.0).astype(np.float32))
    values = 1.0 - 2.0 * painted if spec.background == "white" else 2.0 * painted - 1.0
    return values.expand(1, spec.channels, spec.size, spec.size).clone()


@dataclass(frozen=True)
class ForgetSetState:
    """The content of a forget set at one moment, which an undo step restores."""

    classes: tuple[int, ...]
    images: tuple[ForgetImage, ...]


@dataclass
class AddOutcome:
    """Result of adding images: the number added and the number skipped as duplicates."""

    added: int
    duplicates: int


@dataclass
class ForgetSet:
    """Images of the content that the moderated model must stop generating.

    `classes` are indices into `class_names`, the bundled data's class list. The other images keep
    the order in which they were added.
    """

    class_names: list[str] = field(default_factory=list)
    classes: list[int] = field(default_factory=list)
    entries: list[ForgetImage] = field(default_factory=list)

    @property
    def image_count(self) -> int:
        """Number of images outside the bundled classes."""
        return len(self.entries)

    @property
    def file_paths(self) -> list[Path]:
        return [Path(entry.origin) for entry in self.entries if entry.kind == "file"]

    @property
    def file_count(self) -> int:
        return len(self.file_paths)

    @property
    def file_images(self) -> torch.Tensor | None:
        """Images read from files (N, C, H, W), or None when there are none."""
        images = [entry.image for entry in self.entries if entry.kind == "file"]
        return torch.stack(images) if images else None

    def is_empty(self) -> bool:
        return not self.classes and not self.entries

    def has_only_classes(self) -> bool:
        return bool(self.classes) and not self.entries

    def is_small(self) -> bool:
        """True when the forget set has a few images and no class, too few to stand for a concept by themselves."""
        return not self.classes and 0 < len(self.entries) < MIN_IMAGES

    def set_classes(self, classes: list[int]) -> None:
        self.classes = sorted(set(classes))

    def add_images(self, images: torch.Tensor, kind: str, origins: list[str]) -> AddOutcome:
        """Append images (N, C, H, W) in [-1, 1], skipping any whose pixels equal an image already in the set."""
        if kind not in KINDS:
            raise ValueError(f"unknown forget image kind {kind!r}. Expected one of {', '.join(KINDS)}")
        if len(images) != len(origins):
            raise ValueError(f"got {len(images)} images but {len(origins)} origins")
        known = {entry.pixels_key for entry in self.entries}
        added = 0
        for image, origin in zip(images, origins):
            key = pixels_key(image)
            if key in known:
                continue
            known.add(key)
            self.entries.append(ForgetImage(image=image.detach().clone(), kind=kind, origin=str(origin), pixels_key=key))
            added += 1
        return AddOutcome(added=added, duplicates=len(images) - added)

    def add_files(self, images: torch.Tensor, paths: list[Path]) -> AddOutcome:
        return self.add_images(images, "file", [str(path) for path in paths])

    def remove_images(self, indices: list[int]) -> None:
        """Remove the images at `indices` (positions in `entries`)."""
        dropped = set(indices)
        self.entries = [entry for index, entry in enumerate(self.entries) if index not in dropped]

    def clear(self) -> None:
        self.classes = []
        self.entries = []

    def state(self) -> ForgetSetState:
        return ForgetSetState(classes=tuple(self.classes), images=tuple(self.entries))

    def restore(self, state: ForgetSetState) -> None:
        self.classes = list(state.classes)
        self.entries = list(state.images)

    def counts(self) -> dict[str, int]:
        """Number of images of each kind, for kinds that occur."""
        counts: dict[str, int] = {}
        for entry in self.entries:
            counts[entry.kind] = counts.get(entry.kind, 0) + 1
        return counts

    def summary(self) -> str:
        """Describe the forget set in a few words, for the user and for the checkpoint's moderation history."""
        parts = []
        if self.classes:
            names = ", ".join(self.class_names[index] for index in self.classes)
            parts.append(f"bundled class{'es' if len(self.classes) > 1 else ''} {names}")
        for kind, count in self.counts().items():
            singular, plural = _KIND_NAMES[kind]
            parts.append(f"{count} {singular if count == 1 else plural}")
        if not parts:
            return "empty"
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]

    def snapshot(self) -> ForgetSet:
        """Return a copy for a job on the worker thread, so that later edits in the window do not change it."""
        return ForgetSet(class_names=list(self.class_names), classes=list(self.classes), entries=list(self.entries))

    def images(self) -> torch.Tensor:
        """Concatenate all forget images into one tensor. It reads the bundled data, so call it on the worker thread."""
        parts = []
        if self.classes:
            parts.append(bundled_tensors(classes=self.classes)[0])
        if self.entries:
            parts.append(torch.stack([entry.image for entry in self.entries]))
        return torch.cat(parts) if parts else torch.empty(0)


@dataclass
class ClassExamples:
    """A few images of one bundled class as uint8 (K, H, W, C), and how many images the class has."""

    examples: np.ndarray
    count: int


@functools.lru_cache(maxsize=4)
def bundled_class_examples(per_class: int = 4) -> tuple[ClassExamples, ...]:
    """The first `per_class` bundled images of every class, for the panel's class entries.

    Reading the bundled data takes seconds, so the studio calls this once on the job engine when it
    opens a model (`tasks.open_model`). The panel then gets the cached result.
    """
    images, labels = bundled_mnist()
    examples = []
    for index in range(len(MNIST_CLASSES)):
        members = images[labels == index]
        examples.append(ClassExamples(examples=members[:per_class, :, :, None], count=len(members)))
    return tuple(examples)
