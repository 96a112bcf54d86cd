"""The forget set being assembled in the studio: classes of the bundled data plus image files. No Qt."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from engine.data import bundled_tensors


@dataclass
class ForgetSet:
    """Images of the content that the moderated model must stop generating.

    `classes` are indices into `class_names`, the bundled data's class list. File images are already
    converted to the model's shape, in [-1, 1].
    """

    class_names: list[str] = field(default_factory=list)
    classes: list[int] = field(default_factory=list)
    file_images: torch.Tensor | None = None  # (N, C, H, W)
    file_paths: list[Path] = field(default_factory=list)

    @property
    def file_count(self) -> int:
        return len(self.file_paths)

    def is_empty(self) -> bool:
        return not self.classes and self.file_count == 0

    def set_classes(self, classes: list[int]) -> None:
        self.classes = sorted(set(classes))

    def add_files(self, images: torch.Tensor, paths: list[Path]) -> None:
        if len(paths) == 0:
            return
        self.file_images = images if self.file_images is None else torch.cat([self.file_images, images])
        self.file_paths = self.file_paths + list(paths)

    def remove_files(self, indices: list[int]) -> None:
        keep = [index for index in range(self.file_count) if index not in set(indices)]
        if not keep:
            self.clear_files()
            return
        self.file_images = self.file_images[keep]
        self.file_paths = [self.file_paths[index] for index in keep]

    def clear_files(self) -> None:
        self.file_images = None
        self.file_paths = []

    def summary(self) -> str:
        """Describe the forget set in a few words, for the user and for the checkpoint's moderation history."""
        parts = []
        if self.classes:
            names = ", ".join(self.class_names[index] for index in self.classes)
            parts.append(f"bundled class{'es' if len(self.classes) > 1 else ''} {names}")
        if self.file_count:
            parts.append(f"{self.file_count} image file{'s' if self.file_count > 1 else ''}")
        return " and ".join(parts) if parts else "empty"

    def snapshot(self) -> ForgetSet:
        """Return a copy for a job on the worker thread, so that later edits in the window do not change it."""
        return replace(self, class_names=list(self.class_names), classes=list(self.classes), file_paths=list(self.file_paths))

    def images(self) -> torch.Tensor:
        """Concatenate all forget images into one tensor. It reads the bundled data, so call it on the worker thread."""
        parts = []
        if self.classes:
            parts.append(bundled_tensors(classes=self.classes)[0])
        if self.file_images is not None:
            parts.append(self.file_images)
        return torch.cat(parts) if parts else torch.empty(0)
